"""Canonical tar: rewrite one layer's tar stream so that the same file system always gives
the same bytes, whatever engine, tar writer or clock produced it.

Two passes, memory bounded by the number of entries, never by their size:

1. :func:`scan_layer` reads the (optionally gzip-compressed) stream once with a strict
   parser of its own, checks every header, and copies file data to a spool file on disk;
2. :func:`write_layer` writes the canonical tar from the entry table and the spool.

The canonical form (version 1):

- entries sorted by path component by component, so a directory comes right before its
  contents; in each directory an opaque marker ``.wh..wh..opq`` first, then whiteouts
  ``.wh.*``, then the rest (the order the OCI spec recommends); the root, if the layer has
  it, is ``./``; directories end with ``/``; paths are relative (a leading ``/`` or ``./``
  is dropped, as runtimes do);
- hard links: within a group of names for one file the first name in that order holds the
  data and the others link to it, whichever name the engine stored the data under;
- ustar headers, with a PAX extended header only when something does not fit ustar:
  names or link targets over 100 bytes or not ASCII, large ids, sizes or times, and
  xattrs (``SCHILY.xattr.*``, in sorted order; ``security.selinux`` is dropped: it is the
  build host's label, not image content); records sorted by key;
- mtime ``min(mtime, source_date_epoch)`` (whole seconds, never negative); atime, ctime,
  uname, gname and every other PAX record dropped; numeric uid/gid kept; mode keeps the
  permission, set-id and sticky bits; device numbers only on device nodes;
- no GNU extensions, no global headers, two zero blocks at the end and no record padding.

Why a tar parser and writer of its own, not :mod:`tarfile`: the normaliser must refuse
layers that tar readers disagree about (two PAX headers in a row, a GNU long name beside a
PAX path, global headers that set file fields), and :mod:`tarfile` silently picks one
reading; it must see every header byte to do that, in one streaming pass that spools
data to disk. And the canonical form is defined byte for byte (when a PAX header is
written, record order, no record padding), which :mod:`tarfile`'s writer does not let a
caller control. Everything that reads layers after normalisation or for comparison goes
through :mod:`repro.layers.layertar` (tarfile with guards), since those only need
tarfile's reading of an archive, the one Python tools and runtimes share.

Hostile input raises :class:`~repro.errors.ImageError` naming the layer and entry: paths
climbing out of the root, hard links to directories or out of the root, an entry beneath a
non-directory of the same layer (the one case where reordering would change what a runtime
extracts), non-UTF-8 names, checksum errors, truncation, trailing garbage, sparse and
multi-volume entries, headers readers disagree about (two PAX headers in a row, a GNU long
name and a PAX path together, a global header that sets file fields), and the limits of
:class:`Limits`. Symbolic links are data: their targets are kept verbatim, since nothing
here ever extracts a layer.

One module, though long: the parser's checks and the writer's canonical form are two
halves of one definition (what the writer emits is exactly what the parser accepts), so
they are read and changed together.
"""

from __future__ import annotations

import os
import re
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Final, Protocol

from repro.digest import Digest
from repro.errors import ImageError
from repro.layers.scrub import Scrubber

BLOCK: Final = 512
CHUNK: Final = 1 << 20
GIB: Final = 1 << 30
MIB: Final = 1 << 20

REG: Final = b"0"
LNK: Final = b"1"
SYM: Final = b"2"
CHR: Final = b"3"
BLK: Final = b"4"
DIR: Final = b"5"
FIFO: Final = b"6"
_PAX: Final = b"x"
_PAX_GLOBAL: Final = b"g"
_GNU_LONGNAME: Final = b"L"
_GNU_LONGLINK: Final = b"K"
_KIND_NAMES: Final = {
    REG: "file",
    LNK: "hard link",
    SYM: "symlink",
    CHR: "character device",
    BLK: "block device",
    DIR: "directory",
    FIFO: "fifo",
}
_REJECTED_TYPES: Final = {
    b"S": "GNU sparse file",
    b"D": "GNU dump directory",
    b"M": "GNU multi-volume continuation",
    b"N": "GNU old long name",
    b"V": "GNU volume header",
}

