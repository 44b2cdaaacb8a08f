"""Each file is its own unit: failures are reported and the rest is still done."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from repro.cli import main
from repro.errors import (
    EXIT_DOCKERFILE,
    EXIT_NOTHING_CHECKED,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_REGISTRY,
    RegistryUnreachableError,
)
from repro.lock import LockfileError, read_lock
from repro.pin import check_paths, pin_paths, refresh_paths
from repro.pin.model import FileStatus, FindingKind
from tests.unit.pin.helpers import TableResolver, fake_digest

DEBIAN = fake_digest("docker.io/library/debian:bookworm")
ALPINE = fake_digest("docker.io/library/alpine:3.20")


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _status(report_files: tuple[object, ...]) -> dict[str, str]:
    return {f.file: str(f.status) for f in report_files}  # type: ignore[attr-defined]


def test_a_malformed_file_does_not_block_the_others(tmp_path: Path) -> None:
    good = _write(tmp_path / "good" / "Dockerfile", "FROM debian:bookworm\n")
    bad = _write(tmp_path / "bad" / "Dockerfile", "FROM debian:bookworm\nFROM\n")
    report = pin_paths([tmp_path], client=TableResolver())
    assert good.read_text() == f"FROM debian:bookworm@{DEBIAN}\n"
    assert bad.read_text() == "FROM debian:bookworm\nFROM\n"
    [failure] = report.failures
    assert str(failure.site) == f"{bad}:2"
    assert failure.kind is FindingKind.FAILED
    assert report.exit_code == EXIT_PARTIAL
    assert _status(report.files) == {str(bad): "failed", str(good): "pinned"}
    lock = read_lock(tmp_path / "good" / "repro.lock")
    assert lock is not None
    assert "docker.io/library/debian:bookworm" in lock.images
    assert not (tmp_path / "bad" / "repro.lock").exists()


def test_only_failure_of_one_kind_keeps_its_own_exit_code(tmp_path: Path) -> None:
    _write(tmp_path / "Dockerfile", "FROM\n")
    assert pin_paths([tmp_path], client=TableResolver()).exit_code == EXIT_DOCKERFILE
    _write(tmp_path / "Dockerfile", "FROM nothere:1\n")
    assert pin_paths([tmp_path], client=TableResolver()).exit_code == EXIT_REGISTRY


def test_an_unresolvable_reference_leaves_the_rest_of_its_file_pinned(tmp_path: Path) -> None:
    path = _write(tmp_path / "Dockerfile", "FROM nothere:1 AS a\nFROM debian:bookworm\n")
    report = pin_paths([path], client=TableResolver())
    assert path.read_text() == f"FROM nothere:1 AS a\nFROM debian:bookworm@{DEBIAN}\n"
    [failure] = report.failures
    assert str(failure.site) == f"{path}:1"
    assert "nothere:1" in failure.message
    assert report.exit_code == EXIT_PARTIAL
    [outcome] = report.files
    assert outcome.status is FileStatus.FAILED
    assert "the rest was pinned" in outcome.reason


class _TableClient(TableResolver):
    """Stands in for RegistryClient in the CLI: repro's own Resolver interface, from a table."""

    def __init__(self, config: object) -> None:
        super().__init__()

    def __enter__(self) -> _TableClient:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def test_json_lists_every_file_with_its_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("repro.registry.client.RegistryClient", _TableClient)
    _write(tmp_path / "a" / "Dockerfile", "FROM debian:bookworm\n")
    _write(tmp_path / "b" / "Dockerfile", f"FROM debian:bookworm@{DEBIAN}\n")
    _write(tmp_path / "c" / "Dockerfile", "FROM\n")
    _write(tmp_path / "d" / "Dockerfile.go", "package main\n")
    _write(tmp_path / "e" / "Dockerfile", "FROM nothere:1\n")
    code = main(["pin", "--json", "--no-lock", str(tmp_path)])
    data = json.loads(capsys.readouterr().out)
    assert code == EXIT_PARTIAL
    assert data["exit_code"] == EXIT_PARTIAL
    status = {
        Path(f["file"]).relative_to(tmp_path).as_posix(): (f["status"], f["reason"]) for f in data["files"]
    }
    assert status["a/Dockerfile"] == ("pinned", "")
    assert status["b/Dockerfile"] == ("unchanged", "")
    assert status["c/Dockerfile"][0] == "failed"
    assert "FROM needs an image" in status["c/Dockerfile"][1]
    assert status["d/Dockerfile.go"] == ("skipped", "a .go file is not a Dockerfile")
    assert status["e/Dockerfile"][0] == "failed"
    assert "nothere:1" in status["e/Dockerfile"][1]


