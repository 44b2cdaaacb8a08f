"""Helpers for tests that craft tar streams: ordinary ones with :mod:`tarfile`, hostile ones
header by header (independent of the parser and writer under test)."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


@dataclass
class Item:
    """One entry to put in a test tar."""

    name: str
    kind: bytes = tarfile.REGTYPE
    data: bytes = b""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    mtime: float = 1_000_000_000
    linkname: str = ""
    uname: str = ""
    gname: str = ""
    devmajor: int = 0
    devminor: int = 0
    pax: dict[str, str] = field(default_factory=dict)


def make_tar(items: Iterable[Item], *, tar_format: int = tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tar_format) as tar:
        for item in items:
            info = tarfile.TarInfo(item.name)
            info.type = item.kind
            info.mode = item.mode
            info.uid, info.gid = item.uid, item.gid
            info.mtime = item.mtime
            info.linkname = item.linkname
            info.uname, info.gname = item.uname, item.gname
            info.devmajor, info.devminor = item.devmajor, item.devminor
            info.pax_headers = dict(item.pax)
            if item.kind in (tarfile.REGTYPE, tarfile.AREGTYPE):
                info.size = len(item.data)
                tar.addfile(info, io.BytesIO(item.data))
            else:
                tar.addfile(info)
    return buf.getvalue()


def octal(value: int, width: int) -> bytes:
    return b"%0*o\x00" % (width - 1, value)


def raw_header(
    name: bytes,
    typeflag: bytes = b"0",
    *,
    size: int = 0,
    mode: int = 0o644,
    linkname: bytes = b"",
    mtime: int = 0,
    size_field: bytes | None = None,
    magic: bytes = b"ustar\x0000",
    prefix: bytes = b"",
    checksum_delta: int = 0,
) -> bytes:
    """One ustar header block with a valid checksum (plus ``checksum_delta``)."""
    header = b"".join(
        (
            name[:100].ljust(100, b"\x00"),
            octal(mode, 8),
            octal(0, 8),
            octal(0, 8),
            size_field if size_field is not None else octal(size, 12),
            octal(mtime, 12),
            b" " * 8,
            typeflag,
            linkname[:100].ljust(100, b"\x00"),
            magic,
            bytes(80),
            prefix[:155].ljust(155, b"\x00"),
            bytes(12),
        )
    )
    assert len(header) == 512
    checksum = sum(header) + checksum_delta
    return header[:148] + b"%06o\x00 " % checksum + header[156:]


def raw_member(name: bytes, data: bytes = b"", typeflag: bytes = b"0", **kwargs: object) -> bytes:
    header = raw_header(name, typeflag, size=len(data), **kwargs)  # type: ignore[arg-type]
    return header + data + bytes(-len(data) % 512)


def pax_member(records: dict[bytes, bytes], typeflag: bytes = b"x") -> bytes:
    payload = b""
    for key, value in records.items():
        body = b" " + key + b"=" + value + b"\n"
        digits = 1
        while len(str(len(body) + digits)) != digits:
            digits += 1
        payload += str(len(body) + digits).encode() + body
    return raw_member(b"././@PaxHeader", payload, typeflag)


def end_marker() -> bytes:
    return bytes(1024)


def raw_tar(members: Sequence[bytes]) -> bytes:
    return b"".join(members) + end_marker()