OPAQUE: Final = ".wh..wh..opq"
WHITEOUT_PREFIX: Final = ".wh."
#: xattrs that describe the build host rather than the image.
DROPPED_XATTRS: Final = frozenset({"security.selinux"})
#: PAX keys that set file fields: a global header with any of them is refused.
_FILE_FIELDS: Final = frozenset({"path", "linkpath", "size", "uid", "gid", "mtime", "uname", "gname"})
_OCTAL: Final = re.compile(rb"[0-7]+")
_DECIMAL: Final = re.compile(rb"-?[0-9]+(?:\.[0-9]*)?")

_USTAR_MAGIC: Final = b"ustar\x0000"
_GNU_MAGIC: Final = b"ustar  \x00"
_MAX_OCTAL_8: Final = 8**7 - 1
_MAX_OCTAL_12: Final = 8**11 - 1
_ZERO_BLOCK: Final = bytes(BLOCK)


@dataclass(frozen=True)
class Limits:
    """Bounds on what one layer may expand to; exceeding one raises :class:`ImageError`.

    The ratio check starts once a layer has expanded past ``ratio_grace_bytes``, so a small
    layer of zeros is fine while a gzip bomb is stopped early.
    """

    max_layer_bytes: int = 64 * GIB
    max_entry_bytes: int = 64 * GIB
    max_entries: int = 1_000_000
    max_ratio: int = 200
    ratio_grace_bytes: int = 256 * MIB
    max_metadata_bytes: int = 1 * MIB
    max_path_bytes: int = 4096


DEFAULT_LIMITS: Final = Limits()


class _Sink(Protocol):
    def write(self, data: bytes, /) -> object: ...


# --- reading ----------------------------------------------------------------------------


class _ChunkSource:
    """Decompressed (or raw) chunks of a layer stream, with the size limits applied."""

    def __init__(self, raw: BinaryIO, limits: Limits, where: str) -> None:
        self._raw = raw
        self._limits = limits
        self._where = where
        self._compressed_in = 0
        self.produced = 0
        first = raw.read(CHUNK)
        self._compressed_in += len(first)
        self.gzip = first[:2] == b"\x1f\x8b"
        if first[:4] == b"\x28\xb5\x2f\xfd":
            raise ImageError(f"{where}: zstd-compressed layers are not supported")
        self._pending = first
        self._inflater = zlib.decompressobj(31) if self.gzip else None
        self._done = False

    def _fail(self, problem: str) -> ImageError:
        return ImageError(f"{self._where}: {problem}")

    def _count(self, data: bytes) -> bytes:
        self.produced += len(data)
        limits = self._limits
        if self.produced > limits.max_layer_bytes:
            raise ImageError(
                f"{self._where}: expands to more than {limits.max_layer_bytes} bytes",
                hint="raise Limits.max_layer_bytes if the layer is really that large",
            )
        if (
            self.gzip
            and self.produced > limits.ratio_grace_bytes
            and self.produced > limits.max_ratio * max(self._compressed_in, 1)
        ):
            raise ImageError(
                f"{self._where}: expands more than {limits.max_ratio} times its compressed size "
                "(a decompression bomb?)",
                hint="raise Limits.max_ratio if the layer really holds that much repeated data",
            )
        return data

    def _read_raw(self) -> bytes:
        data = self._raw.read(CHUNK)
        self._compressed_in += len(data)
        return data

    def next(self) -> bytes:
        """The next chunk (at most about :data:`CHUNK` bytes), or ``b""`` at the end."""
        if self._done:
            return b""
        if self._inflater is None:
            data = self._pending or self._read_raw()
            self._pending = b""
            if not data:
                self._done = True
            return self._count(data)
        while True:
            inflater = self._inflater
            if inflater.unconsumed_tail:
                source = inflater.unconsumed_tail
            else:
                source = self._pending or self._read_raw()
                self._pending = b""
            if inflater.eof:
                rest = inflater.unused_data + source
                if not rest:
                    rest = self._read_raw()
                    if not rest:
                        self._done = True
                        return b""
                if rest[:2] != b"\x1f\x8b":
                    raise self._fail("data after the end of the gzip stream")
                # Another gzip member: gzip(1) and Go read concatenated members as one stream.
                self._inflater = zlib.decompressobj(31)
                self._pending = rest
                continue
            if not source:
                raise self._fail("truncated gzip stream")
            try:
                out = inflater.decompress(source, CHUNK)
            except zlib.error as exc:
                raise self._fail(f"corrupt gzip stream: {exc}") from None
            if out:
                return self._count(out)


