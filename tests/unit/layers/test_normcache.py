"""The normalisation cache: the same bytes as without it, each layer normalised once, and
nothing in it trusted without being checked."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from repro.errors import ConfigError
from repro.layers.normcache import NormalizeCache, private_directory
from repro.layers.tarcanon import write_layer
from repro.oci.layout import ImageLayout
from tests.unit.layers.test_normalize import app_layer, base_layer, build_layout, normalize


def _result_json(dest: Path, cache: NormalizeCache | None, src: ImageLayout, **kwargs: Any) -> dict[str, Any]:
    return normalize(src, dest, cache=cache, **kwargs).to_json()


def _count_writes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that grows by one for every layer the normaliser actually rewrites."""
    calls: list[int] = []
    real = write_layer

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr("repro.layers.normalize.write_layer", counting)
    return calls


def _blob_files(layout: Path) -> dict[str, bytes]:
    return {
        p.name: p.read_bytes() for p in (layout / "blobs" / "sha256").iterdir() if not p.name.startswith(".")
    }


@pytest.mark.parametrize("scrub", [(), ("auto",), ("apt", "dpkg-log")])
def test_a_cached_layer_is_the_same_bytes_and_is_not_normalised_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scrub: tuple[str, ...]
) -> None:
    src = build_layout(tmp_path / "src", [base_layer(), app_layer()])
    plain = _result_json(tmp_path / "plain", None, src, scrub=scrub)
    cache = NormalizeCache.open(tmp_path / "cache")
    writes = _count_writes(monkeypatch)
    first = _result_json(tmp_path / "first", cache, src, scrub=scrub)
    assert len(writes) == 2
    second = _result_json(tmp_path / "second", cache, src, scrub=scrub)
    assert len(writes) == 2  # both layers came from the cache
    assert plain == first == second
    assert (
        _blob_files(tmp_path / "plain") == _blob_files(tmp_path / "first") == _blob_files(tmp_path / "second")
    )


def test_a_shared_base_layer_is_reused_by_another_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = NormalizeCache.open(tmp_path / "cache")
    writes = _count_writes(monkeypatch)
    normalize(
        build_layout(tmp_path / "a", [base_layer(), app_layer("12:00:01")]), tmp_path / "out-a", cache=cache
    )
    normalize(
        build_layout(tmp_path / "b", [base_layer(), app_layer("12:00:02")]), tmp_path / "out-b", cache=cache
    )
    assert len(writes) == 3  # the base layer once, each app layer once


@pytest.mark.parametrize(
    "change",
    [{"source_date_epoch": 1_700_000_001}, {"level": 1}, {"scrub": ["apt"]}],
    ids=["epoch", "level", "scrub"],
)
def test_what_changes_the_output_is_in_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: dict[str, Any]
) -> None:
    src = build_layout(tmp_path / "src", [base_layer(), app_layer()])
    cache = NormalizeCache.open(tmp_path / "cache")
    normalize(src, tmp_path / "first", cache=cache)
    writes = _count_writes(monkeypatch)
    changed = _result_json(tmp_path / "changed", cache, src, **change)
    assert changed == _result_json(tmp_path / "plain", None, src, **change)
    assert len(writes) >= 1


def test_a_new_normaliser_is_a_new_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = build_layout(tmp_path / "src", [base_layer()])
    normalize(src, tmp_path / "first", cache=NormalizeCache.open(tmp_path / "cache"))
    monkeypatch.setattr("repro.layers.normcache.__version__", "99.0")
    writes = _count_writes(monkeypatch)
    normalize(src, tmp_path / "second", cache=NormalizeCache.open(tmp_path / "cache"))
    assert len(writes) == 1


def _entries(cache: Path) -> list[Path]:
    return sorted((cache / "entries").glob("*.json"))


def _cached_blob(cache: Path) -> Path:
    entry = json.loads(_entries(cache)[0].read_bytes())
    return cache / "blobs" / "sha256" / str(entry["layer"]["digest"]).split(":")[1]


def test_a_tampered_blob_is_refused_and_the_layer_normalised_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    src = build_layout(tmp_path / "src", [base_layer()])
    expected = _result_json(tmp_path / "plain", None, src)
    cache = NormalizeCache.open(tmp_path / "cache")
    normalize(src, tmp_path / "first", cache=cache)
    blob = _cached_blob(tmp_path / "cache")
    data = bytearray(blob.read_bytes())
    data[4] ^= 0xFF  # gzip's MTIME field: still a valid gzip of the same tar, another digest
    blob.unlink()  # a hard link to the first output: replace, do not edit in place
    blob.write_bytes(bytes(data))
    writes = _count_writes(monkeypatch)
    assert _result_json(tmp_path / "second", cache, src) == expected
    assert len(writes) == 1
    assert "does not match its digest" in caplog.text
    assert _blob_files(tmp_path / "second") == _blob_files(tmp_path / "plain")


