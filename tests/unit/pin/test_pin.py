"""pin_paths: known-answer files, skips, platforms, failures, lock file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from repro.errors import (
    EXIT_DOCKERFILE,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_REGISTRY,
    DockerfileError,
    PlatformNotFoundError,
    RegistryError,
)
from repro.lock import read_lock
from repro.pin import Action, FindingKind, pin_paths
from repro.pin.render import failures_human, pin_diff
from repro.platform import parse_platforms
from tests.unit.pin.helpers import NOW, TableResolver, fake_digest

VECTORS = Path(__file__).parent / "vectors"
NAMES = sorted(p.stem for p in VECTORS.glob("*.in"))

DEBIAN = fake_digest("docker.io/library/debian:bookworm")
BUSYBOX = fake_digest("docker.io/library/busybox:1.36")


def _dockerfile(tmp_path: Path, text: bytes | str, name: str = "Dockerfile") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def test_there_are_vectors() -> None:
    assert len(NAMES) >= 11


@pytest.mark.parametrize("name", NAMES)
def test_known_answer(tmp_path: Path, name: str) -> None:
    path = tmp_path / "Dockerfile"
    shutil.copyfile(VECTORS / f"{name}.in", path)
    resolver = TableResolver()
    pin_paths([path], client=resolver, now=lambda: NOW)
    assert path.read_bytes() == (VECTORS / f"{name}.out").read_bytes()

    # Pinning again changes nothing, asks the registry nothing, and keeps the lock.
    lock_before = (tmp_path / "repro.lock").read_bytes() if (tmp_path / "repro.lock").exists() else None
    again = TableResolver()
    report = pin_paths([path], client=again, now=lambda: NOW.replace(year=2030))
    assert not report.changes
    assert path.read_bytes() == (VECTORS / f"{name}.out").read_bytes()
    assert again.calls == []
    lock_after = (tmp_path / "repro.lock").read_bytes() if (tmp_path / "repro.lock").exists() else None
    assert lock_after == lock_before


def test_each_distinct_reference_is_resolved_once(tmp_path: Path) -> None:
    _dockerfile(tmp_path, "FROM debian:bookworm\nFROM docker.io/library/debian:bookworm\n", "a/Dockerfile")
    _dockerfile(
        tmp_path,
        "FROM index.docker.io/library/debian:bookworm\nCOPY --from=debian:bookworm / /\n",
        "b/Dockerfile",
    )
    resolver = TableResolver()
    report = pin_paths([tmp_path], client=resolver)
    assert [str(r) for r in resolver.calls] == ["docker.io/library/debian:bookworm"]
    assert [r.action for r in report.results] == [Action.PINNED] * 4
    assert (tmp_path / "a" / "repro.lock").exists()
    assert (tmp_path / "b" / "repro.lock").exists()


def test_stage_names_and_scratch_are_not_resolved(tmp_path: Path) -> None:
    text = "FROM scratch AS base\nFROM base AS two\nCOPY --from=base /x /x\nFROM two\n"
    path = _dockerfile(tmp_path, text)
    resolver = TableResolver()
    report = pin_paths([path], client=resolver)
    assert resolver.calls == []
    assert path.read_text() == text
    assert all(r.action is Action.SKIPPED for r in report.results)


def test_arg_without_default_is_reported(tmp_path: Path) -> None:
    path = _dockerfile(tmp_path, (VECTORS / "arg_no_default.in").read_bytes())
    report = pin_paths([path], client=TableResolver())
    [result] = report.results
    assert result.action is Action.SKIPPED
    assert result.site.line == 2
    assert "BASE" in result.reason
    # Never skipped silently: an image pin cannot pin is work left undone.
    assert f"{path}:2: failed: ${{BASE}} is not pinned" in failures_human(report.failures)
    assert report.exit_code == EXIT_PARTIAL


def test_image_ending_with_an_arg_is_pinned_in_the_arg_default(tmp_path: Path) -> None:
    path = _dockerfile(tmp_path, "ARG V=bookworm\nFROM debian:${V}\n")
    report = pin_paths([path], client=TableResolver())
    [result] = report.results
    assert result.action is Action.PINNED
    assert path.read_text() == f"ARG V=bookworm@{DEBIAN}\nFROM debian:${{V}}\n"
    assert report.exit_code == EXIT_OK


def test_image_with_no_place_for_a_digest_is_reported_unpinned(tmp_path: Path) -> None:
    path = _dockerfile(tmp_path, "FROM debian:${V:-bookworm}\n")
    report = pin_paths([path], client=TableResolver())
    [result] = report.results
    assert result.action is Action.SKIPPED
    assert "ARG" in result.reason
    assert path.read_text() == "FROM debian:${V:-bookworm}\n"
    assert report.exit_code == EXIT_PARTIAL


def test_already_pinned_left_alone_then_updated(tmp_path: Path) -> None:
    old = fake_digest("an older debian")
    text = f"FROM debian:bookworm@{old}\n"
    path = _dockerfile(tmp_path, text)
    resolver = TableResolver()
    # The old digest is not in the registry any more, so without a lock entry pin
    # cannot describe it: write no lock for this part.
    report = pin_paths([path], client=resolver, write_lock=False)
    assert path.read_text() == text
    assert [r.action for r in report.results] == [Action.UNCHANGED]
    assert resolver.calls == []

    report = pin_paths([path], client=TableResolver(), update=True, now=lambda: NOW)
    assert path.read_text() == f"FROM debian:bookworm@{DEBIAN}\n"
    [result] = report.results
    assert result.action is Action.UPDATED
    assert result.digest == DEBIAN


def test_update_moves_a_platform_manifest_pin_to_the_index(tmp_path: Path) -> None:
    amd64 = fake_digest("docker.io/library/debian:bookworm linux/amd64")
    path = _dockerfile(tmp_path, f"FROM debian:bookworm@{amd64}\n")
    report = pin_paths([path], client=TableResolver(), update=True)
    assert path.read_text() == f"FROM debian:bookworm@{DEBIAN}\n"
    assert [r.action for r in report.results] == [Action.UPDATED]


def test_platforms_missing_from_the_index_fail_naming_them(tmp_path: Path) -> None:
    path = _dockerfile(tmp_path, "FROM debian:bookworm\n")
    with pytest.raises(PlatformNotFoundError, match="linux/s390x") as info:
        pin_paths(
            [path],
            client=TableResolver(),
            platforms=parse_platforms("linux/amd64,linux/s390x"),
            fail_fast=True,
        )
    assert info.value.exit_code == EXIT_REGISTRY
    assert "Dockerfile:1" in str(info.value)
    assert "linux/amd64" not in str(info.value).split("has no manifest for")[1].split("(")[0]
    assert path.read_text() == "FROM debian:bookworm\n"
    assert not (tmp_path / "repro.lock").exists()


def test_the_instructions_own_platform_is_required(tmp_path: Path) -> None:
    path = _dockerfile(tmp_path, "FROM --platform=linux/riscv64 debian:bookworm\n")
    with pytest.raises(PlatformNotFoundError, match="linux/riscv64"):
        pin_paths([path], client=TableResolver(), fail_fast=True)
    ok = _dockerfile(tmp_path, "FROM --platform=$BUILDPLATFORM debian:bookworm\n", "ok/Dockerfile")
    pin_paths([ok], client=TableResolver(), platforms=parse_platforms("linux/s390x"))
    assert DEBIAN.hex in ok.read_text()


def test_single_platform_manifest_for_several_targets_is_reported(tmp_path: Path) -> None:
    path = _dockerfile(tmp_path, "FROM busybox:1.36\n")
    report = pin_paths([path], client=TableResolver(), platforms=parse_platforms("linux/amd64,linux/arm64"))
    [note] = [n for n in report.notes if n.kind is FindingKind.PLATFORM]
    assert "single-platform" in note.message
    assert str(note.site) == f"{path}:1"

    amd64 = fake_digest("docker.io/library/debian:bookworm linux/amd64")
    pinned = _dockerfile(tmp_path, f"FROM debian:bookworm@{amd64}\n", "p/Dockerfile")
    report = pin_paths([pinned], client=TableResolver(), platforms=parse_platforms("linux/amd64,linux/arm64"))
    assert [n.kind for n in report.notes] == [FindingKind.PLATFORM]


def test_dry_run_writes_nothing_and_diffs(tmp_path: Path) -> None:
    path = _dockerfile(tmp_path, "FROM debian:bookworm\nRUN true\n")
    report = pin_paths([path], client=TableResolver(), dry_run=True)
    assert path.read_text() == "FROM debian:bookworm\nRUN true\n"
    assert not (tmp_path / "repro.lock").exists()
    diff = pin_diff(report)
    assert f"-FROM debian:bookworm\n+FROM debian:bookworm@{DEBIAN}\n" in diff
    assert f"--- a/{path}" in diff
    assert '+    "docker.io/library/debian:bookworm": {' in diff


def test_fail_fast_one_malformed_file_means_nothing_is_written(tmp_path: Path) -> None:
    good = _dockerfile(tmp_path, "FROM debian:bookworm\n", "good/Dockerfile")
    bad = _dockerfile(tmp_path, "FROM debian:bookworm\nFROM\n", "bad/Dockerfile")
    resolver = TableResolver()
    with pytest.raises(DockerfileError) as info:
        pin_paths([tmp_path], client=resolver, fail_fast=True)
    assert info.value.exit_code == EXIT_DOCKERFILE
    assert str(info.value).startswith(f"{bad}:2")
    assert resolver.calls == [], "parse everything before asking the network"
    assert good.read_text() == "FROM debian:bookworm\n"
    assert not (tmp_path / "good" / "repro.lock").exists()


def test_invalid_reference_is_a_dockerfile_error(tmp_path: Path) -> None:
    path = _dockerfile(tmp_path, "FROM Debian:bookworm\n")
    with pytest.raises(DockerfileError, match=r"Dockerfile:1: .*lowercase"):
        pin_paths([path], client=TableResolver(), fail_fast=True)


def test_fail_fast_registry_failure_writes_nothing(tmp_path: Path) -> None:
    a = _dockerfile(tmp_path, "FROM debian:bookworm\n", "a/Dockerfile")
    b = _dockerfile(tmp_path, "FROM nothere:1\nFROM alsonot:2\n", "b/Dockerfile")
    with pytest.raises(RegistryError) as info:
        pin_paths([tmp_path], client=TableResolver(), fail_fast=True)
    message = str(info.value)
    assert f"{b}:1: nothere:1" in message
    assert f"{b}:2: alsonot:2" in message
    assert info.value.exit_code == EXIT_REGISTRY
    assert a.read_text() == "FROM debian:bookworm\n"


def test_lock_records_tag_index_and_platforms(tmp_path: Path) -> None:
    _dockerfile(tmp_path, "FROM debian:bookworm\nCOPY --from=busybox:1.36 / /\n")
    _dockerfile(tmp_path, "FROM debian:bookworm\n", "Dockerfile.dev")
    report = pin_paths([tmp_path], client=TableResolver(), now=lambda: NOW)
    assert report.lockfiles == (tmp_path / "repro.lock",)
    lock = read_lock(tmp_path / "repro.lock")
    assert lock is not None
    debian = lock.images["docker.io/library/debian:bookworm"]
    assert debian.tag == "bookworm"
    assert debian.digest == DEBIAN
    assert debian.files == ("Dockerfile", "Dockerfile.dev")
    assert set(debian.platforms) == {"linux/amd64", "linux/arm64"}
    assert debian.resolved_at == "2026-11-28T07:30:00Z"
    busybox = lock.images["docker.io/library/busybox:1.36"]
    assert busybox.platforms == {}
    assert busybox.files == ("Dockerfile",)


def test_lock_keeps_entries_of_files_not_scanned(tmp_path: Path) -> None:
    a = _dockerfile(tmp_path, "FROM debian:bookworm\n", "a.Dockerfile")
    b = _dockerfile(tmp_path, "FROM alpine:3.20\n", "b.Dockerfile")
    pin_paths([tmp_path], client=TableResolver(), now=lambda: NOW)
    whole = (tmp_path / "repro.lock").read_bytes()
    a.write_text("FROM debian:bookworm\n")
    b.write_text("FROM alpine:3.20\n")
    pin_paths([a], client=TableResolver(), now=lambda: NOW)
    pin_paths([b], client=TableResolver(), now=lambda: NOW)
    assert (tmp_path / "repro.lock").read_bytes() == whole


def test_configured_lockfile_path(tmp_path: Path) -> None:
    _dockerfile(tmp_path, "FROM debian:bookworm\n", "x/Dockerfile")
    lockfile = tmp_path / "locks" / "images.lock"
    lockfile.parent.mkdir()
    pin_paths([tmp_path], client=TableResolver(), lockfile=lockfile)
    data = json.loads(lockfile.read_text())
    assert data["images"]["docker.io/library/debian:bookworm"]["files"] == ["../x/Dockerfile"]
    assert not (tmp_path / "x" / "repro.lock").exists()


def test_json_report(tmp_path: Path) -> None:
    path = _dockerfile(tmp_path, "FROM debian:bookworm AS a\nFROM a\n")
    report = pin_paths([path], client=TableResolver())
    data = report.to_json()
    first = data["images"][0]
    assert first["action"] == "pinned"
    assert first["digest"] == str(DEBIAN)
    assert first["line"] == 1
    assert set(first["platforms"]) == {"linux/amd64", "linux/arm64"}
    json.dumps(data)
