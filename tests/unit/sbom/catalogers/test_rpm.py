"""The rpm cataloger: header blobs from a test encoder, and a database written by rpm itself.

``assets/rpmdb.sqlite.gz`` was made with rpm 4.18 (Debian's ``rpm`` package): ``rpm --initdb``
then ``rpm -i`` of two noarch packages built with rpmbuild (``bash`` 5.1.8-6.el9 providing
``/bin/sh``, and ``hello-repro`` 2:1.2.3-4.el9 requiring ``bash`` and ``/bin/sh``) and
``rpm --import`` of a test key (the ``gpg-pubkey`` entry). It is in WAL mode, as rpm leaves
it. The expected purls are syft 1.18's for the same database.
"""

from __future__ import annotations

import gzip
import sqlite3
import struct
from pathlib import Path

import pytest

from repro.sbom.catalogers import rpm
from repro.sbom.catalogers.rpm import RpmCataloger, parse_header
from repro.sbom.model import CatalogContext, Distro, Package

from .memfs import MemoryFileView

RHEL = CatalogContext(Distro(id="rhel", version_id="9.3"), "amd64")
ASSET = Path(__file__).parent / "assets" / "rpmdb.sqlite.gz"

TagValue = str | list[str] | list[int] | bytes


def encode_header(tags: dict[int, tuple[int, TagValue]]) -> bytes:
    """An RPM header blob (as rpmdb stores it) from ``{tag: (type, value)}``."""
    index = bytearray()
    store = bytearray()
    for tag, (kind, value) in tags.items():
        if kind in (rpm.TYPE_INT32, rpm.TYPE_INT16):
            while len(store) % (4 if kind == rpm.TYPE_INT32 else 2):
                store.append(0)
        offset = len(store)
        if kind == rpm.TYPE_STRING:
            assert isinstance(value, str)
            store += value.encode() + b"\0"
            count = 1
        elif kind in (rpm.TYPE_STRING_ARRAY, rpm.TYPE_I18NSTRING):
            assert isinstance(value, list)
            for item in value:
                store += str(item).encode() + b"\0"
            count = len(value)
        elif kind == rpm.TYPE_INT32:
            assert isinstance(value, list)
            store += struct.pack(f">{len(value)}i", *value)
            count = len(value)
        elif kind == rpm.TYPE_INT16:
            assert isinstance(value, list)
            store += struct.pack(f">{len(value)}h", *value)
            count = len(value)
        else:
            assert isinstance(value, bytes)
            store += value
            count = len(value)
        index += struct.pack(">iIiI", tag, kind, offset, count)
    return struct.pack(">ii", len(tags), len(store)) + bytes(index) + bytes(store)


def package_header(
    name: str,
    version: str,
    release: str,
    *,
    epoch: int | None = None,
    arch: str = "x86_64",
    files: tuple[str, ...] = (),
    requires: tuple[str, ...] = (),
    provides: tuple[str, ...] = (),
    license_text: str = "MIT",
) -> bytes:
    tags: dict[int, tuple[int, TagValue]] = {
        rpm.TAG_NAME: (rpm.TYPE_STRING, name),
        rpm.TAG_VERSION: (rpm.TYPE_STRING, version),
        rpm.TAG_RELEASE: (rpm.TYPE_STRING, release),
        rpm.TAG_SUMMARY: (rpm.TYPE_I18NSTRING, [f"The {name} package"]),
        rpm.TAG_LICENSE: (rpm.TYPE_STRING, license_text),
        rpm.TAG_VENDOR: (rpm.TYPE_STRING, "Red Hat, Inc."),
        rpm.TAG_ARCH: (rpm.TYPE_STRING, arch),
        rpm.TAG_SOURCERPM: (rpm.TYPE_STRING, f"{name}-{version}-{release}.src.rpm"),
        rpm.TAG_PROVIDENAME: (rpm.TYPE_STRING_ARRAY, [name, *provides]),
        rpm.TAG_REQUIRENAME: (rpm.TYPE_STRING_ARRAY, list(requires)),
    }
    if epoch is not None:
        tags[rpm.TAG_EPOCH] = (rpm.TYPE_INT32, [epoch])
    if files:
        dirnames = sorted({f.rsplit("/", 1)[0] + "/" for f in files})
        tags[rpm.TAG_DIRINDEXES] = (
            rpm.TYPE_INT32,
            [dirnames.index(f.rsplit("/", 1)[0] + "/") for f in files],
        )
        tags[rpm.TAG_BASENAMES] = (rpm.TYPE_STRING_ARRAY, [f.rsplit("/", 1)[1] for f in files])
        tags[rpm.TAG_DIRNAMES] = (rpm.TYPE_STRING_ARRAY, dirnames)
    return encode_header(tags)