def test_not_dockerfiles_found_by_a_search_are_skipped_with_a_note(tmp_path: Path) -> None:
    _write(tmp_path / "Dockerfile.template", "FROM {{ base_image }}\nRUN {{ command }}\n")
    _write(tmp_path / "x" / "Dockerfile", "# just a comment\nRUN true\n")
    _write(tmp_path / "y" / "Dockerfile", "FROM debian:bookworm\n")
    report = pin_paths([tmp_path], client=TableResolver(), write_lock=False)
    assert report.exit_code == EXIT_OK
    notes = "\n".join(n.message for n in report.notes)
    assert "a template with placeholders" in notes
    assert "no FROM instruction" in notes
    # Named explicitly, the same file is a failure.
    named = pin_paths([tmp_path / "Dockerfile.template"], client=TableResolver(), write_lock=False)
    assert named.exit_code != EXIT_OK
    assert named.failures


def test_fifo_and_device_and_dangling_link_are_clear_failures(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "Dockerfile")
    (tmp_path / "zero").mkdir()
    (tmp_path / "zero" / "Dockerfile").symlink_to("/dev/zero")
    (tmp_path / "gone").mkdir()
    (tmp_path / "gone" / "Dockerfile").symlink_to(tmp_path / "gone" / "missing")
    _write(tmp_path / "ok" / "Dockerfile", "FROM debian:bookworm\n")
    started = time.monotonic()
    report = pin_paths([tmp_path], client=TableResolver(), write_lock=False)
    assert time.monotonic() - started < 10, "no hang on a FIFO"
    reasons = {f.site.file: f.message for f in report.failures}
    assert "a FIFO, not a regular file" in reasons[str(tmp_path / "Dockerfile")]
    assert (
        "a symbolic link" in reasons[str(tmp_path / "zero" / "Dockerfile")]
        or "device" in reasons[str(tmp_path / "zero" / "Dockerfile")]
    )
    assert "missing file" in reasons[str(tmp_path / "gone" / "Dockerfile")]
    assert report.exit_code == EXIT_PARTIAL
    assert DEBIAN.hex in (tmp_path / "ok" / "Dockerfile").read_text()


def test_oversized_dockerfile_is_refused(tmp_path: Path) -> None:
    from repro.dockerfile import MAX_DOCKERFILE_BYTES

    path = tmp_path / "Dockerfile"
    path.write_bytes(b"FROM debian:bookworm\n" + b"#" * MAX_DOCKERFILE_BYTES)
    report = check_paths([path])
    [failure] = report.failures
    assert "larger than 8 MiB" in failure.message
    assert report.exit_code == EXIT_DOCKERFILE


def test_a_link_out_of_the_tree_is_not_written_through(tmp_path: Path) -> None:
    outside = _write(tmp_path / "outside" / "Dockerfile", "FROM debian:bookworm\n")
    tree = tmp_path / "tree"
    (tree / "app").mkdir(parents=True)
    (tree / "app" / "Dockerfile").symlink_to(outside)
    _write(tree / "ok" / "Dockerfile", "FROM alpine:3.20\n")
    report = pin_paths([tree], client=TableResolver(), write_lock=False)
    assert outside.read_text() == "FROM debian:bookworm\n"
    [failure] = report.failures
    assert "outside" in failure.message
    assert "not followed" in failure.message
    assert ALPINE.hex in (tree / "ok" / "Dockerfile").read_text()
    # A link inside the tree is fine.
    (tree / "inner").mkdir()
    (tree / "inner" / "Dockerfile").symlink_to(tree / "ok" / "Dockerfile")
    (tree / "app" / "Dockerfile").unlink()
    assert not pin_paths([tree], client=TableResolver(), write_lock=False).failures


def test_a_file_edited_while_pin_waits_is_not_overwritten(tmp_path: Path) -> None:
    path = _write(tmp_path / "Dockerfile", "FROM debian:bookworm\n")
    other = _write(tmp_path / "b" / "Dockerfile", "FROM alpine:3.20\n")

    class EditingResolver(TableResolver):
        def resolve_many(self, refs):  # type: ignore[no-untyped-def]
            path.write_text("FROM debian:bookworm\nRUN echo edited\n")
            return super().resolve_many(refs)

    report = pin_paths([tmp_path], client=EditingResolver())
    assert path.read_text() == "FROM debian:bookworm\nRUN echo edited\n"
    [failure] = report.failures
    assert "changed since it was read" in failure.message
    assert ALPINE.hex in other.read_text()
    lock = read_lock(tmp_path / "repro.lock")
    assert lock is None or all("Dockerfile" not in e.files for e in lock.images.values())


