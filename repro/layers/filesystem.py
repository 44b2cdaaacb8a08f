"""The merged file system of an image, read straight from its layer tars.

:meth:`ImageFilesystem.scan` streams every layer once, in order (gzip or plain tar, each
blob verified against its digest while it streams), applies OCI whiteouts, and keeps the
tar *headers* of the final file system in memory. Nothing is extracted to disk.

File *content* is kept only where it is asked for:

- ``prefetch`` globs (what the catalogers declare they will read: status files, package
  metadata) are read during that same pass, up to a size per file and a memory budget;
- ``track`` globs keep every layer's version of a file (the dpkg status file, for
  attribution of packages to the layer that installed them);
- ``inspect_binaries`` hashes every ELF executable and shared library on the way, so
  files no package owns can be listed (hashed on demand, since most are owned);
- everything else is fetched on demand: from an uncompressed layer by seeking to the
  member's offset, from a compressed one by streaming that layer again, collecting
  every wanted file of the layer in one pass (:meth:`ImageFilesystem.prefetch`).

Prefetch globs were chosen over "read on demand, then cache" because a gzip layer cannot
be seeked: every miss would cost a full decompression of the layer, and catalogers know
up front which files they want.

Hostile layers: member names are normalised as a chroot would (``..`` cannot climb above
the root, absolute names are relative to it), symlinks are resolved inside the image root
only, paths longer than :data:`MAX_PATH` and file systems of more than
:data:`MAX_ENTRIES` paths are refused, and no buffer is sized from a header's claim.

Memory: roughly 400 bytes per path of the final file system (headers only), so a million
paths cost about 400 MB; file content is bounded by ``cache_budget``.

    >>> fs = ImageFilesystem.scan(layout, image, prefetch=["etc/os-release"])  # doctest: +SKIP
    >>> fs.read("etc/os-release")[:20]                                           # doctest: +SKIP
    b'PRETTY_NAME="Debian '
"""

from __future__ import annotations

import bisect
import fnmatch
import io
import logging
import posixpath
import re
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, BinaryIO, Final

from repro.config import ScanLimits, scan_limits
from repro.digest import Digest
from repro.errors import ImageError
from repro.layers.fileview import FileEntry
from repro.layers.layertar import ENTRY_TYPES, ExpansionBudget, open_layer_tar
from repro.oci.layout import Image, ImageLayout, Layer

logger = logging.getLogger(__name__)

#: More paths than this in one image is refused (headers are kept in memory).
MAX_ENTRIES: Final = 4_000_000
#: Longer member names are refused (Linux's PATH_MAX).
MAX_PATH: Final = 4096
#: Symbolic links followed while resolving one path (Linux's limit).
MAX_SYMLINK_HOPS: Final = 40
#: Files larger than this are not read during the scan (they are fetched on demand).
DEFAULT_PREFETCH_MAX: Final = 16 * 1024 * 1024
#: Total bytes of file content kept in memory.
DEFAULT_CACHE_BUDGET: Final = 512 * 1024 * 1024
#: ``open`` keeps a compressed layer's member in memory up to this size, then in a temp file.
SPOOL_MAX: Final = 16 * 1024 * 1024

WHITEOUT_PREFIX: Final = ".wh."
OPAQUE_MARKER: Final = ".wh..wh..opq"
ELF_MAGIC: Final = b"\x7fELF"
_CHUNK: Final = 1024 * 1024
_HEAD: Final = 64
_SHARED_LIBRARY = re.compile(r"\.so(?:\.[0-9][0-9.]*)?$")


def normalise(name: str) -> str:
    """A member name as a path relative to the root: ``./a/../b/`` → ``b``, ``/../etc`` → ``etc``."""
    return posixpath.normpath("/" + name).lstrip("/")


def is_shared_library_name(path: str) -> bool:
    """``libc.so.6``, ``foo.so``, ``_ssl.cpython-311-x86_64-linux-gnu.so``."""
    return _SHARED_LIBRARY.search(path.rpartition("/")[2]) is not None


def _compile(patterns: Iterable[str]) -> re.Pattern[str] | None:
    parts = [fnmatch.translate(p) for p in patterns]
    return re.compile("|".join(f"(?:{p})" for p in parts)) if parts else None


def _parent(path: str) -> str:
    return path.rpartition("/")[0]