class _Reader:
    """Exact reads over a chunk source."""

    def __init__(self, source: _ChunkSource, where: str) -> None:
        self._source = source
        self._buf = b""
        self._pos = 0
        self.offset = 0
        self._where = where

    def read_up_to(self, size: int) -> bytes:
        if self._pos >= len(self._buf):
            self._buf = self._source.next()
            self._pos = 0
        data = self._buf[self._pos : self._pos + size]
        self._pos += len(data)
        self.offset += len(data)
        return data

    def read_exact(self, size: int, what: str) -> bytes:
        parts = []
        need = size
        while need:
            data = self.read_up_to(need)
            if not data:
                raise ImageError(f"{self._where}: truncated in {what} at offset {self.offset}")
            parts.append(data)
            need -= len(data)
        return b"".join(parts)

    def copy(self, size: int, write: Callable[[bytes], object], what: str) -> None:
        need = size
        while need:
            data = self.read_up_to(min(need, CHUNK))
            if not data:
                raise ImageError(f"{self._where}: truncated in {what} at offset {self.offset}")
            write(data)
            need -= len(data)

    def skip(self, size: int, what: str) -> None:
        self.copy(size, lambda _data: None, what)


# --- the entry table --------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class Inode:
    """One file of a layer; hard links share it. Times are already clamped."""

    kind: bytes
    mode: int
    uid: int
    gid: int
    mtime: int
    size: int = 0
    offset: int = 0  # of the data in the spool file
    linkname: str = ""  # symlink target, or an external hard link's target
    devmajor: int = 0
    devminor: int = 0
    xattrs: tuple[tuple[str, bytes], ...] = ()


@dataclass
class ScannedLayer:
    """What :func:`scan_layer` learnt: paths to inodes, and where the data is spooled."""

    where: str
    entries: dict[str, Inode]
    spool: Path
    input_bytes: int
    ignored: list[str] = field(default_factory=list)

    def paths(self) -> Iterator[str]:
        return iter(self.entries)

    def close(self) -> None:
        self.spool.unlink(missing_ok=True)


def _octal_or_base256(field_bytes: bytes, what: str, fail: Callable[[str], ImageError]) -> int:
    if field_bytes and field_bytes[0] & 0x80:
        if field_bytes[0] == 0xFF:
            return int.from_bytes(field_bytes, "big", signed=True)
        return int.from_bytes(bytes([field_bytes[0] & 0x7F]) + field_bytes[1:], "big")
    text = field_bytes.strip(b" \x00")
    if not text:
        return 0
    if _OCTAL.fullmatch(text) is None:
        raise fail(f"invalid {what} field {field_bytes!r}")
    return int(text, 8)


def _c_string(data: bytes) -> bytes:
    return data.split(b"\x00", 1)[0]


def _parse_pax(data: bytes, fail: Callable[[str], ImageError]) -> dict[str, bytes]:
    records: dict[str, bytes] = {}
    pos = 0
    while pos < len(data):
        if data[pos] == 0 and not data[pos:].strip(b"\x00"):
            break  # some writers pad the record block with NULs
        space = data.find(b" ", pos)
        length_text = data[pos:space] if space > 0 else b""
        if not length_text.isdigit():
            raise fail("malformed PAX record length")
        length = int(length_text)
        record = data[pos : pos + length]
        if length <= len(length_text) + 1 or len(record) != length or not record.endswith(b"\n"):
            raise fail("malformed PAX record")
        key_bytes, eq, value = record[len(length_text) + 1 : -1].partition(b"=")
        if not eq:
            raise fail("PAX record without '='")
        try:
            key = key_bytes.decode("utf-8")
        except UnicodeDecodeError:
            raise fail(f"PAX key {key_bytes!r} is not UTF-8") from None
        if key in records:
            raise fail(f"PAX record {key!r} given twice")
        records[key] = value
        pos += length
    return records


