"""An image's final filesystem as catalogers and scanners see it: paths, entries, content.

:class:`~repro.layers.filesystem.ImageFilesystem` implements :class:`FileView` in one pass
over the layers (merged, whiteouts applied, nothing extracted to disk); the SBOM
catalogers and the policy file scan read through it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO, Protocol, runtime_checkable


@dataclass(frozen=True)
class FileEntry:
    """One path of the final filesystem and the layer that last wrote it."""

    path: str  # relative, no leading "/" ("usr/bin/curl")
    type: str  # "file", "dir", "symlink", "hardlink", "char", "block", "fifo"
    size: int
    mode: int  # permission bits and setuid/setgid/sticky
    uid: int
    gid: int
    layer: int  # index of the layer that last wrote this path
    linkname: str = ""

    @property
    def is_executable(self) -> bool:
        return self.type == "file" and bool(self.mode & 0o111)


class FileView(Protocol):
    """Read-only access to an image's final filesystem."""

    def entries(self) -> Iterable[FileEntry]:
        """Every path, in sorted order."""
        ...

    def entry(self, path: str) -> FileEntry | None:
        """The entry at ``path`` (symlinks not followed), or None."""
        ...

    def glob(self, pattern: str) -> list[FileEntry]:
        """Entries whose path matches a :func:`fnmatch.fnmatchcase` pattern, sorted."""
        ...

    def read(self, path: str, *, max_size: int = 64 * 1024 * 1024) -> bytes:
        """The content of a regular file (hard links resolved); ImageError if absent or larger."""
        ...

    def open(self, path: str) -> BinaryIO:
        """A stream over a regular file's content, for large files (jars, binaries)."""
        ...

    def first_layer(self, path: str) -> int | None:
        """The index of the layer that first created ``path`` and from which it survived."""
        ...


@runtime_checkable
class LayeredFileView(FileView, Protocol):
    """A :class:`FileView` that also remembers every layer's version of some files.

    Which files is decided by the catalogers' ``track`` globs (see :class:`repro.sbom.model.CatalogerHints`).
    """

    def versions(self, path: str) -> list[tuple[int, bytes | None]]:
        """(layer index, content) for each layer that wrote ``path``; None where one deleted it."""
        ...
