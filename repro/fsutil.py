"""Crash-safe file replacement, bounded reads of regular files, and lock-file locking.

:func:`atomic_write` leaves a file either entirely old or entirely new, whatever happens
(an exception, a kill, a power cut once the data reached the disk): the new bytes go to a
temporary file in the same directory, are flushed to disk, then renamed over the old file,
and the directory entry is flushed too. The file keeps its permission bits.

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "Dockerfile"
    >>> atomic_write(path, b"FROM scratch\\n")
    >>> path.read_bytes()
    b'FROM scratch\\n'

:func:`read_regular_file` opens only regular files (a FIFO or a link to ``/dev/zero``
would block or never end) and refuses more than a size limit. :func:`locked` holds an
exclusive ``flock`` on a file that is replaced by rename while it is held (the lock
file), so that concurrent writers read, merge and write one after the other.
Temporary files left by a killed run are removed by the next write in their directory.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

__all__ = [
    "ChangedSinceReadError",
    "NotRegularFileError",
    "TooLargeError",
    "atomic_write",
    "atomic_write_each",
    "atomic_write_many",
    "check_writable",
    "clean_stale_temporaries",
    "locked",
    "read_regular_file",
]

#: A temporary file younger than this is never taken for a killed run's leftover, even
#: when unlocked: its writer may be between creating and locking it.
STALE_TEMPORARY_SECONDS = 5.0


class NotRegularFileError(OSError):
    """The path is a FIFO, a device, a socket or a directory, not a regular file."""


class TooLargeError(OSError):
    """The file is larger than the limit it is read with."""


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_regular_file(path: Path | str, *, limit: int) -> bytes:
    """The bytes of ``path``, which must be a regular file of at most ``limit`` bytes.

    Symbolic links are followed (to regular files only). Opening with ``O_NONBLOCK`` keeps
    a FIFO from blocking the open; its type is refused before any read. Raises
    :class:`NotRegularFileError`, :class:`TooLargeError` or the :class:`OSError` of the
    open (``FileNotFoundError`` for a dangling link).
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(errno.EINVAL, f"{_kind(mode)}, not a regular file", str(path))
        # Regular files ignore O_NONBLOCK; read one byte past the limit to see it exceeded.
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise TooLargeError(errno.EFBIG, f"larger than the limit of {limit} bytes", str(path))
        return b"".join(chunks)
    finally:
        os.close(fd)


