"""The Go binary cataloger: build information in crafted ELF files and a real Go binary.

Expected purls were checked against syft 1.18 (``syft dir:``) on the same binaries.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest

from repro.sbom.catalogers.golang import (
    GoCataloger,
    parse_modinfo,
    read_buildinfo,
    scan_version,
)
from repro.sbom.model import CatalogContext, Package

from .memfs import MemoryFileView

CONTEXT = CatalogContext(distro=None, architecture="amd64")
_SENTINEL_START = b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6"
_SENTINEL_END = b"\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2"

MODINFO = (
    "path\tgithub.com/acme/tool/cmd/tool\n"
    "mod\tgithub.com/acme/tool\tv1.2.3\th1:main=\n"
    "dep\tgolang.org/x/net\tv0.17.0\th1:net=\n"
    "dep\tgithub.com/old/lib\tv1.0.0\th1:old=\n"
    "=>\tgithub.com/new/lib/v2\tv2.1.0+incompatible\th1:new=\n"
    "dep\tgopkg.in/yaml.v3\tv3.0.1\n"
    "build\t-compiler=gc\n"
    'build\t-ldflags="-s -w"\n'
    "build\tGOARCH=arm64\n"
)


def _uvarint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def build_elf(
    go_version: str,
    modinfo: str,
    *,
    bits: int = 64,
    big_endian: bool = False,
    inline: bool = True,
    sentinels: bool = True,
) -> bytes:
    """A minimal ELF executable with a ``.go.buildinfo`` section (and ``.data`` for the old format).

    Sections are mapped by PT_LOAD program headers too, so Go's own reader (and syft)
    accept the file.
    """
    endian = ">" if big_endian else "<"
    word = "Q" if bits == 64 else "I"
    pointer_size = bits // 8
    modinfo_bytes = modinfo.encode()
    if sentinels:
        modinfo_bytes = _SENTINEL_START + modinfo_bytes + _SENTINEL_END
    header_size = 64 if bits == 64 else 52
    phentsize = 56 if bits == 64 else 32
    shentsize = 64 if bits == 64 else 40
    base_address = 0x400000

    phnum = 2
    buildinfo_offset = (header_size + phnum * phentsize + 15) // 16 * 16
    flags = 0
    data_section = b""
    if inline:
        flags |= 0x2
        payload = (
            _uvarint(len(go_version)) + go_version.encode() + _uvarint(len(modinfo_bytes)) + modinfo_bytes
        )
        buildinfo = b"\xff Go buildinf:" + bytes([pointer_size, flags]) + b"\0" * 16 + payload
    else:
        if big_endian:
            flags |= 0x1
        buildinfo_size = 32
        data_offset = buildinfo_offset + buildinfo_size
        data_address = base_address + data_offset
        # .data: two Go string headers, then the two strings' bytes.
        headers_size = 4 * pointer_size
        version_address = data_address + headers_size
        modinfo_address = version_address + len(go_version)
        data_section = (
            struct.pack(
                endian + word * 4, version_address, len(go_version), modinfo_address, len(modinfo_bytes)
            )
            + go_version.encode()
            + modinfo_bytes
        )
        pointers = struct.pack(endian + word * 2, data_address, data_address + 2 * pointer_size)
        buildinfo = (b"\xff Go buildinf:" + bytes([pointer_size, flags]) + pointers).ljust(32, b"\0")

    names = b"\0.go.buildinfo\0.data\0.shstrtab\0"
    sections = [(buildinfo, 1, names.index(b".go.buildinfo")), (data_section, 1, names.index(b".data"))]
    body = bytearray(b"\0" * buildinfo_offset)
    placed = []
    for content, kind, name_offset in sections:
        offset = len(body)
        body += content
        placed.append((name_offset, kind, base_address + offset, offset, len(content)))
    names_offset = len(body)
    body += names
    placed.append((names.index(b".shstrtab"), 3, 0, names_offset, len(names)))
    while len(body) % 8:
        body.append(0)
    shoff = len(body)

    section_headers = bytearray(b"\0" * shentsize)  # the null section
    for name_offset, kind, address, offset, size in placed:
        if bits == 64:
            section_headers += struct.pack(
                endian + "IIQQQQIIQQ", name_offset, kind, 3, address, offset, size, 0, 0, 8, 0
            )
        else:
            section_headers += struct.pack(
                endian + "IIIIIIIIII", name_offset, kind, 3, address, offset, size, 0, 0, 8, 0
            )
    body += section_headers

    program_headers = bytearray()
    for _, _, address, offset, size in placed[:2]:
        if bits == 64:
            program_headers += struct.pack(
                endian + "IIQQQQQQ", 1, 6, offset, address, address, size, size, 16
            )
        else:
            program_headers += struct.pack(
                endian + "IIIIIIII", 1, offset, address, address, size, size, 6, 16
            )

    ident = b"\x7fELF" + bytes([2 if bits == 64 else 1, 2 if big_endian else 1, 1]) + b"\0" * 9
    if bits == 64:
        header = ident + struct.pack(
            endian + "HHIQQQIHHHHHH",
            2,
            183,
            1,
            0,
            header_size,
            shoff,
            0,
            header_size,
            phentsize,
            phnum,
            shentsize,
            4,
            3,
        )
    else:
        header = ident + struct.pack(
            endian + "HHIIIIIHHHHHH",
            2,
            8,
            1,
            0,
            header_size,
            shoff,
            0,
            header_size,
            phentsize,
            phnum,
            shentsize,
            4,
            3,
        )
    body[: len(header)] = header
    body[header_size : header_size + len(program_headers)] = program_headers
    return bytes(body)


def _catalog(files: dict[str, bytes | tuple[bytes, int]], *, unseekable: bool = False) -> list[Package]:
    return list(GoCataloger().catalog(MemoryFileView(files, unseekable=unseekable), CONTEXT))


def _by_name(packages: list[Package]) -> dict[str, Package]:
    return {p.name: p for p in packages}


@pytest.mark.parametrize(
    ("bits", "big_endian", "inline"),
    [
        (64, False, True),
        (32, False, True),
        (64, True, True),
        (64, False, False),
        (32, True, False),
        (32, False, False),
    ],
)
def test_read_buildinfo_in_every_layout(bits: int, big_endian: bool, inline: bool) -> None:
    binary = build_elf("go1.16.15", MODINFO, bits=bits, big_endian=big_endian, inline=inline)
    info = read_buildinfo(io.BytesIO(binary))
    assert info is not None
    assert info.go_version == "go1.16.15"
    assert info.path == "github.com/acme/tool/cmd/tool"
    assert info.main is not None
    assert (info.main.path, info.main.version, info.main.sum) == (
        "github.com/acme/tool",
        "v1.2.3",
        "h1:main=",
    )
    assert [d.effective.path for d in info.deps] == [
        "golang.org/x/net",
        "github.com/new/lib/v2",
        "gopkg.in/yaml.v3",
    ]
    assert info.settings == {"-compiler": "gc", "-ldflags": "-s -w", "GOARCH": "arm64"}


def test_catalog_main_module_dependencies_and_stdlib() -> None:
    packages = _catalog({"usr/local/bin/tool": (build_elf("go1.21.4", MODINFO), 0o755)})
    found = _by_name(packages)
    assert sorted(p.purl for p in packages) == [
        "pkg:golang/github.com/acme/tool@v1.2.3",
        "pkg:golang/github.com/new/lib@v2.1.0%2Bincompatible#v2",
        "pkg:golang/golang.org/x/net@v0.17.0",
        "pkg:golang/gopkg.in/yaml.v3@v3.0.1",
        "pkg:golang/stdlib@1.21.4",
    ]
    main = found["github.com/acme/tool"]
    assert main.evidence == ("usr/local/bin/tool",)
    assert set(main.depends_on) == {p.purl for p in packages if p is not main}
    assert main.properties["main-package"] == "github.com/acme/tool/cmd/tool"
    assert main.properties["arch"] == "arm64"
    replaced = found["github.com/new/lib/v2"]
    assert replaced.properties["replaces"] == "github.com/old/lib@v1.0.0"
    assert replaced.properties["h1-digest"] == "h1:new="
    stdlib = found["stdlib"]
    assert (stdlib.version, stdlib.licenses) == ("go1.21.4", ("BSD-3-Clause",))


def test_devel_main_module_takes_its_version_from_ldflags() -> None:
    modinfo = 'path\texample.com/a\nmod\texample.com/a\t(devel)\t\nbuild\t-ldflags="-X main.version=1.4.5"\n'
    found = _by_name(_catalog({"bin/a": (build_elf("go1.22.0", modinfo), 0o755)}))
    assert found["example.com/a"].purl == "pkg:golang/example.com/a@v1.4.5"


def test_devel_main_module_takes_its_version_from_the_binary_contents() -> None:
    modinfo = "path\texample.com/a\nmod\texample.com/a\t(devel)\t\n"
    binary = build_elf("go1.22.0", modinfo) + b"\0junk\0" + b"\x002.8.2+ds1\x00" + b"\x00v9.9.9\x00"
    found = _by_name(_catalog({"bin/a": (binary, 0o755)}))
    assert found["example.com/a"].version == "v2.8.2+ds1"


def test_devel_main_module_gets_a_pseudo_version_from_vcs_settings() -> None:
    modinfo = (
        "path\texample.com/a\nmod\texample.com/a\t(devel)\t\n"
        "build\tvcs.revision=0123456789abcdef0123\nbuild\tvcs.time=2023-03-08T21:26:42Z\n"
    )
    found = _by_name(_catalog({"bin/a": (build_elf("go1.22.0", modinfo), 0o755)}))
    assert found["example.com/a"].version == "v0.0.0-20230308212642-0123456789ab"


def test_devel_main_module_without_hints_stays_devel() -> None:
    modinfo = "path\texample.com/a/cmd/x\nmod\texample.com/a\t(devel)\t\n"
    found = _by_name(_catalog({"bin/a": (build_elf("go1.22.0", modinfo), 0o755)}))
    assert found["example.com/a"].purl == "pkg:golang/example.com/a@(devel)"


def test_local_replacement_is_reported_as_syft_does() -> None:
    # syft 1.18 on a real binary built with "replace example.com/dep1 => ../dep1".
    modinfo = "path\tgithub.com/acme/tool/cmd/tool\nmod\tgithub.com/acme/tool\t(devel)\t\ndep\texample.com/dep1\tv1.2.3\n=>\t../dep1\t(devel)\t\n"
    purls = {p.purl for p in _catalog({"bin/a": (build_elf("go1.19.8", modinfo), 0o755)})}
    assert "pkg:golang/../dep1@(devel)" in purls


def test_binary_built_outside_module_mode_uses_its_main_package() -> None:
    modinfo = "path\tgithub.com/docker/distribution/cmd/registry\nbuild\tGOARCH=amd64\n"
    binary = build_elf("go1.19.8", modinfo) + b"\x002.8.2+ds1\x00"
    purls = sorted(p.purl for p in _catalog({"usr/bin/docker-registry": (binary, 0o755)}))
    assert purls == [
        "pkg:golang/github.com/docker/distribution@v2.8.2%2Bds1#cmd/registry",
        "pkg:golang/stdlib@1.19.8",
    ]


def test_unseekable_streams_are_spooled() -> None:
    packages = _catalog({"bin/a": (build_elf("go1.21.4", MODINFO), 0o755)}, unseekable=True)
    assert "pkg:golang/github.com/acme/tool@v1.2.3" in {p.purl for p in packages}


def test_non_go_and_non_executable_files_are_ignored() -> None:
    elf_without_go = build_elf("go1.21.4", MODINFO).replace(b".go.buildinfo", b".not.buildinf")
    packages = _catalog(
        {
            "bin/c-program": (elf_without_go, 0o755),
            "bin/script": (b"#!/bin/sh\necho hello, this is long enough to be looked at\n" * 2, 0o755),
            "data/tool": build_elf("go1.21.4", MODINFO),  # not executable
        }
    )
    assert packages == []


@pytest.mark.parametrize(
    "mangle",
    [
        lambda b: b[:40],  # truncated before the section headers
        lambda b: b[:-100],  # section header table cut short
        lambda b: b[:5] + b"\x07" + b[6:],  # unknown byte order
        lambda b: b[:0x3C] + b"\xff\xff" + b[0x3E:],  # absurd section count
        lambda b: b.replace(
            b"\xff Go buildinf:\x08\x02", b"\xff Go buildinf:\x08\x02" + b"\0" * 16 + b"\xff" * 12, 1
        )[: len(b)],
    ],
)
def test_malformed_binaries_are_skipped_with_a_warning(
    mangle: object, caplog: pytest.LogCaptureFixture
) -> None:
    assert callable(mangle)
    binary = mangle(build_elf("go1.21.4", MODINFO))
    assert isinstance(binary, bytes)
    packages = _catalog({"bin/bad": (binary, 0o755), "bin/good": (build_elf("go1.20.1", MODINFO), 0o755)})
    assert {p.evidence for p in packages} == {("bin/good",)}


def test_pointer_format_with_bad_pointers_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    binary = bytearray(build_elf("go1.16.15", MODINFO, inline=False))
    start = binary.index(b"\xff Go buildinf:")
    binary[start + 16 : start + 24] = struct.pack("<Q", 0xDEADBEEF)
    assert _catalog({"bin/bad": (bytes(binary), 0o755)}) == []
    assert "is in no section" in caplog.text


def test_modinfo_without_sentinels_gives_no_modules() -> None:
    info = read_buildinfo(io.BytesIO(build_elf("go1.21.4", MODINFO, sentinels=False)))
    assert info is not None
    assert info.main is None
    assert info.deps == ()


def test_parse_modinfo_quoted_build_keys_and_errors() -> None:
    info = parse_modinfo("go1.22.0", 'build\t"we=ird"=`raw value`\nbuild\tCGO_CFLAGS=\n')
    assert info.settings == {"we=ird": "raw value", "CGO_CFLAGS": ""}
    with pytest.raises(ValueError, match="replacement line"):
        parse_modinfo("go1.22.0", "=>\tfoo\tv1.0.0\n")
    with pytest.raises(ValueError, match="malformed build line"):
        parse_modinfo("go1.22.0", "build\tnoequals\n")


def test_scan_version_finds_a_version_across_chunk_boundaries() -> None:
    data = b"x" * 100 + b"\x00v1.22.333-rc.1\x00"
    for chunk_size in (1, 7, 64, 4096):
        assert scan_version(io.BytesIO(data), chunk_size) == "v1.22.333-rc.1"
    assert scan_version(io.BytesIO(b"\x001.2\x00 no version here")) is None


REAL_GO_BINARY = Path("/usr/bin/docker-registry")


@pytest.mark.skipif(
    not REAL_GO_BINARY.is_file(), reason="Debian's docker-registry (a Go binary) is not installed"
)
def test_real_go_binary_matches_syft() -> None:
    # syft 1.18.1 on Debian 12's docker-registry 2.8.2+ds1-1 (go1.19.8, built in GOPATH mode).
    fs = MemoryFileView({"usr/bin/docker-registry": (REAL_GO_BINARY.read_bytes(), 0o755)})
    packages = GoCataloger().catalog(fs, CONTEXT)
    assert sorted(p.purl for p in packages) == [
        "pkg:golang/github.com/docker/distribution@v2.8.2%2Bds1#cmd/registry",
        "pkg:golang/stdlib@1.19.8",
    ]