def _clean_path(raw: str, fail: Callable[[str], ImageError]) -> str:
    """A relative path without ``.``, ``..`` or empty components; ``""`` is the root."""
    parts: list[str] = []
    for part in raw.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise fail("path climbs out of the layer root")
            parts.pop()
            continue
        parts.append(part)
    return "/".join(parts)


def _decode(data: bytes, what: str, fail: Callable[[str], ImageError]) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise fail(f"{what} is not valid UTF-8") from None
    if "\x00" in text:
        raise fail(f"{what} contains a NUL byte")
    return text


def _pax_int(value: bytes, key: str, fail: Callable[[str], ImageError]) -> int:
    if _DECIMAL.fullmatch(value) is None:
        raise fail(f"invalid PAX {key} {value[:40]!r}")
    whole = value.split(b".", 1)[0]
    number = int(whole)
    # Sub-second parts are dropped; a negative time rounds toward minus infinity.
    if number < 0 and value != whole and value.split(b".", 1)[1].strip(b"0"):
        number -= 1
    return number


def scan_layer(
    raw: BinaryIO,
    spool_dir: Path,
    *,
    source_date_epoch: int,
    limits: Limits = DEFAULT_LIMITS,
    where: str = "layer",
) -> ScannedLayer:
    """Read one layer stream (tar, or gzip of a tar) and spool its file data to disk.

    The whole stream is consumed, so a verifying reader sees every byte.
    """
    fd, spool_name = tempfile.mkstemp(dir=spool_dir, prefix=".spool-")
    spool_path = Path(spool_name)
    try:
        with os.fdopen(fd, "wb") as spool:
            scanner = _Scanner(_ChunkSource(raw, limits, where), spool, source_date_epoch, limits, where)
            scanner.run()
        return ScannedLayer(
            where=where,
            entries=scanner.entries,
            spool=spool_path,
            input_bytes=scanner.source.produced,
            ignored=scanner.ignored,
        )
    except BaseException:
        spool_path.unlink(missing_ok=True)
        raise


@dataclass
class _Extended:
    """Extended headers (PAX, GNU long name/link) waiting for the entry they describe."""

    pax: dict[str, bytes] | None = None
    long_name: bytes | None = None
    long_link: bytes | None = None

    def pending(self) -> bool:
        return self.pax is not None or self.long_name is not None or self.long_link is not None


