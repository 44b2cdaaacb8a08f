"""Known causes of non-reproducibility: recognised paths and patterns, with the line to fix."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from repro.dockerfile import parse
from repro.reproduce.culprits import Culprit, explain
from repro.reproduce.diff import ConfigChange, EntryDiff, EntryState, LayerDiff, diff_images
from repro.reproduce.history import LayerOrigin
from tests.unit.reproduce.test_diff import BASE, BASE_HISTORY, Entry, build_image, make_tar

SEED_DOCKERFILE = b"""\
FROM debian:12
RUN apt-get update && apt-get install -y curl
"""
SEED_PATHS = (
    "var/cache/apt/pkgcache.bin",
    "var/cache/apt/srcpkgcache.bin",
    "var/cache/ldconfig/aux-cache",
    "var/log/apt/history.log",
    "var/log/apt/term.log",
    "var/log/dpkg.log",
)
RUN_HISTORY: list[dict[str, Any]] = [
    *BASE_HISTORY,
    {"created_by": "/bin/sh -c apt-get update && apt-get install -y curl"},
]


def _two_builds(
    tmp_path: Path,
    files_a: Sequence[Entry],
    files_b: Sequence[Entry],
    history: list[dict[str, Any]] | None = None,
) -> tuple[Any, Any]:
    a = build_image(tmp_path / "a", [BASE, make_tar(files_a)], history or RUN_HISTORY)
    b = build_image(tmp_path / "b", [BASE, make_tar(files_b)], history or RUN_HISTORY)
    return a, b


def _by_culprit(findings: Sequence[Culprit]) -> dict[str, Culprit]:
    return {finding.culprit: finding for finding in findings}


def test_the_seed_example_names_every_path_and_the_run_line(tmp_path: Path) -> None:
    a, b = _two_builds(
        tmp_path,
        [Entry("usr/bin/curl", b"ELF"), *(Entry(p, b"build one " + p.encode()) for p in SEED_PATHS)],
        [Entry("usr/bin/curl", b"ELF"), *(Entry(p, b"build two " + p.encode()) for p in SEED_PATHS)],
    )
    diff = diff_images(a, b, dockerfile=parse(SEED_DOCKERFILE))
    assert diff.first_differing_layer == 1
    found = _by_culprit(diff.findings)
    assert list(found) == ["dpkg-log", "apt", "ldconfig"]
    assert found["apt"].paths == ("var/cache/apt/pkgcache.bin", "var/cache/apt/srcpkgcache.bin")
    assert found["ldconfig"].paths == ("var/cache/ldconfig/aux-cache",)
    assert found["dpkg-log"].paths == ("var/log/apt/history.log", "var/log/apt/term.log", "var/log/dpkg.log")
    covered = {path for finding in diff.findings for path in finding.paths}
    assert covered == set(SEED_PATHS)
    for finding in diff.findings:
        assert finding.location == "Dockerfile:2"
        assert finding.layer == 1
        assert finding.what == "content"
        assert "written by RUN at Dockerfile:2" in finding.summary()
        assert f"use --scrub {finding.culprit}" in finding.fix
    assert found["apt"].fix == (
        "use --scrub apt, or rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin in the same RUN"
    )
    assert (
        found["ldconfig"].fix
        == "use --scrub ldconfig, or rm -f /var/cache/ldconfig/aux-cache in the same RUN"
    )
    assert found["dpkg-log"].fix == "use --scrub dpkg-log, or rm them in the same RUN"


@pytest.mark.parametrize(
    ("path", "culprit"),
    [
        ("var/cache/apt/pkgcache.bin", "apt"),
        ("var/cache/apt/srcpkgcache.bin", "apt"),
        ("var/cache/ldconfig/aux-cache", "ldconfig"),
        ("var/log/apt/history.log", "dpkg-log"),
        ("var/log/apt/term.log", "dpkg-log"),
        ("var/log/dpkg.log", "dpkg-log"),
    ],
)
def test_each_seed_path_alone(tmp_path: Path, path: str, culprit: str) -> None:
    a, b = _two_builds(tmp_path, [Entry(path, b"1")], [Entry(path, b"2")])
    (finding,) = diff_images(a, b, dockerfile=parse(SEED_DOCKERFILE)).findings
    assert (finding.culprit, finding.path, finding.location) == (culprit, path, "Dockerfile:2")
    assert finding.summary().startswith(f"{path} written by RUN at Dockerfile:2 — ")


def test_the_example_wording(tmp_path: Path) -> None:
    a, b = _two_builds(tmp_path, [Entry("var/log/dpkg.log", b"1")], [Entry("var/log/dpkg.log", b"2")])
    (finding,) = diff_images(a, b, dockerfile=parse(SEED_DOCKERFILE)).findings
    assert finding.summary() == (
        "var/log/dpkg.log written by RUN at Dockerfile:2 — dpkg and apt log every run with the time; "
        "use --scrub dpkg-log, or rm it in the same RUN"
    )


def test_a_file_holding_the_build_time(tmp_path: Path) -> None:
    dockerfile = parse(b"FROM busybox:1.36\nWORKDIR /\nRUN date > /built-at\n")
    history = [*BASE_HISTORY, {"created_by": "/bin/sh -c date > /built-at"}]
    a, b = _two_builds(
        tmp_path,
        [Entry("built-at", b"Thu Nov 26 09:14:03 UTC 2026\n")],
        [Entry("built-at", b"Thu Nov 26 09:14:41 UTC 2026\n")],
        history,
    )
    (finding,) = diff_images(a, b, dockerfile=dockerfile).findings
    assert finding.culprit == "build-time"
    assert finding.path == "built-at"
    assert finding.location == "Dockerfile:3"
    assert finding.cause == "the command writes the build time"
    assert "$SOURCE_DATE_EPOCH" in finding.fix
    assert finding.summary().startswith(
        "built-at written by RUN at Dockerfile:3 — the command writes the build time"
    )


@pytest.mark.parametrize(
    "content",
    [
        b"2026-11-26T09:14:03Z",
        b"1795000000\n",
        b"built 09:14:03 on 26 Nov 2026\n",
        b"Thu, 26 Nov 2026 09:14:03",
    ],
)
def test_timestamp_shapes(content: bytes) -> None:
    other = content.replace(b"2026", b"2027").replace(b"1795", b"1796")
    (finding,) = explain([_layer(_content("stamp", content, other))], [], (1, 1))
    assert finding.culprit == "build-time"


def test_long_or_binary_content_is_not_a_timestamp() -> None:
    long_text = b"2026-11-26T09:14:03Z " * 30
    binary = b"\x00\x01 2026-11-26T09:14:03Z"
    for content in (long_text, binary):
        (finding,) = explain([_layer(_content("blob", content, content + b"!"))], [], (1, 1))
        assert finding.culprit == "content"
        assert "diffoscope" in finding.fix


# --- unit level: crafted differences ----------------------------------------------------

RUN_ORIGIN = LayerOrigin(
    layer=1,
    created_by="/bin/sh -c make",
    source="instruction",
    instruction=parse(b"FROM scratch\nRUN make\n").instructions[1],
    filename="Dockerfile",
)
COPY_ORIGIN = LayerOrigin(
    layer=1,
    created_by="/bin/sh -c #(nop) COPY dir:1 in /src ",
    source="instruction",
    instruction=parse(b"FROM scratch\nCOPY . /src\n").instructions[1],
    filename="Dockerfile",
)


def _state(path: str, data: bytes = b"x", **fields: Any) -> EntryState:
    values: dict[str, Any] = {
        "type": "file",
        "mode": 0o644,
        "uid": 0,
        "gid": 0,
        "uname": "",
        "gname": "",
        "mtime": 0.0,
        "size": len(data),
        "sha256": str(hash(data)),
        "sample": data if len(data) <= 512 else None,
    }
    values.update(fields)
    return EntryState(path=path, **values)


def _content(path: str, a: bytes = b"a", b: bytes = b"b") -> EntryDiff:
    return EntryDiff(path, _state(path, a), _state(path, b), ("content",))


def _layer(*entries: EntryDiff, origin: LayerOrigin | None = RUN_ORIGIN, index: int = 1) -> LayerDiff:
    return LayerDiff(index, "content", None, None, origin, tuple(entries))


@pytest.mark.parametrize(
    ("path", "culprit", "fix_part"),
    [
        ("usr/lib/python3/dist-packages/x/__pycache__/y.cpython-311.pyc", "pycache", "--scrub pycache"),
        ("usr/lib/python3/__pycache__/z.pyc", "pycache", "PYTHONDONTWRITEBYTECODE=1"),
        ("app/__pycache__/z.pyc", "pycache", "--invalidation-mode unchecked-hash"),
        ("root/.npm/_cacache/index-v5/aa/bb", "npm-cache", "--scrub npm-cache"),
        ("home/node/.npm/_logs/2026-debug-0.log", "npm-cache", "npm cache clean --force"),
        ("root/.cache/pip/http/a/b", "pip-cache", "--no-cache-dir"),
        ("etc/machine-id", "machine-id", "rm it in the same RUN"),
        ("var/lib/dbus/machine-id", "machine-id", "in the same RUN"),
        ("etc/ssh/ssh_host_ed25519_key", "ssh-host-keys", "rm -f /etc/ssh/ssh_host_*"),
        ("var/lib/systemd/random-seed", "random-seed", "rm it in the same RUN"),
        ("src/.git/index", "git", "delete the .git directory"),
        ("etc/shadow", "shadow", "SOURCE_DATE_EPOCH"),
        ("opt/app/lib/app.jar", "archive-times", "strip-nondeterminism"),
        (
            "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease",
            "apt-lists",
            "rm -rf /var/lib/apt/lists/*",
        ),
        ("var/log/nginx/access.log", "log", "rm it in the same RUN"),
        ("opt/app/data.bin", "content", "diffoscope"),
    ],
)
def test_known_paths(path: str, culprit: str, fix_part: str) -> None:
    (finding,) = explain([_layer(_content(path))], [], (2, 2))
    assert finding.culprit == culprit
    assert fix_part in finding.fix
    assert finding.location == "Dockerfile:2"
    assert finding.summary().startswith(f"{path} written by RUN at Dockerfile:2 — ")


def test_a_file_brought_in_by_copy_is_fixed_in_the_build_context() -> None:
    findings = explain(
        [_layer(_content("src/.git/index"), _content("src/x/__pycache__/m.pyc"), origin=COPY_ORIGIN)],
        [],
        (2, 2),
    )
    found = _by_culprit(findings)
    assert found["git"].summary() == (
        "src/.git/index added by COPY at Dockerfile:2 — a .git directory changes with every checkout and fetch; "
        "add .git to .dockerignore"
    )
    assert found["pycache"].fix == "use --scrub pycache, or keep it out of the build context (.dockerignore)"


def test_unknown_origin_still_gives_a_fix() -> None:
    origin = LayerOrigin(layer=3, created_by="/bin/sh -c apt-get install -y curl", source="unknown")
    (finding,) = explain([_layer(_content("var/log/dpkg.log"), origin=origin, index=3)], [], (4, 4))
    assert finding.location is None
    assert finding.summary() == (
        "var/log/dpkg.log in layer 3 (/bin/sh -c apt-get install -y curl) — dpkg and apt log every run with the "
        "time; use --scrub dpkg-log, or rm it in the RUN that writes it"
    )


def test_metadata_only_differences() -> None:
    mtime = EntryDiff("usr/bin/app", _state("usr/bin/app"), _state("usr/bin/app", mtime=5.0), ("mtime",))
    owner = EntryDiff("srv", _state("srv", uid=0, gid=0), _state("srv", uid=1000, gid=1000), ("owner",))
    mode = EntryDiff(
        "srv/run.sh", _state("srv/run.sh", mode=0o755), _state("srv/run.sh", mode=0o775), ("mode",)
    )
    pax = EntryDiff(
        "srv/x", _state("srv/x", pax=(("atime", "1"),)), _state("srv/x", pax=(("atime", "2"),)), ("pax",)
    )
    xattr = EntryDiff(
        "usr/bin/ping",
        _state("usr/bin/ping", xattrs=(("security.capability", "a"),)),
        _state("usr/bin/ping"),
        ("xattrs",),
    )
    found = _by_culprit(explain([_layer(mtime, owner, mode, pax, xattr, origin=COPY_ORIGIN)], [], (2, 2)))
    assert list(found) == ["mtime", "owner", "mode", "xattrs", "tar-times"]
    assert found["mtime"].cause == "the engine did not clamp file times"
    assert "--timestamp $SOURCE_DATE_EPOCH" in found["mtime"].fix
    assert found["mtime"].paths == ("usr/bin/app",)
    assert "uid/gid" in found["owner"].cause
    assert "--chown" in found["owner"].fix
    assert found["owner"].what == "owner"


def test_many_paths_are_grouped() -> None:
    entries = [
        EntryDiff(f"f{i:03}", _state(f"f{i:03}"), _state(f"f{i:03}", mtime=1.0), ("mtime",))
        for i in range(40)
    ]
    (finding,) = explain([_layer(*entries)], [], (2, 2))
    assert finding.count == 40
    assert len(finding.paths) == 20
    assert finding.summary().startswith("f000, f001, f002 (+37 more) written by RUN at Dockerfile:2")


def test_presence_and_the_run_directory() -> None:
    run_dir = EntryDiff("run", _state("run", type="dir"), None, ("presence",))
    extra = EntryDiff("tmp/x", None, _state("tmp/x"), ("presence",))
    found = _by_culprit(explain([_layer(run_dir, extra)], [], (2, 2)))
    assert "storage driver" in found["storage-driver"].cause
    assert found["presence"].paths == ("tmp/x",)


def test_layer_level_findings() -> None:
    base_origin = LayerOrigin(
        layer=0,
        created_by="/bin/sh -c #(nop) ADD file:1 in / ",
        source="base",
        instruction=parse(b"FROM debian:12\n").instructions[0],
        filename="Dockerfile",
    )
    layers = [
        LayerDiff(0, "content", None, None, base_origin, (_content("etc/debian_version"),)),
        LayerDiff(1, "compression", None, None, RUN_ORIGIN),
        LayerDiff(2, "content", None, None, RUN_ORIGIN, (), order_differs=True),
    ]
    findings = explain(layers, [], (3, 4))
    assert [f.culprit for f in findings] == ["layer-count", "base-image", "compression", "tar-format"]
    assert findings[1].summary() == (
        "layer 0 from the base image (FROM debian:12 at Dockerfile:1) — the two builds started from different "
        "base images; pin FROM by digest (repro pin) so both builds pull the same image"
    )
    assert findings[1].location == "Dockerfile:1"
    assert "entry order" in findings[3].cause


def test_config_findings() -> None:
    changes = [
        ConfigChange("created", "2024", "2025"),
        ConfigChange("history[2].created", "2024", "2025"),
        ConfigChange('config.Labels["io.buildah.version"]', "1.28.0", "1.33.0"),
        ConfigChange(
            'manifest.annotations["org.opencontainers.image.base.name"]', "debian:12", "debian@sha256:1"
        ),
        ConfigChange(
            "history[1].created_by", "/bin/sh -c #(nop) FROM debian:12", "/bin/sh -c #(nop) FROM debian@x"
        ),
        ConfigChange("config.Env.A", "1", "2"),
    ]
    found = _by_culprit(explain([], changes, (1, 1)))
    assert list(found) == ["created-time", "builder-version", "base-name", "history-text"]
    assert found["created-time"].paths == ("created", "history[2].created")
    assert "--timestamp" in found["created-time"].fix
    assert "--identity-label=false" in found["builder-version"].fix
    assert "pin it by digest" in found["base-name"].fix
    assert "by tag in one build and by digest in the other" in found["base-name"].cause
    assert found["created-time"].to_json()["location"] is None


BASE_NAME = 'manifest.annotations["org.opencontainers.image.base.name"]'
BASE_DIGEST = 'manifest.annotations["org.opencontainers.image.base.digest"]'


def test_a_base_digest_alone_is_blamed_on_the_engine_not_on_an_unpinned_base() -> None:
    changes = [ConfigChange(BASE_DIGEST, "sha256:" + "1" * 64, "sha256:" + "2" * 64)]
    (finding,) = explain([], changes, (1, 1))
    assert finding.culprit == "base-name"
    assert "both builds name the same base image" in finding.cause
    assert "pin" not in finding.fix
    assert "normalise" in finding.fix


def test_two_different_pins_are_not_told_to_pin() -> None:
    changes = [
        ConfigChange(BASE_NAME, "r/debian@sha256:" + "1" * 64, "r/debian@sha256:" + "2" * 64),
        ConfigChange(BASE_DIGEST, "sha256:" + "1" * 64, "sha256:" + "2" * 64),
    ]
    (finding,) = explain([], changes, (1, 1))
    assert finding.cause == "the two builds' FROM lines pin different base image digests"
    assert finding.paths == (BASE_NAME, BASE_DIGEST)
    assert "repro pin" not in finding.fix


def test_a_jar_copied_from_a_build_stage_is_fixed_in_that_stage_with_jar_date() -> None:
    dockerfile = parse(
        b"FROM jdk AS build\nRUN jar --create --file /app.jar .\nFROM scratch\nCOPY --from=build /app.jar /\n"
    )
    origin = LayerOrigin(
        layer=1,
        created_by="COPY",
        source="instruction",
        instruction=dockerfile.instructions[3],
        filename="Dockerfile",
    )
    (finding,) = explain([_layer(_content("app.jar"), origin=origin)], [], (2, 2))
    assert finding.culprit == "archive-times"
    assert "jar records every entry's file time" in finding.cause
    assert finding.fix.startswith(
        "pass --date=$(date -u -d @$SOURCE_DATE_EPOCH +%Y-%m-%dT%H:%M:%SZ) to 'jar'"
    )
    assert "in the RUN of stage build that writes it" in finding.fix
    assert ".dockerignore" not in finding.fix


@pytest.mark.parametrize(
    ("path", "culprit", "fix_part"),
    [
        ("etc/ssl/certs/java/cacerts", "java-cacerts", "base image built once"),
        ("root/.cache/go-build/trim.txt", "go-build-cache", "--mount=type=cache"),
        ("home/app/.cache/go-build/0a/0a1b-a", "go-build-cache", "go clean -cache"),
    ],
)
def test_toolchain_leftovers(path: str, culprit: str, fix_part: str) -> None:
    (finding,) = explain([_layer(_content(path, b"\x00\x01", b"\x00\x02"))], [], (2, 2))
    assert finding.culprit == culprit
    assert fix_part in finding.fix


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (b"ad69a66f18d9\n", b"3c0e0b2f91aa\n"),  # $(hostname) in buildah
        (b"built on ad69a66f18d9 by root\n", b"built on 3c0e0b2f91aa by root\n"),
        (
            b"127.0.0.1 localhost\n10.0.2.100 ad69a66f18d9\n",
            b"127.0.0.1 localhost\n10.0.2.100 3c0e0b2f91aa\n",
        ),
    ],
)
def test_the_build_containers_hostname(a: bytes, b: bytes) -> None:
    (finding,) = explain([_layer(_content("etc/built-on", a, b))], [], (2, 2))
    assert finding.culprit == "hostname"
    assert "container's id" in finding.cause
    assert finding.fix.startswith("write a fixed name instead of $(hostname) in the same RUN")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (b"ad69a66f18d9\n", b"ad69a66f18d9 \n"),  # the rest differs too
        (b"id ad69a66f18d9 at 1\n", b"id 3c0e0b2f91aa at 2\n"),
        (b"ad69a66f18d9", b"HOST"),  # only one side holds a container id
        (b"ad69a66f18d9ab\n", b"3c0e0b2f91aacd\n"),  # 14 hex digits: not a container id
    ],
)
def test_other_differences_are_not_blamed_on_the_hostname(a: bytes, b: bytes) -> None:
    (finding,) = explain([_layer(_content("etc/built-on", a, b))], [], (2, 2))
    assert finding.culprit != "hostname"
