"""Go modules compiled into ELF binaries, from the build information Go embeds in them.

Every Go binary built with modules carries a ``.go.buildinfo`` section: a 32-byte header
starting with ``\\xff Go buildinf:`` then, since Go 1.18, the toolchain version and the
module list as length-prefixed strings; before 1.18 the header holds pointers to Go string
headers elsewhere in the binary. The module list names the main module (``mod``), each
dependency (``dep``), replacements (``=>``) and build settings (``build``).

Only the ELF header, the section headers and that one section are read, whatever the
size of the binary. One binary gives the main module, its dependencies and ``stdlib``:

    pkg:golang/github.com/foo/bar@v1.2.3
    pkg:golang/golang.org/x/net@v0.17.0
    pkg:golang/stdlib@1.21.4

Purls follow syft: the first two path elements are the namespace, the third the name and
the rest the subpath (``pkg:golang/github.com/foo/bar@v2.0.0#v2``).
"""

from __future__ import annotations

import datetime
import functools
import json
import logging
import re
import struct
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, BinaryIO

from repro.errors import ImageError
from repro.layers.fileview import FileEntry, FileView
from repro.sbom import purl
from repro.sbom.model import CatalogContext, Package

__all__ = ["BuildInfo", "GoCataloger", "Module", "go_purl", "parse_modinfo", "read_buildinfo", "scan_version"]

log = logging.getLogger(__name__)

BUILDINFO_MAGIC = b"\xff Go buildinf:"
MAX_SECTION_HEADERS = 65536
MAX_BUILDINFO_SIZE = 16 * 1024 * 1024
MAX_SPOOL_SIZE = 2 * 1024 * 1024 * 1024
DEVEL = "(devel)"

_SHT_NOBITS = 8
_FLAG_BIG_ENDIAN = 0x1
_FLAG_VERSION_INLINE = 0x2
_LDFLAGS_VERSION = (
    re.compile(r"\.([gG]it)?([bB]uild)?[vV]ersion=(\S+/)*(?P<version>v?\d+.\d+.\d+[-\w]*[+\w]*)"),
    re.compile(r"\.([gG]it)?([bB]uild)?[tT]ag=(\S+/)*(?P<version>v?\d+.\d+.\d+[-\w]*[+\w]*)"),
)


# A version string embedded in the binary (syft's "from contents" main module version).
_CONTENTS_VERSION = re.compile(
    rb"\x00(v?(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)"
    rb"(?:-(?:(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    rb"(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?)\x00"
)
_MAX_CONTENTS_VERSION = 4096


class BuildInfoError(ValueError):
    """A binary's Go build information is malformed."""


@dataclass(frozen=True)
class Module:
    path: str
    version: str
    sum: str = ""
    replaced_by: Module | None = None

    @property
    def effective(self) -> Module:
        """The module that was really compiled in (the replacement, if any)."""
        return self.replaced_by or self


@dataclass(frozen=True)
class BuildInfo:
    go_version: str  # "go1.21.4"
    path: str = ""  # the main package
    main: Module | None = None
    deps: tuple[Module, ...] = ()
    settings: dict[str, str] = field(default_factory=dict)


def go_purl(module_path: str, version: str) -> str:
    fields = module_path.split("/")
    namespace, subpath = "", ""
    if len(fields) == 1:
        name = fields[0]
    elif len(fields) == 2:
        namespace, name = fields
    else:
        namespace, name, subpath = "/".join(fields[:2]), fields[2], "/".join(fields[3:])
    return purl.build("golang", namespace, name, version, subpath=subpath)


# --- module list ----------------------------------------------------------------------


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == "`":
        return text[1:-1]
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            value = json.loads(text)
        except ValueError:
            return text[1:-1]
        return value if isinstance(value, str) else text[1:-1]
    return text


def _build_setting(text: str) -> tuple[str, str]:
    if text[:1] in ('"', "`"):
        quote = text[0]
        end = text.find(quote, 1)
        while quote == '"' and end > 0 and text[end - 1] == "\\":
            end = text.find(quote, end + 1)
        if end < 0 or text[end + 1 : end + 2] != "=":
            raise BuildInfoError(f"malformed build line: {text[:80]!r}")
        return _unquote(text[: end + 1]), _unquote(text[end + 2 :])
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise BuildInfoError(f"malformed build line: {text[:80]!r}")
    return key, _unquote(value)


