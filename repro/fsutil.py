"""Crash-safe file replacement.

:func:`atomic_write` leaves a file either entirely old or entirely new, whatever happens
(an exception, a kill, a power cut once the data reached the disk): the new bytes go to a
temporary file in the same directory, are flushed to disk, then renamed over the old file,
and the directory entry is flushed too. The file keeps its permission bits.

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "Dockerfile"
    >>> atomic_write(path, b"FROM scratch\\n")
    >>> path.read_bytes()
    b'FROM scratch\\n'
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

__all__ = ["atomic_write", "atomic_write_many"]

_DEFAULT_MODE = 0o666


def _current_umask() -> int:
    # os.umask can only be read by setting it; set it straight back.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_directory(directory: Path) -> None:
    # Without this the rename itself may not survive a power cut. Some file systems refuse
    # to open or sync a directory; the data is then as safe as that file system allows.
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


_SYNC_WORKERS = 16


def _file_mode(target: Path) -> int:
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        return _DEFAULT_MODE & ~_current_umask()


def _write_temporary(target: Path, data: bytes, *, sync: bool) -> Path:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), _file_mode(target))
            if sync:
                os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_many(items: Sequence[tuple[Path | str, bytes]]) -> None:
    """Replace several files, each atomically, syncing them together.

    Each file ends up entirely old or entirely new, as with :func:`atomic_write`; the set
    as a whole is not a transaction. Writing every temporary file first and syncing them
    concurrently lets the file system commit them in one journal transaction, instead of
    paying a full sync per file (hundreds of Dockerfiles in one ``repro pin``).
    """
    targets = [(Path(os.path.realpath(path)), data) for path, data in items]
    temporaries: list[Path] = []
    try:
        for target, data in targets:
            temporaries.append(_write_temporary(target, data, sync=False))
        with ThreadPoolExecutor(max_workers=min(_SYNC_WORKERS, len(temporaries) or 1)) as pool:
            list(pool.map(_fsync_path, temporaries))
    except BaseException:
        for tmp in temporaries:
            tmp.unlink(missing_ok=True)
        raise
    for index, (tmp, (target, _)) in enumerate(zip(temporaries, targets, strict=True)):
        try:
            tmp.replace(target)
        except BaseException:
            for leftover in temporaries[index:]:
                leftover.unlink(missing_ok=True)
            raise
    directories = sorted({target.parent for target, _ in targets})
    with ThreadPoolExecutor(max_workers=min(_SYNC_WORKERS, len(directories) or 1)) as pool:
        list(pool.map(_fsync_directory, directories))


def atomic_write(path: Path | str, data: bytes) -> None:
    """Replace the contents of ``path`` with ``data`` atomically.

    A symbolic link is followed: its target is replaced and the link stays a link. The
    permission bits of an existing file are kept; a new file gets ``0o666`` less the umask,
    as :func:`open` would give it. On any failure the temporary file is removed and the
    original file is untouched.
    """
    target = Path(os.path.realpath(path))
    tmp = _write_temporary(target, data, sync=True)
    try:
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_directory(target.parent)
