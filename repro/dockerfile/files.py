"""Reading a Dockerfile from disk: regular files only, up to a documented size.

    >>> read_dockerfile("/dev/zero")                     # doctest: +SKIP
    DockerfileError: /dev/zero: a device, not a regular file

A FIFO or a link to ``/dev/zero`` named ``Dockerfile`` would otherwise block the reader
or never end; a file over :data:`MAX_DOCKERFILE_BYTES` is refused before it is parsed,
so parsing time and memory stay bounded (the parser is linear in the file size).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from repro.errors import DockerfileError
from repro.fsutil import NotRegularFileError, TooLargeError, read_regular_file

__all__ = ["MAX_DOCKERFILE_BYTES", "collector_paused", "read_dockerfile"]

#: The largest Dockerfile repro reads: 8 MiB, a hundred times the largest real ones.
MAX_DOCKERFILE_BYTES: Final = 8 * 1024 * 1024


def read_dockerfile(path: Path | str, *, display: str | None = None) -> bytes:
    """The bytes of the Dockerfile at ``path``.

    Raises :class:`~repro.errors.DockerfileError` (``FILE: why``) for a file that does not
    exist (a dangling link), cannot be read, is not a regular file, or is larger than
    :data:`MAX_DOCKERFILE_BYTES`.
    """
    shown = display if display is not None else str(path)
    try:
        return read_regular_file(path, limit=MAX_DOCKERFILE_BYTES)
    except TooLargeError:
        raise DockerfileError(
            f"{shown}: larger than {MAX_DOCKERFILE_BYTES // (1024 * 1024)} MiB, the largest Dockerfile "
            "repro reads",
            hint="split the file; no real Dockerfile is this large",
        ) from None
    except NotRegularFileError as exc:
        raise DockerfileError(f"{shown}: {exc.strerror}", hint="name a regular file") from None
    except FileNotFoundError:
        what = "a symbolic link to a missing file" if Path(path).is_symlink() else "no such file"
        raise DockerfileError(f"{shown}: cannot read: {what}", hint="fix or remove the link") from None
    except OSError as exc:
        raise DockerfileError(f"{shown}: cannot read: {exc.strerror}", hint="check its permissions") from None


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a large file is parsed.

    The parser allocates hundreds of thousands of small objects that all stay alive; the
    collector's repeated full passes over them made parsing three times slower and
    superlinear in the file size. Nothing it allocates forms reference cycles.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