class _Scanner:
    """The strict tar parser behind :func:`scan_layer`."""

    def __init__(self, source: _ChunkSource, spool: BinaryIO, epoch: int, limits: Limits, where: str) -> None:
        self.source = source
        self.reader = _Reader(source, where)
        self.spool = spool
        self.epoch = epoch
        self.limits = limits
        self.where = where
        self.entries: dict[str, Inode] = {}
        self.external_links: dict[str, str] = {}  # link path -> target path (in a lower layer)
        self.ignored: list[str] = []
        self.spooled = 0
        self.extended = _Extended()

    def fail_at(self, problem: str) -> ImageError:
        return ImageError(f"{self.where}: header at offset {self.reader.offset - BLOCK}: {problem}")

    def run(self) -> None:
        count = 0
        while (block := self._next_block()) is not None:
            count += 1
            if count > self.limits.max_entries:
                raise ImageError(
                    f"{self.where}: more than {self.limits.max_entries} tar headers",
                    hint="raise Limits.max_entries if the layer really has that many files",
                )
            self._check_checksum(block)
            typeflag = block[156:157]
            size = _octal_or_base256(block[124:136], "size", self.fail_at)
            if size < 0:
                raise self.fail_at(f"negative size {size}")
            if typeflag in (_PAX, _PAX_GLOBAL, _GNU_LONGNAME, _GNU_LONGLINK):
                self._extended_header(typeflag, size)
            else:
                extended, self.extended = self.extended, _Extended()
                self._entry(block, typeflag, size, extended)
        self._check_table()

    def _next_block(self) -> bytes | None:
        """The next header block, or None at the end of the archive."""
        reader = self.reader
        block = reader.read_up_to(BLOCK)
        if block and len(block) < BLOCK:
            block += reader.read_exact(BLOCK - len(block), "a header")
        if block and block != _ZERO_BLOCK:
            return block
        if self.extended.pending():
            raise self.fail_at("archive ends after an extended header")
        # The end-of-archive marker (or the end of the stream without one, which tar and Go
        # accept too); whatever follows the marker must be zeros.
        while data := reader.read_up_to(CHUNK):
            if data.count(0) != len(data):
                raise ImageError(
                    f"{self.where}: non-zero data after the end-of-archive marker at offset "
                    f"{reader.offset - len(data)}"
                )
        return None

    def _check_checksum(self, block: bytes) -> None:
        unsigned = sum(block[:148]) + 8 * 0x20 + sum(block[156:])
        # Some old writers summed signed chars; tar, Go and Python accept both sums.
        high = sum(1 for b in block[:148] + block[156:] if b > 0x7F)
        checksum = _octal_or_base256(block[148:156], "checksum", self.fail_at)
        if checksum not in (unsigned, unsigned - 0x100 * high):
            raise self.fail_at("header checksum mismatch (corrupt or not a tar archive)")

    def _extended_header(self, typeflag: bytes, size: int) -> None:
        if size > self.limits.max_metadata_bytes:
            raise self.fail_at(f"extended header of {size} bytes (limit {self.limits.max_metadata_bytes})")
        data = self.reader.read_exact(size, "an extended header")
        self.reader.skip(-size % BLOCK, "padding")
        extended = self.extended
        if typeflag == _PAX_GLOBAL:
            records = _parse_pax(data, self.fail_at)
            if _FILE_FIELDS & records.keys() or any(k.startswith("SCHILY.xattr.") for k in records):
                raise self.fail_at("a PAX global header sets file fields (readers disagree on those)")
            self.ignored.append("PAX global header")
        elif typeflag == _PAX:
            if extended.pax is not None:
                raise self.fail_at("two PAX headers for one entry")
            extended.pax = _parse_pax(data, self.fail_at)
            if any(k.startswith("GNU.sparse.") for k in extended.pax):
                raise self.fail_at("sparse files are not supported")
        elif typeflag == _GNU_LONGNAME:
            if extended.long_name is not None:
                raise self.fail_at("two GNU long-name headers for one entry")
            extended.long_name = _c_string(data)
        else:
            if extended.long_link is not None:
                raise self.fail_at("two GNU long-link headers for one entry")
            extended.long_link = _c_string(data)

    def _names(self, block: bytes, records: dict[str, bytes], extended: _Extended) -> tuple[bytes, bytes]:
        name = _c_string(block[0:100])
        if block[257:263] == b"ustar\x00":  # POSIX ustar: GNU tar keeps other data there
            prefix = _c_string(block[345:500])
            if prefix:
                name = prefix + b"/" + name
        link = _c_string(block[157:257])
        if extended.long_name is not None:
            if records.get("path"):
                raise self.fail_at("both a GNU long name and a PAX path")
            name = extended.long_name
        if extended.long_link is not None:
            if records.get("linkpath"):
                raise self.fail_at("both a GNU long link and a PAX linkpath")
            link = extended.long_link
        name = records.get("path") or name
        link = records.get("linkpath") or link
        if len(name) > self.limits.max_path_bytes or len(link) > self.limits.max_path_bytes:
            raise self.fail_at(f"name longer than {self.limits.max_path_bytes} bytes")
        return name, link

    def _entry(self, block: bytes, typeflag: bytes, size: int, extended: _Extended) -> None:
        records = extended.pax or {}
        name_bytes, link_bytes = self._names(block, records, extended)
        raw_name = _decode(name_bytes, f"name {name_bytes[:200]!r}", self.fail_at)

        def fail(problem: str) -> ImageError:
            return ImageError(f"{self.where}: entry {raw_name!r}: {problem}")

        kind = self._kind(typeflag, raw_name, fail)
        if records.get("size"):
            size = _pax_int(records["size"], "size", fail)
        if size < 0:
            raise fail(f"negative size {size}")
        if kind != REG and size:
            raise fail(f"a {_KIND_NAMES[kind]} with {size} bytes of data")
        if size > self.limits.max_entry_bytes:
            raise fail(f"size {size} exceeds the limit of {self.limits.max_entry_bytes} bytes")
        inode = self._inode(block, kind, records, fail)
        path = _clean_path(raw_name, fail)
        if path == "" and kind != DIR:
            raise fail(f"the layer root is a {_KIND_NAMES[kind]}")
        external: str | None = None
        if kind == REG:
            inode.size, inode.offset = size, self.spooled
            self.reader.copy(size, self.spool.write, f"the data of {raw_name!r}")
            self.reader.skip(-size % BLOCK, "padding")
            self.spooled += size
        elif kind == SYM:
            if not link_bytes:
                raise fail("symlink with an empty target")
            inode.linkname = _decode(link_bytes, "symlink target", fail)
        elif kind == LNK:
            target = _clean_path(_decode(link_bytes, "hard link target", fail), fail)
            if target == path:
                raise fail("hard link to itself")
            if target in self.entries:
                inode = self.entries[target]
                if inode.kind == DIR:
                    raise fail(f"hard link to the directory {target!r}")
            elif target == "":
                raise fail("hard link to the layer root")
            else:
                # The target is in a lower layer: runtimes resolve it in the root file system.
                inode.linkname = external = target
        # A later entry replaces an earlier one of the same path, as extraction does.
        self.entries.pop(path, None)
        self.entries[path] = inode
        if external is not None:
            self.external_links[path] = external
        else:
            self.external_links.pop(path, None)

    @staticmethod
    def _kind(typeflag: bytes, raw_name: str, fail: Callable[[str], ImageError]) -> bytes:
        if typeflag in _REJECTED_TYPES:
            raise fail(f"{_REJECTED_TYPES[typeflag]} entries are not supported")
        if typeflag in (b"\x00", b"7"):
            return DIR if typeflag == b"\x00" and raw_name.endswith("/") else REG
        if typeflag in _KIND_NAMES:
            return typeflag
        raise fail(f"unknown entry type {typeflag!r}")

    def _inode(
        self, block: bytes, kind: bytes, records: dict[str, bytes], fail: Callable[[str], ImageError]
    ) -> Inode:
        numbers = {}
        for key, start, end in (("uid", 108, 116), ("gid", 116, 124), ("mtime", 136, 148)):
            value = records.get(key)
            numbers[key] = (
                _pax_int(value, key, fail) if value else _octal_or_base256(block[start:end], key, fail)
            )
        if numbers["uid"] < 0 or numbers["gid"] < 0:
            raise fail(f"negative uid/gid {numbers['uid']}/{numbers['gid']}")
        devmajor = devminor = 0
        if kind in (CHR, BLK):
            devmajor = _octal_or_base256(block[329:337], "devmajor", fail)
            devminor = _octal_or_base256(block[337:345], "devminor", fail)
            if devmajor < 0 or devminor < 0:
                raise fail("negative device number")
        xattrs: list[tuple[str, bytes]] = []
        for key, value in records.items():
            if key.startswith("SCHILY.xattr."):
                attr = key.removeprefix("SCHILY.xattr.")
                if not attr or "\x00" in attr:
                    raise fail(f"invalid xattr name {attr!r}")
                if attr not in DROPPED_XATTRS:
                    xattrs.append((attr, value))
        return Inode(
            kind=kind,
            mode=_octal_or_base256(block[100:108], "mode", fail) & 0o7777,
            uid=numbers["uid"],
            gid=numbers["gid"],
            mtime=max(0, min(numbers["mtime"], self.epoch)),
            devmajor=devmajor,
            devminor=devminor,
            xattrs=tuple(sorted(xattrs)),
        )

    def _check_table(self) -> None:
        entries = self.entries
        for path, target in self.external_links.items():
            if target in entries:
                raise ImageError(
                    f"{self.where}: entry {path!r}: hard link to {target!r}, which the layer only adds later"
                )
        for path in entries:
            parent = path
            while "/" in parent:
                parent = parent.rsplit("/", 1)[0]
                above = entries.get(parent)
                if above is not None and above.kind != DIR:
                    raise ImageError(
                        f"{self.where}: entry {path!r} lies beneath {parent!r}, which this layer makes "
                        f"a {_KIND_NAMES[above.kind]}"
                    )