@contextlib.contextmanager
def locked(path: Path | str) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created empty if missing) for the ``with`` block.

    The file may be replaced by :func:`atomic_write` inside the block: a waiter that then
    gets the lock of the old, replaced inode notices and locks the new file instead, so
    the lock always belongs to the file the path names.
    """
    target = Path(os.path.realpath(path))
    while True:
        fd = os.open(target, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                current = target.stat()
            except FileNotFoundError:
                current = None
            held = os.fstat(fd)
            if current is not None and (current.st_ino, current.st_dev) == (held.st_ino, held.st_dev):
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # replaced while we waited: lock the new file
    try:
        yield
    finally:
        os.close(fd)


def _temporary_prefix(target: Path) -> str:
    return f".{target.name}."


def clean_stale_temporaries(target: Path | str) -> list[Path]:
    """Remove the temporary files that killed writes of ``target`` left in its directory.

    A live writer holds a lock on its temporary file; one nobody holds, older than a few
    seconds, belongs to a dead process. Returns what was removed.
    """
    target = Path(os.path.realpath(target))
    prefix = _temporary_prefix(target)
    removed: list[Path] = []
    try:
        names = [
            p.name for p in target.parent.iterdir() if p.name.startswith(prefix) and p.name.endswith(".tmp")
        ]
    except OSError:
        return removed
    now = time.time()
    for name in names:
        candidate = target.parent / name
        try:
            fd = os.open(candidate, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or now - info.st_mtime < STALE_TEMPORARY_SECONDS:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # a live writer holds it
            with contextlib.suppress(OSError):
                if candidate.lstat().st_ino == info.st_ino:
                    candidate.unlink()
                    removed.append(candidate)
        finally:
            os.close(fd)
    return removed


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
    clean_stale_temporaries(target)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=_temporary_prefix(target), suffix=".tmp", dir=target.parent)
    except OSError as exc:
        # Name the file the user asked for, not the hidden temporary beside it.
        raise OSError(exc.errno, exc.strerror, str(target)) from exc
    tmp = Path(tmp_name)
    try:
        # Locked while it lives, so that clean_stale_temporaries never takes it for a
        # leftover; the lock goes with the descriptor, when the file is complete.
        fcntl.flock(fd, fcntl.LOCK_EX)
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


def check_writable(destination: Path | str) -> None:
    """Raise the :class:`OSError` that writing ``destination`` (a file or a directory to
    be created or filled) would meet, before any work is spent on what goes there.

    The nearest existing directory on its path is tried with a real temporary file, so a
    read-only mount, an ACL or a full quota answer as they will when the result is written.
    """
    path = Path(destination).absolute()
    directory = path if path.is_dir() else path.parent
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent
    if not directory.is_dir():
        raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(directory))
    try:
        fd, probe = tempfile.mkstemp(prefix=".repro-probe.", dir=directory)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(destination)) from exc
    os.close(fd)
    Path(probe).unlink()


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


class ChangedSinceReadError(OSError):
    """The file no longer holds the bytes it was read with: someone else wrote it."""


def _still(target: Path, expected: bytes) -> None:
    try:
        with target.open("rb") as fh:
            current = fh.read(len(expected) + 1)
    except FileNotFoundError:
        raise ChangedSinceReadError(errno.ENOENT, "removed since it was read", str(target)) from None
    if current != expected:
        raise ChangedSinceReadError(errno.EBUSY, "changed since it was read", str(target))


def atomic_write_each(items: Sequence[tuple[Path | str, bytes, bytes | None]]) -> dict[int, OSError]:
    """Replace each ``(path, new, expected_old)`` atomically, independently of the others.

    Like :func:`atomic_write_many` (one concurrent sync for all), but a failure is kept per
    item: the returned map holds the :class:`OSError` of each item (by index) that was not
    written. With ``expected_old`` the file must still hold exactly those bytes just
    before it is replaced, else it is left alone (:class:`ChangedSinceReadError`): an edit
    made while the new bytes were being worked out is never overwritten.
    """
    failures: dict[int, OSError] = {}
    temporaries: dict[int, tuple[Path, Path]] = {}
    for index, (path, data, _) in enumerate(items):
        target = Path(os.path.realpath(path))
        try:
            temporaries[index] = (target, _write_temporary(target, data, sync=False))
        except OSError as exc:
            failures[index] = exc

    def sync(index: int) -> tuple[int, OSError | None]:
        try:
            _fsync_path(temporaries[index][1])
        except OSError as exc:
            return index, exc
        return index, None

    with ThreadPoolExecutor(max_workers=min(_SYNC_WORKERS, len(temporaries) or 1)) as pool:
        for index, error in pool.map(sync, list(temporaries)):
            if error is not None:
                failures[index] = error
    written: set[Path] = set()
    try:
        for index, (target, tmp) in temporaries.items():
            if index in failures:
                tmp.unlink(missing_ok=True)
                continue
            expected = items[index][2]
            try:
                if expected is not None:
                    _still(target, expected)
                tmp.replace(target)
            except OSError as exc:
                failures[index] = exc
                tmp.unlink(missing_ok=True)
            else:
                written.add(target.parent)
    except BaseException:
        for _, tmp in temporaries.values():
            tmp.unlink(missing_ok=True)
        raise
    with ThreadPoolExecutor(max_workers=min(_SYNC_WORKERS, len(written) or 1)) as pool:
        list(pool.map(_fsync_directory, sorted(written)))
    return failures


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
