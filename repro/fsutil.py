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
from pathlib import Path

__all__ = ["atomic_write"]

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


def atomic_write(path: Path | str, data: bytes) -> None:
    """Replace the contents of ``path`` with ``data`` atomically.

    A symbolic link is followed: its target is replaced and the link stays a link. The
    permission bits of an existing file are kept; a new file gets ``0o666`` less the umask,
    as :func:`open` would give it. On any failure the temporary file is removed and the
    original file is untouched.
    """
    target = Path(os.path.realpath(path))
    directory = target.parent
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        mode = _DEFAULT_MODE & ~_current_umask()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        tmp.replace(target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_directory(directory)