# --- writing ----------------------------------------------------------------------------


def _component_key(part: str) -> tuple[int, str]:
    if part == OPAQUE:
        return (0, part)
    if part.startswith(WHITEOUT_PREFIX):
        return (1, part)
    return (2, part)


def sort_key(path: str) -> tuple[tuple[int, str], ...]:
    """The canonical order: by component (parents first), markers and whiteouts first."""
    if not path:
        return ()
    return tuple(_component_key(part) for part in path.split("/"))


def _octal(value: int, width: int) -> bytes:
    return b"%0*o\x00" % (width - 1, value)


def _pax_payload(records: dict[str, bytes]) -> bytes:
    out = []
    for key in sorted(records, key=lambda k: k.encode()):
        body = b" " + key.encode() + b"=" + records[key] + b"\n"
        digits = 1
        while len(str(len(body) + digits)) != digits:
            digits += 1
        out.append(str(len(body) + digits).encode() + body)
    return b"".join(out)


def _block(
    name: bytes,
    typeflag: bytes,
    *,
    mode: int = 0,
    uid: int = 0,
    gid: int = 0,
    size: int = 0,
    mtime: int = 0,
    linkname: bytes = b"",
    devices: tuple[int, int] | None = None,
) -> bytes:
    header = b"".join(
        (
            name.ljust(100, b"\x00"),
            _octal(mode, 8),
            _octal(uid, 8),
            _octal(gid, 8),
            _octal(size, 12),
            _octal(mtime, 12),
            b" " * 8,
            typeflag,
            linkname.ljust(100, b"\x00"),
            _USTAR_MAGIC,
            bytes(64),  # uname, gname
            _octal(devices[0], 8) if devices else bytes(8),
            _octal(devices[1], 8) if devices else bytes(8),
            bytes(167),  # prefix (never used) and padding
        )
    )
    checksum = b"%06o\x00 " % sum(header)
    return header[:148] + checksum + header[156:]