def test_a_missing_lock_directory_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    path = _write(tmp_path / "Dockerfile", "FROM debian:bookworm\n")
    with pytest.raises(LockfileError, match="does not exist; nothing was written"):
        pin_paths([path], client=TableResolver(), lockfile=tmp_path / "missing" / "repro.lock")
    assert path.read_text() == "FROM debian:bookworm\n"


def test_stale_temporaries_of_killed_runs_are_cleaned(tmp_path: Path) -> None:
    path = _write(tmp_path / "Dockerfile", "FROM debian:bookworm\n")
    stale = [tmp_path / f".Dockerfile.dead{i}.tmp" for i in range(3)]
    for leftover in stale:
        leftover.write_text("half")
        os.utime(leftover, (time.time() - 3600, time.time() - 3600))
    young = tmp_path / ".Dockerfile.young.tmp"
    young.write_text("in flight")
    pin_paths([path], client=TableResolver(), write_lock=False)
    assert not any(p.exists() for p in stale)
    assert young.exists(), "a temporary file that may belong to a live writer is kept"


def test_already_pinned_refs_need_no_registry(tmp_path: Path) -> None:
    path = _write(tmp_path / "Dockerfile", f"FROM debian:bookworm@{DEBIAN}\nFROM alpine:3.20\n")
    down = TableResolver(fail={f"docker.io/library/debian@{DEBIAN}": RegistryUnreachableError("down")})
    report = pin_paths([path], client=down, write_lock=True)
    assert report.exit_code == EXIT_OK
    assert ALPINE.hex in path.read_text()
    lock = read_lock(tmp_path / "repro.lock")
    assert lock is not None
    entry = lock.images["docker.io/library/debian:bookworm"]
    assert entry.verified is False
    assert entry.digest == DEBIAN
    assert '"verified": false' in (tmp_path / "repro.lock").read_text()
    # The next run that reaches the registry fills it in.
    pin_paths([path], client=TableResolver())
    lock = read_lock(tmp_path / "repro.lock")
    assert lock is not None
    entry = lock.images["docker.io/library/debian:bookworm"]
    assert entry.verified
    assert entry.media_type
    assert entry.platforms


def test_empty_gate_fails_unless_allowed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "Dockerfile").mkdir()
    _write(tmp_path / "Dockerfile-prod", "FROM debian:bookworm\n")
    _write(tmp_path / "dockerfile", "FROM debian:bookworm\n")
    report = check_paths([tmp_path])
    assert report.exit_code == EXIT_NOTHING_CHECKED
    assert main(["pin", "--check", str(tmp_path)]) == EXIT_NOTHING_CHECKED
    captured = capsys.readouterr()
    assert "Dockerfile-prod: note: skipped: not a Dockerfile name" in captured.out
    assert "a directory, not a Dockerfile" in captured.out
    assert "nothing was checked" in captured.err
    assert main(["pin", "--check", "--allow-empty", str(tmp_path)]) == EXIT_OK


def test_check_keeps_going_and_reports_partial(tmp_path: Path) -> None:
    _write(tmp_path / "a" / "Dockerfile", f"FROM debian:bookworm@{DEBIAN}\n")
    _write(tmp_path / "b" / "Dockerfile", "FROM\n")
    report = check_paths([tmp_path])
    assert report.exit_code == EXIT_PARTIAL
    _write(tmp_path / "c" / "Dockerfile", "FROM alpine:3.20\n")
    assert check_paths([tmp_path]).exit_code == 1, "a definite finding wins"


def test_refresh_keeps_going(tmp_path: Path) -> None:
    _write(tmp_path / "a" / "Dockerfile", "FROM debian:bookworm\n")
    _write(tmp_path / "b" / "Dockerfile", "FROM alpine:3.20\n")
    pin_paths([tmp_path], client=TableResolver())
    _write(tmp_path / "c" / "Dockerfile", "FROM\n")
    report = refresh_paths([tmp_path], client=TableResolver())
    assert report.exit_code == EXIT_PARTIAL
    assert [str(f.site.file) for f in report.failures] == [str(tmp_path / "c" / "Dockerfile")]