@dataclass(slots=True)
class _Node:
    entry: FileEntry
    first_layer: int
    # Where the bytes live: (layer index, offset of the data in the uncompressed tar).
    source: tuple[int, int] | None
    elf: bool = False  # an ELF file (when binaries are inspected)
    sha256: str | None = None  # computed on demand


@dataclass
class _LayerScan:
    """Book-keeping while one layer is applied."""

    index: int
    compressed: bool = False
    written: set[str] = field(default_factory=set)
    whiteouts: list[str] = field(default_factory=list)
    opaque: list[str] = field(default_factory=list)


class ImageFilesystem:
    """A :class:`~repro.sbom.model.FileView` of an image's final file system."""

    def __init__(self, layout: ImageLayout, image: Image) -> None:
        self.layout = layout
        self.image = image
        self._nodes: dict[str, _Node] = {}
        self._children: dict[str, set[str]] = {}
        self._content: dict[tuple[int, int], bytes] = {}
        self._cached_bytes = 0
        self._versions: dict[str, list[tuple[int, bytes | None]]] = {}
        self._sorted: list[str] | None = None
        self._symlinks = 0
        self.cache_budget = DEFAULT_CACHE_BUDGET
        self.prefetch_max = DEFAULT_PREFETCH_MAX
        self.layer_passes = 0  # how many times a layer was streamed (for tests and benchmarks)
        self._compressed: dict[int, bool] = {}  # by layer index, from the blob's magic bytes
        self._heads: dict[tuple[int, int], bytes] = {}  # first bytes of non-ELF executables
        self.max_file_size = ScanLimits().max_file_size

    # --- building ----------------------------------------------------------------------

    @classmethod
    def scan(
        cls,
        layout: ImageLayout,
        image: Image,
        *,
        prefetch: Iterable[str] = (),
        track: Iterable[str] = (),
        inspect_binaries: bool = False,
        cache_budget: int = DEFAULT_CACHE_BUDGET,
        prefetch_max: int = DEFAULT_PREFETCH_MAX,
        limits: ScanLimits | None = None,
    ) -> ImageFilesystem:
        """Apply every layer of ``image`` in order and return the final file system.

        ``prefetch`` and ``track`` are :func:`fnmatch.fnmatchcase` globs over paths
        (``var/lib/dpkg/info/*.list``); see the module documentation. ``limits`` (default:
        from the environment, :func:`repro.config.scan_limits`) bounds the size of a file
        kept in memory and how far the layers may expand; every layer's uncompressed
        content must match the config's ``rootfs.diff_ids``.
        """
        fs = cls(layout, image)
        fs.cache_budget, fs.prefetch_max = cache_budget, prefetch_max
        limits = limits or scan_limits()
        fs.max_file_size = limits.max_file_size
        wanted, tracked = _compile(prefetch), _compile(track)
        compressed = sum(layer.descriptor.size for layer in image.layers)
        budget = ExpansionBudget(limits.expansion_limit(compressed), limits.max_expansion)
        diff_ids = _diff_ids(image)
        for layer in image.layers:
            fs._apply(
                layer, wanted, tracked, inspect_binaries, budget, diff_ids[layer.index] if diff_ids else None
            )
        return fs

    def _apply(  # noqa: PLR0917 (internal: one call site)
        self,
        layer: Layer,
        wanted: re.Pattern[str] | None,
        tracked: re.Pattern[str] | None,
        inspect_binaries: bool,
        budget: ExpansionBudget,
        diff_id: str | None,
    ) -> None:
        state = _LayerScan(layer.index)
        with self._layer_tar(layer, budget=budget, diff_id=diff_id) as tar:
            state.compressed = self._compressed[layer.index]
            for member in _members(tar, layer):
                self._member(tar, member, state, wanted, tracked, inspect_binaries)
        self._finish_layer(state, tracked)

    def _member(  # noqa: PLR0917 (internal: one call site)
        self,
        tar: tarfile.TarFile,
        member: tarfile.TarInfo,
        state: _LayerScan,
        wanted: re.Pattern[str] | None,
        tracked: re.Pattern[str] | None,
        inspect_binaries: bool,
    ) -> None:
        if len(member.name) > MAX_PATH:
            raise ImageError(f"layer {state.index}: member name longer than {MAX_PATH} characters")
        path = self._resolve_parents(normalise(member.name))
        if not path:
            return  # the root directory itself
        directory, _, base = path.rpartition("/")
        if base.startswith(WHITEOUT_PREFIX):
            if base == OPAQUE_MARKER:
                state.opaque.append(directory)
            elif not base.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX):
                target = base[len(WHITEOUT_PREFIX) :]
                if target not in ("", ".", ".."):
                    state.whiteouts.append(f"{directory}/{target}" if directory else target)
            return
        kind = ENTRY_TYPES.get(member.type)
        if kind is None:
            return  # pax/GNU bookkeeping tarfile did not consume, sparse files and the like
        linkname = ""
        source: tuple[int, int] | None = None
        elf = False
        size = 0
        if kind == "symlink":
            linkname = member.linkname
        elif kind == "hardlink":
            # A hard link shares the bytes of its target, which an earlier member wrote.
            linkname = self._resolve_parents(normalise(member.linkname))
            linked = self._nodes.get(linkname)
            if linked is not None and linked.entry.type in ("file", "hardlink"):
                source, elf, size = linked.source, linked.elf, linked.entry.size
        elif kind == "file":
            source, size = (state.index, member.offset_data), member.size
        entry = FileEntry(
            path=path,
            type=kind,
            size=size,
            mode=member.mode & 0o7777,
            uid=member.uid,
            gid=member.gid,
            layer=state.index,
            linkname=linkname,
        )
        is_tracked = tracked is not None and tracked.fullmatch(path) is not None
        if is_tracked and kind == "file" and member.size > self.max_file_size:
            raise ImageError(
                f"/{path} (layer {state.index}) is {member.size} bytes: more than the "
                f"{self.max_file_size} bytes a cataloger reads into memory",
                hint="if the file is genuine, raise REPRO_MAX_FILE_MB",
            )
        if kind == "file":
            want = is_tracked or (
                wanted is not None and member.size <= self.prefetch_max and wanted.fullmatch(path) is not None
            )
            # Anything a binary cataloger might open: the exec bit or ".so" anywhere in the name.
            binary = inspect_binaries and (bool(member.mode & 0o111) or ".so" in base)
            if want or binary:
                # ELF files of a compressed layer are kept too (within the budget): the Go
                # cataloger opens every binary, and a compressed layer cannot be seeked.
                keep_elf = binary and state.compressed and member.size <= self.prefetch_max
                elf = self._read_member(
                    tar,
                    member,
                    state.index,
                    keep=want,
                    detect_elf=binary,
                    force=is_tracked,
                    keep_elf=keep_elf,
                )
        self._put(path, entry, source, elf, state)
        if is_tracked:
            data = self._content.get(source) if source is not None else None
            self._versions.setdefault(path, []).append((state.index, data))

    def _read_member(
        self,
        tar: tarfile.TarFile,
        member: tarfile.TarInfo,
        layer: int,
        *,
        keep: bool,
        detect_elf: bool,
        force: bool,
        keep_elf: bool = False,
    ) -> bool:
        """Read a member during the scan: keep its bytes; say whether it is ELF."""
        stream = tar.extractfile(member)
        if stream is None:
            return False
        with stream:
            head = stream.read(_CHUNK if keep or keep_elf else _HEAD)
            is_elf = detect_elf and head[:4] == ELF_MAGIC
            keep = keep or (keep_elf and is_elf)
            if not keep:
                if not is_elf:
                    # Scripts with an exec bit and the like: their first bytes answer "is
                    # this ELF?" when a cataloger opens them, without another layer pass.
                    self._heads[(layer, member.offset_data)] = head
                return is_elf
            chunks = [head]
            while chunk := stream.read(_CHUNK):
                chunks.append(chunk)
        self._remember(layer, member.offset_data, b"".join(chunks), force=force)
        return is_elf

    def _remember(self, layer: int, offset: int, data: bytes, *, force: bool = False) -> None:
        key = (layer, offset)
        if key in self._content:
            return
        if not force and self._cached_bytes + len(data) > self.cache_budget:
            logger.debug("file cache budget of %d bytes reached; %s read on demand", self.cache_budget, key)
            return
        self._content[key] = data
        self._cached_bytes += len(data)

    def _put(
        self,
        path: str,
        entry: FileEntry,
        source: tuple[int, int] | None,
        elf: bool,
        state: _LayerScan,
    ) -> None:
        old = self._nodes.get(path)
        first = state.index
        if old is not None:
            first = old.first_layer
            if old.entry.type == "dir" and entry.type != "dir":
                # A file over a directory replaces the whole tree below it.
                self._remove_below(path, keep=state.written, layer=state.index)
                first = state.index
            elif old.entry.type != "dir" and entry.type == "dir":
                first = state.index
            if old.entry.type == "symlink":
                self._symlinks -= 1
        else:
            if len(self._nodes) >= MAX_ENTRIES:
                raise ImageError(f"image has more than {MAX_ENTRIES} paths; refusing to index it")
            self._sorted = None
        if entry.type == "symlink":
            self._symlinks += 1
        self._nodes[path] = _Node(entry, first, source, elf)
        self._children.setdefault(_parent(path), set()).add(path)
        state.written.add(path)

    def _finish_layer(self, state: _LayerScan, tracked: re.Pattern[str] | None) -> None:
        """Apply the layer's whiteouts: they hide lower layers only, never the layer itself."""
        hidden: list[str] = []
        for path in state.whiteouts:
            hidden.append(path)
            if path not in state.written:
                self._remove(path, layer=state.index, tracked=tracked)
            self._remove_below(path, keep=state.written, layer=state.index, tracked=tracked)
        for directory in state.opaque:
            hidden.append(directory)
            self._remove_below(directory, keep=state.written, layer=state.index, tracked=tracked)
        if not hidden:
            return
        # What this layer wrote under a hidden path does not continue a lower one.
        for path in state.written:
            for top in hidden:
                if path == top or path.startswith(top + "/") or not top:
                    node = self._nodes.get(path)
                    if node is not None:
                        node.first_layer = state.index
                    break

    def _remove(self, path: str, *, layer: int, tracked: re.Pattern[str] | None = None) -> None:
        node = self._nodes.pop(path, None)
        if node is None:
            return
        self._sorted = None
        if node.entry.type == "symlink":
            self._symlinks -= 1
        siblings = self._children.get(_parent(path))
        if siblings is not None:
            siblings.discard(path)
        if tracked is not None and path in self._versions:
            self._versions[path].append((layer, None))

    def _remove_below(
        self, directory: str, *, keep: set[str], layer: int, tracked: re.Pattern[str] | None = None
    ) -> None:
        stack = [directory]
        while stack:
            children = self._children.get(stack.pop())
            if not children:
                continue
            for child in list(children):
                stack.append(child)
                if child not in keep:
                    self._remove(child, layer=layer, tracked=tracked)

    # --- paths -------------------------------------------------------------------------

    def _resolve_parents(self, path: str) -> str:
        """Follow symlinked parent directories, as extracting the layer onto the file system would."""
        if not self._symlinks or "/" not in path:
            return path
        parent, _, base = path.rpartition("/")
        resolved = self.resolve(parent)
        if resolved is None or resolved == parent:
            return path
        return f"{resolved}/{base}" if resolved else base

    def resolve(self, path: str) -> str | None:
        """``path`` with every symlink followed inside the image root, or None (loop, too deep).

        Absolute link targets are read relative to the image root and ``..`` stops at the
        root, so a hostile link can never point outside the image.
        """
        remaining = [part for part in normalise(path).split("/") if part]
        done: list[str] = []
        hops = 0
        while remaining:
            part = remaining.pop(0)
            current = "/".join([*done, part])
            node = self._nodes.get(current)
            if node is None or node.entry.type != "symlink":
                done.append(part)
                continue
            hops += 1
            if hops > MAX_SYMLINK_HOPS:
                return None
            target = node.entry.linkname
            base = "" if target.startswith("/") else "/".join(done)
            joined = normalise(f"{base}/{target}")
            done = []
            remaining = [p for p in joined.split("/") if p] + remaining
        return "/".join(done)

    # --- FileView ----------------------------------------------------------------------

    def _paths(self) -> list[str]:
        if self._sorted is None:
            self._sorted = sorted(self._nodes)
        return self._sorted

    def entries(self) -> Iterator[FileEntry]:
        nodes = self._nodes
        return (nodes[path].entry for path in self._paths())

    def entry(self, path: str) -> FileEntry | None:
        node = self._nodes.get(normalise(path))
        return node.entry if node is not None else None

    def glob(self, pattern: str) -> list[FileEntry]:
        paths = self._paths()
        literal = re.split(r"[*?\[]", pattern, maxsplit=1)[0]
        start = bisect.bisect_left(paths, literal)
        matcher = re.compile(fnmatch.translate(pattern))
        found = []
        for path in paths[start:]:
            if not path.startswith(literal):
                break
            if matcher.fullmatch(path):
                found.append(self._nodes[path].entry)
        return found

    def first_layer(self, path: str) -> int | None:
        node = self._nodes.get(normalise(path))
        return node.first_layer if node is not None else None

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and normalise(path) in self._nodes

    def read(self, path: str, *, max_size: int | None = None) -> bytes:
        key, node = self._file(path)
        limit = self.max_file_size if max_size is None else max_size
        if node.entry.size > limit:
            raise ImageError(
                f"/{path}: {node.entry.size} bytes, more than the {limit} a cataloger reads into memory",
                hint="if the file is genuine, raise REPRO_MAX_FILE_MB",
            )
        if key not in self._content:
            self._fetch({key: node.entry.size}, force=True)
        return self._content[key]

    def open(self, path: str) -> BinaryIO:
        key, node = self._file(path)
        if key in self._content:
            return io.BytesIO(self._content[key])
        layer = self.image.layers[key[0]]
        if not self._compressed.get(layer.index, True):
            return self._slice(layer, key[1], node.entry.size)
        head = self._heads.get(key)
        if head is not None:
            size = node.entry.size
            return io.BufferedReader(_HeadFirst(head, size, lambda: self._spool(layer, key[1])))
        return self._spool(layer, key[1])

    def _spool(self, layer: Layer, offset: int) -> BinaryIO:
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX)  # noqa: SIM115 (returned to the caller)
        self._stream_layer(layer, {offset: spool})
        spool.seek(0)
        return spool  # type: ignore[return-value]

    # --- beyond FileView ---------------------------------------------------------------

    def versions(self, path: str) -> list[tuple[int, bytes | None]]:
        """Each version of a tracked path: (layer, content), or (layer, None) where it was deleted."""
        return list(self._versions.get(normalise(path), ()))

    def sha256(self, path: str) -> str:
        """The sha256 of a regular file's content (hard links and symlinks followed)."""
        _, node = self._file(path)
        if node.sha256 is None:
            hasher = Digest.hasher("sha256")
            with self.open(path) as stream:
                while chunk := stream.read(_CHUNK):
                    hasher.update(chunk)
            node.sha256 = hasher.digest().hex
        return node.sha256

    def binaries(self) -> list[FileEntry]:
        """Every ELF file of the final file system, sorted by path (``inspect_binaries``)."""
        return [node.entry for p in self._paths() if (node := self._nodes[p]).elf]

    def prefetch(self, paths: Iterable[str], *, max_size: int | None = None) -> None:
        """Load the content of ``paths`` (symlinks followed) in one pass per layer."""
        limit = self.prefetch_max if max_size is None else max_size
        wanted: dict[tuple[int, int], int] = {}
        for path in paths:
            try:
                key, node = self._file(path)
            except ImageError:
                continue
            if key not in self._content and node.entry.size <= limit:
                wanted[key] = node.entry.size
        if wanted:
            self._fetch(wanted)

    def _file(self, path: str) -> tuple[tuple[int, int], _Node]:
        resolved = self.resolve(path)
        node = self._nodes.get(resolved) if resolved is not None else None
        if node is None:
            raise ImageError(f"/{normalise(path)}: no such file in the image")
        if node.entry.type not in ("file", "hardlink") or node.source is None:
            raise ImageError(f"/{normalise(path)}: not a regular file ({node.entry.type})")
        return node.source, node

    def _fetch(self, wanted: dict[tuple[int, int], int], *, force: bool = False) -> None:
        by_layer: dict[int, list[int]] = {}
        for layer_index, offset in wanted:
            by_layer.setdefault(layer_index, []).append(offset)
        for layer_index, offsets in sorted(by_layer.items()):
            layer = self.image.layers[layer_index]
            if not self._compressed.get(layer_index, True):
                for offset in offsets:
                    with self._slice(layer, offset, wanted[(layer_index, offset)]) as stream:
                        self._remember(layer_index, offset, stream.read(), force=force)
                continue
            sinks: dict[int, IO[bytes]] = {offset: io.BytesIO() for offset in offsets}
            self._stream_layer(layer, sinks)
            for offset, sink in sinks.items():
                self._remember(layer_index, offset, sink.getvalue(), force=force)  # type: ignore[attr-defined]

    def _stream_layer(self, layer: Layer, sinks: dict[int, IO[bytes]]) -> None:
        """Stream a layer once, copying the data at each offset into its sink."""
        remaining = set(sinks)
        with self._layer_tar(layer) as tar:
            for member in _members(tar, layer):
                if member.offset_data not in remaining or not member.isfile():
                    continue
                stream = tar.extractfile(member)
                if stream is not None:
                    with stream:
                        while chunk := stream.read(_CHUNK):
                            sinks[member.offset_data].write(chunk)
                remaining.discard(member.offset_data)
        if remaining:
            raise ImageError(f"layer {layer.digest}: content changed since it was scanned")

    def _slice(self, layer: Layer, offset: int, size: int) -> BinaryIO:
        """The bytes of one member of an uncompressed layer, read in place."""
        handle = self.layout.blob_path(layer.digest).open("rb")
        handle.seek(offset)
        return io.BufferedReader(_Bounded(handle, size))

    @contextmanager
    def _layer_tar(
        self, layer: Layer, *, budget: ExpansionBudget | None = None, diff_id: str | None = None
    ) -> Iterator[tarfile.TarFile]:
        self.layer_passes += 1
        with open_layer_tar(self.layout, layer, budget=budget, diff_id=diff_id) as (tar, compressed):
            self._compressed[layer.index] = compressed
            yield tar


