"""The apk cataloger; expected purls checked against syft 1.18 on the same database."""

from __future__ import annotations

import pytest

from repro.sbom.catalogers.apk import ApkCataloger
from repro.sbom.model import CatalogContext, Distro, Package

from .memfs import MemoryFileView

ALPINE = CatalogContext(Distro(id="alpine", version_id="3.19.1"), "amd64")

INSTALLED = """\
C:Q1abc=
P:musl
V:1.2.4-r2
A:x86_64
L:MIT
o:musl
m:Timo Teräs <timo.teras@iki.fi>
T:the musl c library (libc) implementation
p:so:libc.musl-x86_64.so.1=1
F:lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q1xyz=
R:libc.musl-x86_64.so.1

P:busybox
V:1.36.1-r15
A:x86_64
L:GPL-2.0-only
o:busybox
D:so:libc.musl-x86_64.so.1 /bin/sh cmd:foo>=1 !conflicting
p:cmd:busybox=1.36.1-r15
F:bin
R:busybox
F:etc
R:securetty

P:zé+x
V:1.0+é~ x
A:x86 64+é
L:MIT AND (GPL-2.0-or-later OR BSD)
o:z@x
D:musl foo
p:cmd:foo=1

P:libcrypto3
V:3.1.4-r5
A:x86_64
L:Apache-2.0 MIT
o:openssl
D:so:libc.musl-x86_64.so.1
"""

MUSL = "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.19.1"
BUSYBOX = "pkg:apk/alpine/busybox@1.36.1-r15?arch=x86_64&distro=alpine-3.19.1"
ODD = (
    "pkg:apk/alpine/z%C3%A9%2Bx@1.0%2B%C3%A9~%20x?arch=x86%2064%2B%C3%A9&distro=alpine-3.19.1&upstream=z%40x"
)
LIBCRYPTO = "pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&distro=alpine-3.19.1&upstream=openssl"


def _catalog(text: str | bytes, context: CatalogContext = ALPINE) -> dict[str, Package]:
    data = text.encode() if isinstance(text, str) else text
    packages = ApkCataloger().catalog(MemoryFileView({"lib/apk/db/installed": data}), context)
    return {p.name: p for p in packages}


def test_purls_match_syft() -> None:
    found = _catalog(INSTALLED)
    assert [p.purl for p in found.values()] == [MUSL, BUSYBOX, ODD, LIBCRYPTO]


def test_package_fields() -> None:
    musl = _catalog(INSTALLED)["musl"]
    assert musl.type == "apk"
    assert musl.version == "1.2.4-r2"
    assert musl.evidence == ("lib/apk/db/installed",)
    assert musl.licenses == ("MIT",)
    assert musl.files == ("lib", "lib/ld-musl-x86_64.so.1", "lib/libc.musl-x86_64.so.1")
    assert musl.properties == {"arch": "x86_64", "source": "musl"}
    assert musl.supplier == "Timo Teräs <timo.teras@iki.fi>"
    assert musl.description == "the musl c library (libc) implementation"


def test_dependencies_resolve_through_provides() -> None:
    found = _catalog(INSTALLED)
    # so: via musl's provides, cmd:foo>=1 via zé+x's provides; /bin/sh has no provider here.
    assert found["busybox"].depends_on == (MUSL, ODD)
    # "foo" is provided by the package itself: no self-dependency.
    assert found["zé+x"].depends_on == (MUSL,)
    assert found["musl"].depends_on == ()


def test_licenses() -> None:
    found = _catalog(INSTALLED)
    assert found["zé+x"].licenses == ("MIT AND (GPL-2.0-or-later OR BSD)",)  # not SPDX: kept whole
    assert found["libcrypto3"].licenses == ("Apache-2.0", "MIT")  # the old space-separated list


def test_without_distro_the_namespace_is_alpine_and_there_is_no_distro_qualifier() -> None:
    found = _catalog(INSTALLED, CatalogContext(None, "amd64"))
    assert found["musl"].purl == "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64"


def test_other_apk_distros_use_their_id_as_namespace() -> None:
    found = _catalog(INSTALLED, CatalogContext(Distro(id="wolfi", version_id="20230201"), "amd64"))
    assert found["musl"].purl == "pkg:apk/wolfi/musl@1.2.4-r2?arch=x86_64&distro=wolfi-20230201"


def test_usr_lib_database_location() -> None:
    fs = MemoryFileView({"usr/lib/apk/db/installed": INSTALLED.encode()})
    assert len(ApkCataloger().catalog(fs, ALPINE)) == 4


def test_no_database_no_packages() -> None:
    assert ApkCataloger().catalog(MemoryFileView({"etc/hostname": b"x"}), ALPINE) == []


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"\x00\xff\xfe" * 1000,
        b"P:\nV:\n",
        b"no colon lines\nat all\n",
        b"V:1.0\nA:x86_64\n",
        b"P:x\r\nV:1\r\n\r\n",
    ],
)
def test_malformed_records_never_crash(garbage: bytes) -> None:
    found = _catalog(garbage + b"\n\n" + INSTALLED.encode())
    assert {"musl", "busybox", "libcrypto3"} <= set(found)
