"""RPM packages, from the sqlite rpm database ``var/lib/rpm/rpmdb.sqlite`` (RHEL 9, Fedora 36+).

Each row of its ``Packages`` table is an RPM header blob: a count of index entries and the
size of a data store (both big-endian 32-bit), the index entries (tag, type, offset,
count), then the data store the offsets point into. The header is parsed here; the
database is opened from memory (``sqlite3`` ``deserialize``), nothing is written to disk.

    pkg:rpm/redhat/bash@5.1.8-6.el9?arch=x86_64&distro=rhel-9.3&upstream=bash-5.1.8-6.el9.src.rpm

Requirements (``REQUIRENAME``) are resolved to the installed package that provides them
(``PROVIDENAME``) or, for a path, owns that file.
"""

from __future__ import annotations

import logging
import posixpath
import sqlite3
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from repro.errors import ImageError
from repro.layers.fileview import FileView
from repro.sbom import purl
from repro.sbom.licenses import normalize
from repro.sbom.model import CatalogContext, Distro, Package

__all__ = ["RpmCataloger", "RpmHeader", "parse_header"]

log = logging.getLogger(__name__)

DATABASE_PATHS = ("var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite")
MAX_DATABASE_SIZE = 512 * 1024 * 1024
MAX_HEADER_ENTRIES = 65536
MAX_HEADER_DATA = 64 * 1024 * 1024

TAG_NAME = 1000
TAG_VERSION = 1001
TAG_RELEASE = 1002
TAG_EPOCH = 1003
TAG_SUMMARY = 1004
TAG_SIZE = 1009
TAG_VENDOR = 1011
TAG_LICENSE = 1014
TAG_ARCH = 1022
TAG_OLDFILENAMES = 1027
TAG_SOURCERPM = 1044
TAG_PROVIDENAME = 1047
TAG_REQUIRENAME = 1049
TAG_DIRINDEXES = 1116
TAG_BASENAMES = 1117
TAG_DIRNAMES = 1118
TAG_MODULARITYLABEL = 5096

TYPE_CHAR, TYPE_INT8, TYPE_INT16, TYPE_INT32, TYPE_INT64 = 1, 2, 3, 4, 5
TYPE_STRING, TYPE_BIN, TYPE_STRING_ARRAY, TYPE_I18NSTRING = 6, 7, 8, 9

_INT_FORMATS = {TYPE_CHAR: "B", TYPE_INT8: "B", TYPE_INT16: "h", TYPE_INT32: "i", TYPE_INT64: "q"}

HeaderValue = str | bytes | list[str] | list[int]


class HeaderError(ValueError):
    """An RPM header blob is malformed."""


@dataclass(frozen=True)
class RpmHeader:
    """The tags of one RPM header, by number."""

    tags: dict[int, HeaderValue]

    def string(self, tag: int) -> str:
        """A string tag's value; "" when absent or rpm's "(none)" placeholder."""
        value = self.tags.get(tag)
        if isinstance(value, list) and value and isinstance(value[0], str):
            value = value[0]  # an I18N string's first (C locale) translation
        if not isinstance(value, str) or value == "(none)":
            return ""
        return value

    def strings(self, tag: int) -> list[str]:
        value = self.tags.get(tag)
        if isinstance(value, str):
            return [value]
        if isinstance(value, list):
            return [item for item in value if isinstance(item, str)]
        return []

    def integers(self, tag: int) -> list[int]:
        value = self.tags.get(tag)
        if isinstance(value, list):
            return [item for item in value if isinstance(item, int)]
        return []


def _read_strings(data: bytes, offset: int, count: int) -> list[str]:
    strings = []
    for _ in range(count):
        end = data.find(b"\0", offset)
        if end < 0:
            raise HeaderError("string runs past the end of the data store")
        strings.append(data[offset:end].decode("utf-8", "replace"))
        offset = end + 1
    return strings


def parse_header(blob: bytes) -> RpmHeader:
    """Parse an RPM header blob as the rpm database stores it (no magic, no lead)."""
    if len(blob) < 8:
        raise HeaderError("header shorter than its preamble")
    entries, data_length = struct.unpack_from(">ii", blob)
    if not 0 < entries <= MAX_HEADER_ENTRIES or not 0 <= data_length <= MAX_HEADER_DATA:
        raise HeaderError(f"implausible header sizes ({entries} entries, {data_length} data bytes)")
    data_start = 8 + entries * 16
    if len(blob) < data_start + data_length:
        raise HeaderError("header blob is truncated")
    data = blob[data_start : data_start + data_length]
    tags: dict[int, HeaderValue] = {}
    for index in range(entries):
        tag, kind, offset, count = struct.unpack_from(">iIiI", blob, 8 + index * 16)
        if offset < 0 or offset > data_length or count > data_length + 1:
            raise HeaderError(f"tag {tag} points outside the data store")
        if kind in (TYPE_STRING,):
            tags[tag] = _read_strings(data, offset, 1)[0]
        elif kind in (TYPE_STRING_ARRAY, TYPE_I18NSTRING):
            tags[tag] = _read_strings(data, offset, count)
        elif kind == TYPE_BIN:
            if offset + count > data_length:
                raise HeaderError(f"tag {tag} runs past the data store")
            tags[tag] = data[offset : offset + count]
        elif kind in _INT_FORMATS:
            fmt = ">" + _INT_FORMATS[kind] * count
            if offset + struct.calcsize(fmt) > data_length:
                raise HeaderError(f"tag {tag} runs past the data store")
            tags[tag] = list(struct.unpack_from(fmt, data, offset))
        # Other types (NULL, unknown) carry nothing a cataloger uses.
    return RpmHeader(tags)