def parse_modinfo(go_version: str, text: str) -> BuildInfo:
    """Parse the module list of ``go version -m`` / ``debug.BuildInfo.String()``."""
    path = ""
    main: Module | None = None
    deps: list[Module] = []
    settings: dict[str, str] = {}
    last: str | None = None  # what a "=>" line replaces: "main" or "dep"
    for line in text.splitlines():
        kind, _, rest = line.partition("\t")
        columns = rest.split("\t")
        if kind == "path":
            path = rest
        elif kind in ("mod", "dep", "=>"):
            if len(columns) < 2 and kind != "=>":
                raise BuildInfoError(f"malformed {kind} line: {line[:80]!r}")
            module = Module(
                columns[0], columns[1] if len(columns) > 1 else "", columns[2] if len(columns) > 2 else ""
            )
            if kind == "mod":
                main, last = module, "main"
            elif kind == "dep":
                deps.append(module)
                last = "dep"
            elif last == "main" and main is not None:
                main = Module(main.path, main.version, main.sum, module)
            elif last == "dep":
                deps[-1] = Module(deps[-1].path, deps[-1].version, deps[-1].sum, module)
            else:
                raise BuildInfoError("replacement line before any module")
        elif kind == "build":
            key, value = _build_setting(rest)
            settings[key] = value
    return BuildInfo(go_version, path, main, tuple(deps), settings)


# --- ELF ------------------------------------------------------------------------------
#
# Why an ELF reader of its own rather than pyelftools: what is needed is the ELF header,
# the section header table and one section, read at offsets from a stream that comes out
# of a layer tar. This reader is a few dozen lines, reads nothing else, and bounds every
# read (MAX_SECTION_HEADERS, MAX_BUILDINFO_SIZE: a hostile binary that claims a huge
# section table is refused, not read); pyelftools parses far more than needed, would be a new dependency for every
# install, and its errors would have to be mapped back onto BuildInfoError anyway.


@dataclass(frozen=True)
class _Section:
    name_offset: int
    type: int
    address: int
    offset: int
    size: int