def _ustar_field(text: str, records: dict[str, bytes], key: str) -> bytes:
    data = text.encode()
    if len(data) <= 100 and text.isascii():
        return data
    records[key] = data
    return text.encode("ascii", "replace")[:100]


def entry_header(name: str, inode: Inode, *, link_to: str | None = None) -> bytes:
    """The canonical header block(s) of one entry (a PAX header first when needed).

    With ``link_to`` the entry is a hard link to that path; the inode's xattrs then stay
    on the entry that holds the file.
    """
    kind = inode.kind if link_to is None else LNK
    linkname = inode.linkname if link_to is None else link_to
    records: dict[str, bytes] = {}
    name_field = _ustar_field(name, records, "path")
    link_field = _ustar_field(linkname, records, "linkpath") if linkname else b""
    size = inode.size if kind == REG else 0
    numbers = {"uid": inode.uid, "gid": inode.gid, "size": size, "mtime": inode.mtime}
    maxima = {"uid": _MAX_OCTAL_8, "gid": _MAX_OCTAL_8, "size": _MAX_OCTAL_12, "mtime": _MAX_OCTAL_12}
    for key, number in numbers.items():
        if number > maxima[key]:
            records[key] = str(number).encode()
            numbers[key] = 0
    for attr, value in inode.xattrs if link_to is None else ():
        records[f"SCHILY.xattr.{attr}"] = value
    block = _block(
        name_field,
        kind,
        mode=inode.mode,
        uid=numbers["uid"],
        gid=numbers["gid"],
        size=numbers["size"],
        mtime=numbers["mtime"],
        linkname=link_field,
        devices=(inode.devmajor, inode.devminor) if kind in (CHR, BLK) else None,
    )
    if not records:
        return block
    payload = _pax_payload(records)
    pax_header = _block(b"././@PaxHeader", _PAX, size=len(payload))
    return pax_header + payload + bytes(-len(payload) % BLOCK) + block


@dataclass(frozen=True)
class LayerWriteResult:
    """The canonical tar's digest (the diff ID) and size, and what was scrubbed."""

    diff_id: Digest
    size: int
    entries: int
    scrubbed: tuple[tuple[str, str], ...]  # (path, profile)