def _file_paths(header: RpmHeader) -> list[str]:
    basenames = header.strings(TAG_BASENAMES)
    if basenames:
        dirnames = header.strings(TAG_DIRNAMES)
        indexes = header.integers(TAG_DIRINDEXES)
        if len(indexes) != len(basenames):
            raise HeaderError("BASENAMES and DIRINDEXES differ in length")
        paths = []
        for basename, index in zip(basenames, indexes, strict=True):
            if not 0 <= index < len(dirnames):
                raise HeaderError("a DIRINDEXES entry points past DIRNAMES")
            paths.append(dirnames[index] + basename)
    else:
        paths = header.strings(TAG_OLDFILENAMES)
    return [normalized for path in paths if (normalized := posixpath.normpath("/" + path).lstrip("/"))]


def _open_database(data: bytes) -> sqlite3.Connection:
    # A database in WAL mode (header bytes 18/19 == 2) cannot be deserialized as is; mark it
    # as a rollback-journal database. Uncheckpointed WAL content is not read (it lives in
    # another file, which images rarely carry).
    if len(data) < 512 or not data.startswith(b"SQLite format 3\0"):
        raise sqlite3.DatabaseError("not an sqlite database")
    if data[18:20] == b"\x02\x02":
        data = data[:18] + b"\x01\x01" + data[20:]
    connection = sqlite3.connect(":memory:")
    try:
        connection.deserialize(data)
        connection.execute("PRAGMA query_only = ON")
    except sqlite3.Error:
        connection.close()
        raise
    return connection


def _namespace(distro: Distro | None) -> str:
    namespace = distro.id.lower() if distro else ""
    if namespace == "rhel":
        return "redhat"
    if namespace.startswith("opensuse"):
        return "opensuse"
    return namespace


@dataclass(frozen=True)
class _Found:
    header: RpmHeader
    name: str
    purl: str
    files: tuple[str, ...]


class RpmCataloger:
    """Packages recorded in the sqlite rpm database."""

    name = "rpm"

    def catalog(self, fs: FileView, context: CatalogContext) -> Sequence[Package]:
        packages: list[Package] = []
        for path in DATABASE_PATHS:
            entry = fs.entry(path)
            if entry is None or entry.type not in ("file", "hardlink"):
                continue
            try:
                data = fs.read(path, max_size=MAX_DATABASE_SIZE)
                blobs = self._blobs(data)
            except (ImageError, sqlite3.Error) as err:
                log.warning("skipping rpm database %s: %s", path, err)
                continue
            packages.extend(self._catalog_blobs(path, blobs, context))
        return packages

    @staticmethod
    def _blobs(data: bytes) -> list[bytes]:
        connection = _open_database(data)
        try:
            rows = connection.execute("SELECT blob FROM Packages ORDER BY hnum").fetchall()
        finally:
            connection.close()
        return [bytes(row[0]) for row in rows if isinstance(row[0], bytes | memoryview)]

    def _catalog_blobs(self, path: str, blobs: list[bytes], context: CatalogContext) -> list[Package]:
        found: list[_Found] = []
        for number, blob in enumerate(blobs, start=1):
            try:
                header = parse_header(blob)
                files = tuple(dict.fromkeys(_file_paths(header)))
            except HeaderError as err:
                log.warning("%s: skipping package #%d: %s", path, number, err)
                continue
            name, version = header.string(TAG_NAME), header.string(TAG_VERSION)
            if not name or not version:
                log.warning("%s: skipping package #%d without a name or version", path, number)
                continue
            found.append(_Found(header, name, self._purl(header, context.distro), files))

        providers: dict[str, str] = {}
        for item in found:
            providers.setdefault(item.name, item.purl)
        for item in found:
            for capability in item.header.strings(TAG_PROVIDENAME):
                providers.setdefault(capability, item.purl)
        owners: dict[str, str] = {}
        for item in found:
            for file_path in item.files:
                owners.setdefault("/" + file_path, item.purl)

        packages = []
        for item in found:
            header = item.header
            depends: dict[str, None] = {}
            for requirement in header.strings(TAG_REQUIRENAME):
                target = providers.get(requirement) or owners.get(requirement)
                if target is not None and target != item.purl:
                    depends[target] = None
            epochs = header.integers(TAG_EPOCH)
            version = f"{header.string(TAG_VERSION)}-{header.string(TAG_RELEASE)}"
            if epochs:
                version = f"{epochs[0]}:{version}"
            properties = {
                "arch": header.string(TAG_ARCH),
                "source": header.string(TAG_SOURCERPM),
                "epoch": str(epochs[0]) if epochs else "",
                "modularity-label": header.string(TAG_MODULARITYLABEL),
            }
            license_text = header.string(TAG_LICENSE)
            packages.append(
                Package(
                    type="rpm",
                    name=item.name,
                    version=version,
                    purl=item.purl,
                    evidence=(path,),
                    licenses=(normalize(license_text),) if license_text.strip() else (),
                    files=item.files,
                    depends_on=tuple(depends),
                    properties={key: value for key, value in properties.items() if value},
                    supplier=header.string(TAG_VENDOR) or None,
                    description=header.string(TAG_SUMMARY) or None,
                )
            )
        return packages

    @staticmethod
    def _purl(header: RpmHeader, distro: Distro | None) -> str:
        qualifiers = {"arch": header.string(TAG_ARCH), "upstream": header.string(TAG_SOURCERPM)}
        epochs = header.integers(TAG_EPOCH)
        if epochs:
            qualifiers["epoch"] = str(epochs[0])
        return purl.build(
            "rpm",
            _namespace(distro),
            header.string(TAG_NAME),
            f"{header.string(TAG_VERSION)}-{header.string(TAG_RELEASE)}",
            purl.distro_qualifiers(qualifiers, distro),
        )