class _Elf:
    """Just enough of an ELF file: its section headers, and reads at file offsets."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        ident = self._read_at(0, 16)
        if ident[:4] != b"\x7fELF":
            raise BuildInfoError("not an ELF file")
        if ident[4] not in (1, 2) or ident[5] not in (1, 2):
            raise BuildInfoError("unknown ELF class or byte order")
        self.is64 = ident[4] == 2
        self.endian = "<" if ident[5] == 1 else ">"
        if self.is64:
            shoff, shentsize, shnum, shstrndx = self._unpack(0x28, "Q") + self._unpack(0x3A, "HHH")
            entry_format, expected_size = "IIQQQQ", 64
        else:
            shoff, shentsize, shnum, shstrndx = self._unpack(0x20, "I") + self._unpack(0x2E, "HHH")
            entry_format, expected_size = "IIIIII", 40
        if shnum == 0 or shoff == 0:
            raise BuildInfoError("no section headers")
        if shentsize < expected_size or shnum > MAX_SECTION_HEADERS or shstrndx >= shnum:
            raise BuildInfoError("implausible section header table")
        table = self._read_at(shoff, shentsize * shnum)
        self.sections = []
        for index in range(shnum):
            name, kind, _flags, address, offset, size = struct.unpack_from(
                self.endian + entry_format, table, index * shentsize
            )
            self.sections.append(_Section(name, kind, address, offset, size))
        names = self.sections[shstrndx]
        self.names = self._read_at(names.offset, min(names.size, MAX_BUILDINFO_SIZE))

    def _unpack(self, offset: int, fmt: str) -> tuple[int, ...]:
        size = struct.calcsize(self.endian + fmt)
        return struct.unpack(self.endian + fmt, self._read_at(offset, size))

    def _read_at(self, offset: int, size: int) -> bytes:
        self.stream.seek(offset)
        data = self.stream.read(size)
        if len(data) != size:
            raise BuildInfoError(f"file ends before offset {offset + size}")
        return data

    def section(self, wanted: str) -> _Section | None:
        for section in self.sections:
            end = self.names.find(b"\0", section.name_offset)
            if end >= 0 and self.names[section.name_offset : end] == wanted.encode():
                return section
        return None

    def read_section(self, section: _Section, limit: int) -> bytes:
        return self._read_at(section.offset, min(section.size, limit))

    def read_address(self, address: int, size: int) -> bytes:
        if size > MAX_BUILDINFO_SIZE:
            raise BuildInfoError("string larger than the build information may be")
        for section in self.sections:
            if section.type != _SHT_NOBITS and section.address <= address < section.address + section.size:
                if address + size > section.address + section.size:
                    raise BuildInfoError("string runs past its section")
                return self._read_at(section.offset + address - section.address, size)
        raise BuildInfoError(f"address {address:#x} is in no section")


def _uvarint(data: bytes, offset: int) -> tuple[int, int]:
    value, shift = 0, 0
    while offset < len(data) and shift < 64:
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, offset
        shift += 7
    raise BuildInfoError("truncated varint")


def _inline_string(data: bytes, offset: int) -> tuple[str, int]:
    length, offset = _uvarint(data, offset)
    if offset + length > len(data):
        raise BuildInfoError("inline string runs past the section")
    return data[offset : offset + length].decode("utf-8", "replace"), offset + length


def _pointer_string(elf: _Elf, pointer_bytes: bytes, pointer_size: int, endian: str) -> str:
    fmt = endian + ("Q" if pointer_size == 8 else "I")
    (header_address,) = struct.unpack(fmt, pointer_bytes)
    header = elf.read_address(header_address, 2 * pointer_size)
    data_address, length = struct.unpack(endian + fmt[1] * 2, header)
    if length == 0:
        return ""
    return elf.read_address(data_address, length).decode("utf-8", "replace")


def _strip_modinfo_sentinels(modinfo: str) -> str:
    # The runtime wraps the module list in 16-byte sentinels so it can be found in memory.
    if len(modinfo) >= 33 and modinfo[-17] == "\n":
        return modinfo[16:-16]
    return ""


def read_buildinfo(stream: IO[bytes]) -> BuildInfo | None:
    """The Go build information of an ELF binary, or None if it is not a Go binary."""
    elf = _Elf(stream)
    section = elf.section(".go.buildinfo")
    if section is None or section.type == _SHT_NOBITS:
        return None
    data = elf.read_section(section, MAX_BUILDINFO_SIZE)
    if len(data) < 32 or not data.startswith(BUILDINFO_MAGIC):
        return None
    pointer_size, flags = data[14], data[15]
    if flags & _FLAG_VERSION_INLINE:
        go_version, offset = _inline_string(data, 32)
        modinfo, _ = _inline_string(data, offset)
    else:
        if pointer_size not in (4, 8):
            raise BuildInfoError(f"pointer size {pointer_size}")
        endian = ">" if flags & _FLAG_BIG_ENDIAN else "<"
        go_version = _pointer_string(elf, data[16 : 16 + pointer_size], pointer_size, endian)
        modinfo = _pointer_string(elf, data[16 + pointer_size : 16 + 2 * pointer_size], pointer_size, endian)
    if not go_version:
        return None
    return parse_modinfo(go_version, _strip_modinfo_sentinels(modinfo))


# --- cataloger ------------------------------------------------------------------------


def _main_version(info: BuildInfo, main: Module, contents_version: Callable[[], str | None]) -> str:
    """The main module's version; for ``(devel)`` builds, what syft derives instead.

    In syft's order: a version set with ``-ldflags -X``, else the first NUL-delimited
    semantic version in the binary, else a pseudo-version from the VCS build settings.
    """
    if main.version != DEVEL:
        return main.version
    ldflags = info.settings.get("-ldflags", "")
    for pattern in _LDFLAGS_VERSION:
        match = pattern.search(ldflags)
        if match:
            version = match.group("version")
            return version if version.startswith("v") else "v" + version
    found = contents_version()
    if found:
        return found if found.startswith("v") else "v" + found
    revision, timestamp = info.settings.get("vcs.revision"), info.settings.get("vcs.time")
    if revision and timestamp:
        try:
            when = datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00")).astimezone(datetime.UTC)
        except ValueError:
            when = datetime.datetime(1, 1, 1, tzinfo=datetime.UTC)
        return f"v0.0.0-{when:%Y%m%d%H%M%S}-{revision[:12]}"
    return DEVEL


def scan_version(stream: IO[bytes], chunk_size: int = 1024 * 1024) -> str | None:
    """The first NUL-delimited semantic version in ``stream``, read in chunks."""
    tail = b""
    while chunk := stream.read(chunk_size):
        window = tail + chunk
        match = _CONTENTS_VERSION.search(window)
        if match:
            return match.group(1).decode("ascii")
        tail = window[-_MAX_CONTENTS_VERSION:]
    return None


def _spooled(stream: BinaryIO) -> IO[bytes]:
    if stream.seekable():
        return stream
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115 - returned open
    copied = 0
    while chunk := stream.read(1024 * 1024):
        copied += len(chunk)
        if copied > MAX_SPOOL_SIZE:
            spool.close()
            raise BuildInfoError("binary too large to inspect")
        spool.write(chunk)
    spool.seek(0)
    return spool


def _candidate(entry: FileEntry) -> bool:
    return (
        entry.type == "file"
        and entry.size >= 64
        and (entry.is_executable or ".so" in entry.path.rsplit("/", 1)[-1])
    )


class GoCataloger:
    """Go modules in the build information of ELF binaries."""

    name = "go"

    def catalog(self, fs: FileView, context: CatalogContext) -> Sequence[Package]:
        packages: list[Package] = []
        for entry in fs.entries():
            if not _candidate(entry):
                continue
            try:
                info = self._read(fs, entry.path)
            except (ImageError, BuildInfoError, OSError, struct.error) as err:
                log.warning("skipping Go build information of %s: %s", entry.path, err)
                continue
            if info is not None:
                packages.extend(
                    self._packages(entry.path, info, functools.partial(self._scan, fs, entry.path))
                )
        return packages

    @staticmethod
    def _read(fs: FileView, path: str) -> BuildInfo | None:
        with fs.open(path) as raw:
            if raw.read(4) != b"\x7fELF":
                return None
            if raw.seekable():
                raw.seek(0)
                return read_buildinfo(raw)
            with _spooled(_Prefixed(b"\x7fELF", raw)) as spool:  # type: ignore[arg-type]
                return read_buildinfo(spool)

    @staticmethod
    def _scan(fs: FileView, path: str) -> str | None:
        try:
            with fs.open(path) as stream:
                return scan_version(stream)
        except (ImageError, OSError) as err:
            log.warning("could not scan %s for a version: %s", path, err)
            return None

    @staticmethod
    def _packages(path: str, info: BuildInfo, contents_version: Callable[[], str | None]) -> list[Package]:
        go_version = info.go_version.split()[0]
        properties = {"go-version": go_version}
        if arch := info.settings.get("GOARCH"):
            properties["arch"] = arch
        stdlib = Package(
            type="golang",
            name="stdlib",
            version=go_version,
            purl=go_purl("stdlib", go_version.removeprefix("go")),
            evidence=(path,),
            licenses=("BSD-3-Clause",),
            properties=properties,
        )
        packages: list[Package] = []
        dependencies: list[str] = []
        for dep in info.deps:
            module = dep.effective
            if not module.path:
                continue
            dep_properties = dict(properties)
            if module.sum:
                dep_properties["h1-digest"] = module.sum
            if dep.replaced_by is not None:
                dep_properties["replaces"] = f"{dep.path}@{dep.version}" if dep.version else dep.path
            package = Package(
                type="golang",
                name=module.path,
                version=module.version,
                purl=go_purl(module.path, module.version),
                evidence=(path,),
                properties=dep_properties,
            )
            packages.append(package)
            dependencies.append(package.purl)
        # A binary built outside module mode has no "mod" line: its main package stands in.
        main = info.main or (Module(info.path, DEVEL) if info.path else None)
        if main is not None and main.effective.path:
            module = main.effective
            version = _main_version(info, module, contents_version)
            main_properties = dict(properties)
            if info.path:
                main_properties["main-package"] = info.path
            packages.insert(
                0,
                Package(
                    type="golang",
                    name=module.path,
                    version=version,
                    purl=go_purl(module.path, version),
                    evidence=(path,),
                    depends_on=tuple(dict.fromkeys([*dependencies, stdlib.purl])),
                    properties=main_properties,
                ),
            )
        packages.append(stdlib)
        return packages


class _Prefixed:
    """A stream whose first bytes were already read: gives them back, then the rest."""

    def __init__(self, prefix: bytes, stream: BinaryIO) -> None:
        self._prefix = prefix
        self._stream = stream

    def seekable(self) -> bool:
        return False

    def read(self, size: int = -1) -> bytes:
        if self._prefix:
            if size < 0:
                data, self._prefix = self._prefix + self._stream.read(), b""
                return data
            data, self._prefix = self._prefix[:size], self._prefix[size:]
            return data
        return self._stream.read(size)
