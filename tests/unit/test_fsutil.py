"""atomic_write: the file is always either the old or the new version."""

from __future__ import annotations

import os
import random
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from repro.fsutil import atomic_write, atomic_write_many, check_writable

OLD = b"FROM debian:bookworm\n" * 2000
NEW = b"FROM debian:bookworm@sha256:" + b"a" * 64 + b"\n" * 2000


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_writes_new_file_with_umask_mode(tmp_path: Path) -> None:
    old_mask = os.umask(0o027)
    try:
        atomic_write(tmp_path / "Dockerfile", b"x")
    finally:
        os.umask(old_mask)
    assert (tmp_path / "Dockerfile").read_bytes() == b"x"
    assert stat.S_IMODE((tmp_path / "Dockerfile").stat().st_mode) == 0o640


def test_replaces_and_keeps_mode(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_bytes(OLD)
    path.chmod(0o751)
    atomic_write(path, NEW)
    assert path.read_bytes() == NEW
    assert stat.S_IMODE(path.stat().st_mode) == 0o751
    assert _leftovers(tmp_path) == []


def test_follows_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real.Dockerfile"
    real.write_bytes(OLD)
    link = tmp_path / "Dockerfile"
    link.symlink_to(real.name)
    atomic_write(link, NEW)
    assert link.is_symlink()
    assert real.read_bytes() == NEW


@pytest.mark.parametrize("step", ["write", "fchmod", "fsync", "replace"])
def test_failure_at_any_step_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    path = tmp_path / "Dockerfile"
    path.write_bytes(OLD)

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    if step == "write":
        real_fdopen = os.fdopen

        class FailingFile:
            def __init__(self, fd: int, mode: str) -> None:
                self._fh = real_fdopen(fd, mode)

            def __enter__(self) -> FailingFile:
                return self

            def __exit__(self, *exc: object) -> None:
                self._fh.close()

            def write(self, data: bytes) -> int:
                self._fh.write(data[: len(data) // 2])
                raise OSError(28, "No space left on device")

            def fileno(self) -> int:
                return self._fh.fileno()

            def flush(self) -> None:
                self._fh.flush()

        monkeypatch.setattr(os, "fdopen", FailingFile)
    elif step == "replace":
        monkeypatch.setattr(Path, "replace", boom)
    else:
        monkeypatch.setattr(os, step, boom)
    with pytest.raises(OSError, match="No space left"):
        atomic_write(path, NEW)
    assert path.read_bytes() == OLD
    assert _leftovers(tmp_path) == []


_WRITER = """
import sys
from pathlib import Path
from repro.fsutil import atomic_write, atomic_write_many
path = Path(sys.argv[1])
versions = [Path(sys.argv[2]).read_bytes(), Path(sys.argv[3]).read_bytes()]
sys.stdout.write("ready\\n"); sys.stdout.flush()
i = 0
while True:
    atomic_write(path, versions[i % 2])
    i += 1
"""


def test_killed_writer_leaves_old_or_new(tmp_path: Path) -> None:
    """SIGKILL a process rewriting the file in a loop, at random moments, many times."""
    old, new = tmp_path / "old", tmp_path / "new"
    old.write_bytes(OLD)
    new.write_bytes(NEW)
    target = tmp_path / "work" / "Dockerfile"
    target.parent.mkdir()
    target.write_bytes(OLD)
    rng = random.Random(1234)
    seen = set()
    for _ in range(15):
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(target), str(old), str(new)],
            stdout=subprocess.PIPE,
            cwd=Path(__file__).resolve().parents[2],
        )
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0.0, 0.05))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        content = target.read_bytes()
        assert content in (OLD, NEW)
        seen.add(content)
        # A kill can leave a temporary file behind, never a half-written target.
        for leftover in _leftovers(target.parent):
            (target.parent / leftover).unlink()
    assert seen, "the target was read after every kill"


def test_write_many_replaces_each_file_and_keeps_modes(tmp_path: Path) -> None:
    a, b = tmp_path / "a" / "Dockerfile", tmp_path / "b" / "Dockerfile"
    for path in (a, b):
        path.parent.mkdir()
        path.write_bytes(b"old")
    a.chmod(0o600)
    atomic_write_many([(a, b"new a"), (b, b"new b")])
    assert (a.read_bytes(), b.read_bytes()) == (b"new a", b"new b")
    assert stat.S_IMODE(a.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["Dockerfile", "Dockerfile"]


def test_write_many_failing_before_the_renames_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"old a")
    b.write_bytes(b"old b")

    def failing_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="Input/output error"):
        atomic_write_many([(a, b"new a"), (b, b"new b")])
    assert (a.read_bytes(), b.read_bytes()) == (b"old a", b"old b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"], "no temporary file is left"


def test_check_writable_accepts_a_path_still_to_be_created(tmp_path: Path) -> None:
    check_writable(tmp_path / "a" / "b" / "image")
    assert sorted(tmp_path.iterdir()) == []  # the probe leaves nothing behind


def test_check_writable_refuses_a_path_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        check_writable(tmp_path / "file" / "image")