def test_an_entry_whose_blob_is_not_what_it_says_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A forged entry: the right blob, a wrong diff ID (the image config would then name a
    # layer that is not there). The blob is decompressed and hashed again on every reuse.
    src = build_layout(tmp_path / "src", [base_layer()])
    expected = _result_json(tmp_path / "plain", None, src)
    cache = NormalizeCache.open(tmp_path / "cache")
    normalize(src, tmp_path / "first", cache=cache)
    entry_path = _entries(tmp_path / "cache")[0]
    entry = json.loads(entry_path.read_bytes())
    entry["layer"]["diffID"] = "sha256:" + "0" * 64
    entry_path.write_text(json.dumps(entry))
    writes = _count_writes(monkeypatch)
    assert _result_json(tmp_path / "second", cache, src) == expected
    assert len(writes) == 1
    assert "does not decompress to the recorded diff ID" in caplog.text


def test_an_entry_for_another_key_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = build_layout(tmp_path / "src", [base_layer(), app_layer()])
    expected = _result_json(tmp_path / "plain", None, src)
    cache = NormalizeCache.open(tmp_path / "cache")
    normalize(src, tmp_path / "first", cache=cache)
    first, second = _entries(tmp_path / "cache")
    first_bytes = first.read_bytes()
    first.write_bytes(second.read_bytes())  # each file now holds the other's entry
    second.write_bytes(first_bytes)
    writes = _count_writes(monkeypatch)
    assert _result_json(tmp_path / "second", cache, src) == expected
    assert len(writes) == 2


@pytest.mark.parametrize("garbage", [b"", b"{", b"[]", b'{"key": 1}'])
def test_a_broken_entry_is_a_miss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, garbage: bytes) -> None:
    src = build_layout(tmp_path / "src", [base_layer()])
    cache = NormalizeCache.open(tmp_path / "cache")
    normalize(src, tmp_path / "first", cache=cache)
    _entries(tmp_path / "cache")[0].write_bytes(garbage)
    expected = _result_json(tmp_path / "plain", None, src)
    writes = _count_writes(monkeypatch)
    assert _result_json(tmp_path / "second", cache, src) == expected
    assert len(writes) == 1


def test_concurrent_builds_normalise_a_shared_layer_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = build_layout(tmp_path / "src", [base_layer(), app_layer()])
    writes = _count_writes(monkeypatch)
    results: dict[str, dict[str, Any]] = {}

    def build(name: str) -> None:
        results[name] = _result_json(tmp_path / name, NormalizeCache.open(tmp_path / "cache"), src)

    threads = [threading.Thread(target=build, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results["a"] == results["b"]
    assert len(writes) == 2


def test_the_cache_is_pruned_least_recently_used_first(tmp_path: Path) -> None:
    cache = NormalizeCache.open(tmp_path / "cache", max_bytes=1)
    src = build_layout(tmp_path / "src", [base_layer()])
    normalize(src, tmp_path / "first", cache=cache)
    assert _entries(tmp_path / "cache") == []  # over the bound at once: pruned
    roomy = NormalizeCache.open(tmp_path / "cache", max_bytes=10**9)
    for index in range(3):
        normalize(src, tmp_path / f"out{index}", cache=roomy, source_date_epoch=index)
    entries = _entries(tmp_path / "cache")
    assert len(entries) == 3
    oldest = entries[0]
    for age, entry in enumerate(entries):
        os.utime(entry, (1000 + age, 1000 + age))
    blob_sizes = sum(p.stat().st_size for p in (tmp_path / "cache" / "blobs" / "sha256").iterdir())
    NormalizeCache.open(tmp_path / "cache", max_bytes=blob_sizes - 1).prune()
    left = _entries(tmp_path / "cache")
    assert oldest not in left
    assert 0 < len(left) < 3
    named = {json.loads(p.read_bytes())["layer"]["digest"].split(":")[1] for p in left}
    assert {p.name for p in (tmp_path / "cache" / "blobs" / "sha256").iterdir()} == named


def test_a_cache_others_may_write_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(ConfigError, match="may be written by others"):
        NormalizeCache.open(shared)
    shared.chmod(0o755)
    assert private_directory(shared) == shared
    fresh = private_directory(tmp_path / "new" / "cache")
    assert fresh.stat().st_mode & 0o777 == 0o700


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a directory away")
def test_a_cache_another_user_owns_is_refused(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, 12345, 12345)
    with pytest.raises(ConfigError, match="belongs to another user"):
        NormalizeCache.open(theirs)


def test_the_cache_is_an_oci_layout_of_blobs(tmp_path: Path) -> None:
    cache = NormalizeCache.open(tmp_path / "cache")
    normalize(build_layout(tmp_path / "src", [base_layer()]), tmp_path / "out", cache=cache)
    assert ImageLayout.open(tmp_path / "cache").index().manifests == ()