def make_rpmdb(blobs: list[bytes | str]) -> bytes:
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE 'Packages' (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
    connection.executemany("INSERT INTO Packages (blob) VALUES (?)", [(b,) for b in blobs])
    connection.commit()
    data = connection.serialize()
    connection.close()
    return data


def _catalog(database: bytes, context: CatalogContext = RHEL) -> dict[str, Package]:
    fs = MemoryFileView({"var/lib/rpm/rpmdb.sqlite": database})
    return {p.name: p for p in RpmCataloger().catalog(fs, context)}


BASH = package_header("bash", "5.1.8", "6.el9", files=("/usr/bin/bash", "/usr/bin/sh"), provides=("/bin/sh",))
OPENSSL = package_header(
    "openssl-libs",
    "3.0.7",
    "24.el9",
    epoch=1,
    files=("/usr/lib64/libssl.so.3",),
    requires=("/usr/bin/sh", "bash", "rpmlib(CompressedFileNames)", "openssl-libs"),
    license_text="Apache-2.0",
)


def test_purls_and_fields() -> None:
    found = _catalog(make_rpmdb([BASH, OPENSSL]))
    bash, openssl = found["bash"], found["openssl-libs"]
    assert (
        bash.purl
        == "pkg:rpm/redhat/bash@5.1.8-6.el9?arch=x86_64&distro=rhel-9.3&upstream=bash-5.1.8-6.el9.src.rpm"
    )
    assert openssl.purl == (
        "pkg:rpm/redhat/openssl-libs@3.0.7-24.el9?arch=x86_64&distro=rhel-9.3&epoch=1"
        "&upstream=openssl-libs-3.0.7-24.el9.src.rpm"
    )
    assert openssl.version == "1:3.0.7-24.el9"
    assert openssl.properties == {
        "arch": "x86_64",
        "source": "openssl-libs-3.0.7-24.el9.src.rpm",
        "epoch": "1",
    }
    assert bash.files == ("usr/bin/bash", "usr/bin/sh")
    assert bash.licenses == ("MIT",)
    assert bash.supplier == "Red Hat, Inc."
    assert bash.description == "The bash package"
    assert bash.evidence == ("var/lib/rpm/rpmdb.sqlite",)
    # by provide name and by owned file; rpmlib() and itself are not dependencies
    assert openssl.depends_on == (bash.purl,)


@pytest.mark.parametrize(
    ("distro", "prefix"),
    [
        (Distro(id="fedora", version_id="39"), "pkg:rpm/fedora/bash@"),
        (Distro(id="opensuse-leap", version_id="15.5"), "pkg:rpm/opensuse/bash@"),
        (None, "pkg:rpm/bash@"),
    ],
)
def test_namespace_follows_the_distro(distro: Distro | None, prefix: str) -> None:
    found = _catalog(make_rpmdb([BASH]), CatalogContext(distro, "amd64"))
    assert found["bash"].purl.startswith(prefix)


def test_real_database_written_by_rpm_matches_syft() -> None:
    found = _catalog(gzip.decompress(ASSET.read_bytes()))
    assert sorted(p.purl for p in found.values()) == [
        "pkg:rpm/redhat/bash@5.1.8-6.el9?arch=noarch&distro=rhel-9.3&upstream=bash-5.1.8-6.el9.src.rpm",
        "pkg:rpm/redhat/gpg-pubkey@7464f44b-6b0a853c?distro=rhel-9.3",
        "pkg:rpm/redhat/hello-repro@1.2.3-4.el9?arch=noarch&distro=rhel-9.3&epoch=2"
        "&upstream=hello-repro-1.2.3-4.el9.src.rpm",
    ]
    hello = found["hello-repro"]
    assert hello.version == "2:1.2.3-4.el9"
    assert hello.licenses == ("MIT AND (Apache-2.0 OR GPL-2.0-or-later)",)
    assert hello.supplier == "Repro Test"
    assert hello.files == (
        "etc/hello-repro.conf",
        "usr/share/hello-repro",
        "usr/share/hello-repro/a.txt",
        "usr/share/hello-repro/b.txt",
    )
    assert hello.depends_on == (found["bash"].purl,)
    assert found["bash"].licenses == ("GPLv3+",)


def test_malformed_headers_are_skipped(caplog: pytest.LogCaptureFixture) -> None:
    truncated = BASH[:-10]
    huge = struct.pack(">ii", 10**8, 10) + b"\0" * 32
    out_of_range = (
        encode_header({rpm.TAG_NAME: (rpm.TYPE_STRING, "x")})[:8]
        + struct.pack(">iIiI", 1000, 6, 999, 1)
        + b"x\0"
    )
    no_terminator = struct.pack(">ii", 1, 3) + struct.pack(">iIiI", 1000, 6, 0, 1) + b"abc"
    bad_dirindex = package_header("bad", "1", "1", files=("/a/b",))
    bad_dirindex = bad_dirindex.replace(b"\x00\x00\x00\x00", b"\x00\x00\x00\x09", 0)
    nameless = encode_header({rpm.TAG_VERSION: (rpm.TYPE_STRING, "1")})
    database = make_rpmdb([truncated, huge, out_of_range, no_terminator, nameless, b"", "text", OPENSSL])
    found = _catalog(database)
    assert list(found) == ["openssl-libs"]
    assert "skipping package #1" in caplog.text


def test_mismatched_file_arrays_are_rejected() -> None:
    tags: dict[int, tuple[int, TagValue]] = {
        rpm.TAG_NAME: (rpm.TYPE_STRING, "x"),
        rpm.TAG_BASENAMES: (rpm.TYPE_STRING_ARRAY, ["a", "b"]),
        rpm.TAG_DIRNAMES: (rpm.TYPE_STRING_ARRAY, ["/"]),
        rpm.TAG_DIRINDEXES: (rpm.TYPE_INT32, [0, 5]),
    }
    header = parse_header(encode_header(tags))
    with pytest.raises(ValueError, match="DIRNAMES"):
        rpm._file_paths(header)


@pytest.mark.parametrize(
    "content", [b"", b"not a database at all" * 100, b"SQLite format 3\x00" + b"\xff" * 200]
)
def test_a_broken_database_is_skipped(content: bytes, caplog: pytest.LogCaptureFixture) -> None:
    assert _catalog(content) == {}
    assert "skipping rpm database" in caplog.text


def test_a_database_without_packages_table_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE other (x)")
    data = connection.serialize()
    connection.close()
    assert _catalog(data) == {}
    assert "no such table" in caplog.text