class _Output:
    """Buffers small writes; hashes and forwards everything to the sink."""

    def __init__(self, sink: _Sink) -> None:
        self._sink = sink
        self._hasher = Digest.hasher("sha256")
        self._buf = bytearray()

    def write(self, data: bytes) -> None:
        if len(data) >= CHUNK:
            self.flush()
            self._hasher.update(data)
            self._sink.write(data)
            return
        self._buf += data
        if len(self._buf) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        if self._buf:
            data = bytes(self._buf)
            self._buf.clear()
            self._hasher.update(data)
            self._sink.write(data)

    def finish(self) -> tuple[Digest, int]:
        self.flush()
        return self._hasher.digest(), self._hasher.size


def write_layer(scanned: ScannedLayer, sink: _Sink, scrubber: Scrubber | None = None) -> LayerWriteResult:
    """Write the canonical tar of ``scanned`` to ``sink`` (uncompressed)."""
    out = _Output(sink)
    primary: dict[int, str] = {}
    scrubbed: list[tuple[str, str]] = []
    written = 0
    with scanned.spool.open("rb") as spool:
        for path in sorted(scanned.entries, key=sort_key):
            inode = scanned.entries[path]
            if scrubber and inode.kind != DIR:
                profile = scrubber.match(path)
                if profile is not None:
                    scrubbed.append((path, profile))
                    continue
            name = "./" if path == "" else path + "/" if inode.kind == DIR else path
            written += 1
            if inode.kind != DIR and id(inode) in primary:
                out.write(entry_header(name, inode, link_to=primary[id(inode)]))
                continue
            primary[id(inode)] = path
            out.write(entry_header(name, inode))
            if inode.kind == REG and inode.size:
                spool.seek(inode.offset)
                remaining = inode.size
                while remaining:
                    data = spool.read(min(remaining, CHUNK))
                    if not data:
                        raise ImageError(f"{scanned.where}: spool file truncated while writing {path!r}")
                    out.write(data)
                    remaining -= len(data)
                out.write(bytes(-inode.size % BLOCK))
    out.write(bytes(2 * BLOCK))
    diff_id, size = out.finish()
    return LayerWriteResult(diff_id=diff_id, size=size, entries=written, scrubbed=tuple(scrubbed))


# --- gzip -------------------------------------------------------------------------------

COMPRESSOR: Final = "zlib"
DEFAULT_LEVEL: Final = 6
#: gzip header: magic, deflate, no flags, mtime 0, no extra flags, OS "unknown" (255), so
#: neither the clock nor the platform zlib was built for ends up in the bytes.
_GZIP_HEADER: Final = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


class GzipWriter:
    """A gzip stream with a fixed header, compressed with Python's zlib at ``level``."""

    def __init__(self, sink: _Sink, level: int = DEFAULT_LEVEL) -> None:
        self._sink = sink
        self._compressor = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS, 8, zlib.Z_DEFAULT_STRATEGY)
        self._crc = 0
        self._size = 0
        sink.write(_GZIP_HEADER)

    def write(self, data: bytes) -> int:
        self._crc = zlib.crc32(data, self._crc)
        self._size += len(data)
        compressed = self._compressor.compress(data)
        if compressed:
            self._sink.write(compressed)
        return len(data)

    def close(self) -> None:
        self._sink.write(self._compressor.flush(zlib.Z_FINISH))
        self._sink.write(self._crc.to_bytes(4, "little") + (self._size & 0xFFFFFFFF).to_bytes(4, "little"))


def canonicalize(
    raw: BinaryIO,
    sink: _Sink,
    *,
    source_date_epoch: int,
    scrubber: Scrubber | None = None,
    limits: Limits = DEFAULT_LIMITS,
    tmp_dir: Path,
    where: str = "layer",
) -> LayerWriteResult:
    """Scan ``raw`` and write its canonical tar to ``sink``: both passes in one call."""
    scanned = scan_layer(raw, tmp_dir, source_date_epoch=source_date_epoch, limits=limits, where=where)
    try:
        return write_layer(scanned, sink, scrubber)
    finally:
        scanned.close()
