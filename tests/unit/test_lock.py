"""repro.lock: canonical bytes, round trip, validation."""

from __future__ import annotations

import datetime
import json
import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from repro.digest import Digest
from repro.errors import EXIT_CONFIG
from repro.lock import LockEntry, Lockfile, LockfileError, read_lock, timestamp, write_lock

A = Digest("sha256", "a" * 64)
B = Digest("sha256", "b" * 64)
C = Digest("sha256", "c" * 64)

DEBIAN = LockEntry(
    name="docker.io/library/debian",
    tag="bookworm",
    digest=A,
    resolved_at="2026-11-28T07:30:00Z",
    media_type="application/vnd.oci.image.index.v1+json",
    platforms={"linux/arm64": C, "linux/amd64": B},
    files=("sub/Dockerfile", "Dockerfile", "Dockerfile"),
)
BUSYBOX = LockEntry(
    name="127.0.0.1:5000/busybox",
    tag=None,
    digest=B,
    resolved_at="2026-11-28T07:31:00Z",
    media_type="application/vnd.oci.image.manifest.v1+json",
    files=("Dockerfile",),
)

EXPECTED = f"""{{
  "images": {{
    "127.0.0.1:5000/busybox@{B}": {{
      "digest": "{B}",
      "files": [
        "Dockerfile"
      ],
      "media_type": "application/vnd.oci.image.manifest.v1+json",
      "platforms": {{}},
      "resolved_at": "2026-11-28T07:31:00Z",
      "tag": null
    }},
    "docker.io/library/debian:bookworm": {{
      "digest": "{A}",
      "files": [
        "Dockerfile",
        "sub/Dockerfile"
      ],
      "media_type": "application/vnd.oci.image.index.v1+json",
      "platforms": {{
        "linux/amd64": "{B}",
        "linux/arm64": "{C}"
      }},
      "resolved_at": "2026-11-28T07:30:00Z",
      "tag": "bookworm"
    }}
  }},
  "version": 1
}}
"""


def test_known_answer_bytes() -> None:
    assert Lockfile.of([DEBIAN, BUSYBOX]).dumps().decode() == EXPECTED


def test_round_trip() -> None:
    lock = Lockfile.of([DEBIAN, BUSYBOX])
    again = Lockfile.loads(lock.dumps())
    assert again == lock
    assert again.dumps() == lock.dumps()
    entry = again.get("docker.io/library/debian:bookworm")
    assert entry is not None
    assert entry.platform_of(C) == "linux/arm64"
    assert entry.platform_of(A) is None


_names = st.from_regex(r"[a-z]{1,8}(/[a-z]{1,8})?", fullmatch=True)
_digests = st.text("0123456789abcdef", min_size=64, max_size=64).map(lambda h: Digest("sha256", h))
_entries = st.builds(
    LockEntry,
    name=_names.map(lambda n: f"docker.io/{n}"),
    tag=st.one_of(st.none(), st.from_regex(r"[a-z0-9][a-z0-9.-]{0,10}", fullmatch=True)),
    digest=_digests,
    resolved_at=st.just("2026-01-01T00:00:00Z"),
    media_type=st.just("application/vnd.oci.image.index.v1+json"),
    platforms=st.dictionaries(st.sampled_from(["linux/amd64", "linux/arm64", "linux/s390x"]), _digests),
    files=st.lists(st.from_regex(r"[a-z]{1,5}/Dockerfile", fullmatch=True), max_size=4).map(tuple),
)


@given(st.lists(_entries, max_size=8), st.randoms())
def test_bytes_do_not_depend_on_order(entries: list[LockEntry], rnd: random.Random) -> None:
    unique = list({e.key: e for e in entries}.values())
    shuffled = list(unique)
    rnd.shuffle(shuffled)
    assert Lockfile.of(unique).dumps() == Lockfile.of(shuffled).dumps()
    assert Lockfile.loads(Lockfile.of(unique).dumps()) == Lockfile.of(unique)


def test_is_sorted_two_space_json() -> None:
    data = Lockfile.of([DEBIAN, BUSYBOX]).dumps()
    obj = json.loads(data)
    assert data == (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()


def test_write_skips_identical_content(tmp_path: Path) -> None:
    path = tmp_path / "repro.lock"
    lock = Lockfile.of([DEBIAN])
    assert write_lock(path, lock) is True
    mtime = path.stat().st_mtime_ns
    assert write_lock(path, lock) is False
    assert path.stat().st_mtime_ns == mtime
    assert read_lock(path) == lock
    assert read_lock(tmp_path / "missing.lock") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not valid JSON"),
        ("[]", "expected a JSON object"),
        ('{"version": 2, "images": {}}', "version 2 is not supported"),
        ('{"version": 1, "images": []}', "'images' must be an object"),
        ('{"version": 1, "images": {"docker.io/x:1": {"digest": "md5:00"}}}', "docker.io/x:1"),
        (
            '{"version": 1, "images": {"docker.io/x:1": {"digest": "sha256:' + "a" * 64 + '", "tag": "2",'
            ' "resolved_at": "t"}}}',
            "does not match",
        ),
    ],
)
def test_invalid_lock_files(text: str, message: str) -> None:
    with pytest.raises(LockfileError, match=message) as info:
        Lockfile.loads(text.encode(), where="repro.lock")
    assert info.value.exit_code == EXIT_CONFIG
    assert "repro.lock" in str(info.value)


def test_timestamp_is_utc_seconds() -> None:
    moment = datetime.datetime(
        2026, 11, 28, 8, 30, 5, 999, tzinfo=datetime.timezone(datetime.timedelta(hours=1))
    )
    assert timestamp(moment) == "2026-11-28T07:30:05Z"