def _diff_ids(image: Image) -> list[str] | None:
    """The config's ``rootfs.diff_ids``, one per layer; None when the config has none."""
    rootfs = image.config.get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if diff_ids is None:
        return None
    if not isinstance(diff_ids, list) or not all(isinstance(d, str) for d in diff_ids):
        raise ImageError("image config: rootfs.diff_ids is not a list of digests")
    if len(diff_ids) != len(image.layers):
        raise ImageError(
            f"image config: rootfs.diff_ids lists {len(diff_ids)} layer(s), the manifest {len(image.layers)}"
        )
    return diff_ids


def _members(tar: tarfile.TarFile, layer: Layer) -> Iterator[tarfile.TarInfo]:
    """The members of a layer tar, turning the many ways a tar can break into ImageError."""
    try:
        yield from tar
    except (tarfile.TarError, EOFError, zlib.error, OSError, ValueError) as exc:
        raise ImageError(f"layer {layer.digest}: damaged tar stream: {exc}") from exc


class _Bounded(io.RawIOBase):
    """At most ``size`` bytes from the current position of ``raw`` (which it closes)."""

    def __init__(self, raw: BinaryIO, size: int) -> None:
        self._raw = raw
        self._left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._left <= 0:
            return 0
        view = memoryview(buffer)[: self._left]
        count = self._raw.readinto(view)  # type: ignore[attr-defined]
        self._left -= count
        return int(count)

    def close(self) -> None:
        self._raw.close()
        super().close()


class _HeadFirst(io.RawIOBase):
    """A file's known first bytes; the rest is loaded (a layer pass) only if someone reads on."""

    def __init__(self, head: bytes, size: int, load: Callable[[], BinaryIO]) -> None:
        self._head = head
        self._size = size
        self._load = load
        self._position = 0
        self._full: BinaryIO | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer)
        if self._position < len(self._head):
            data = self._head[self._position : self._position + len(view)]
        elif self._position >= self._size:
            return 0
        else:
            if self._full is None:
                self._full = self._load()
                self._full.seek(self._position)
            data = self._full.read(len(view))
        view[: len(data)] = data
        self._position += len(data)
        return len(data)

    def close(self) -> None:
        if self._full is not None:
            self._full.close()
        super().close()


__all__: Sequence[str] = [
    "MAX_ENTRIES",
    "MAX_PATH",
    "ImageFilesystem",
    "is_shared_library_name",
    "normalise",
]
