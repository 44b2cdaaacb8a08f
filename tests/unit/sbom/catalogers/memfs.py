"""An in-memory :class:`repro.sbom.model.FileView` built from a dict, for cataloger tests.

>>> fs = MemoryFileView({"etc/os-release": b"ID=alpine\\n", "usr/bin/tool": (b"\\x7fELF", 0o755)})
>>> [e.path for e in fs.entries()]
['etc', 'etc/os-release', 'usr', 'usr/bin', 'usr/bin/tool']
"""

from __future__ import annotations

import fnmatch
import io
import posixpath
from collections.abc import Iterable, Mapping
from typing import BinaryIO

from repro.errors import ImageError
from repro.layers.fileview import FileEntry

FileSpec = bytes | tuple[bytes, int]


class MemoryFileView:
    """Files given as ``{path: content}`` or ``{path: (content, mode)}``; parents are implied.

    ``symlinks`` maps a path to its link target. ``unseekable`` makes :meth:`open` return
    streams that cannot seek, as a layer tar stream would.
    """

    def __init__(
        self,
        files: Mapping[str, FileSpec],
        *,
        symlinks: Mapping[str, str] | None = None,
        unseekable: bool = False,
    ) -> None:
        self._content: dict[str, bytes] = {}
        self._entries: dict[str, FileEntry] = {}
        self._unseekable = unseekable
        for path, spec in files.items():
            content, mode = spec if isinstance(spec, tuple) else (spec, 0o644)
            self._add_parents(path)
            self._content[path] = content
            self._entries[path] = FileEntry(path, "file", len(content), mode, 0, 0, 0)
        for path, target in (symlinks or {}).items():
            self._add_parents(path)
            self._entries[path] = FileEntry(path, "symlink", 0, 0o777, 0, 0, 0, linkname=target)

    def _add_parents(self, path: str) -> None:
        parent = posixpath.dirname(path)
        while parent and parent not in self._entries:
            self._entries[parent] = FileEntry(parent, "dir", 0, 0o755, 0, 0, 0)
            parent = posixpath.dirname(parent)

    def entries(self) -> Iterable[FileEntry]:
        return [self._entries[path] for path in sorted(self._entries)]

    def entry(self, path: str) -> FileEntry | None:
        return self._entries.get(path)

    def glob(self, pattern: str) -> list[FileEntry]:
        return [self._entries[p] for p in sorted(self._entries) if fnmatch.fnmatchcase(p, pattern)]

    def read(self, path: str, *, max_size: int = 64 * 1024 * 1024) -> bytes:
        if path not in self._content:
            raise ImageError(f"{path}: no such regular file")
        content = self._content[path]
        if len(content) > max_size:
            raise ImageError(f"{path}: {len(content)} bytes, more than {max_size}")
        return content

    def open(self, path: str) -> BinaryIO:
        content = self.read(path, max_size=1 << 62)
        if self._unseekable:
            return _UnseekableStream(content)
        return io.BytesIO(content)

    def first_layer(self, path: str) -> int | None:
        return 0 if path in self._entries else None


class _UnseekableStream(io.BytesIO):
    def seekable(self) -> bool:
        return False

    def seek(self, offset: int, whence: int = 0) -> int:
        raise io.UnsupportedOperation("seek")

    def tell(self) -> int:
        raise io.UnsupportedOperation("tell")
