from __future__ import annotations

from pathlib import Path

import pytest

from repro.layers.filesystem import ImageFilesystem
from repro.sbom.catalogers.dpkg import DpkgCataloger, debian_license, licenses_from_copyright, parse_stanzas
from repro.sbom.catalogers.osrelease import OS_RELEASE_PATHS, find_distro, parse_os_release
from repro.sbom.model import LAYER_PROPERTY, CatalogContext, Package
from tests.unit.sbom.debfixtures import DEP5, OLD_STYLE, debian_image


@pytest.fixture
def packages(tmp_path: Path) -> dict[str, Package]:
    layout, image = debian_image(tmp_path / "img")
    cataloger = DpkgCataloger()
    fs = ImageFilesystem.scan(
        layout, image, prefetch=[*cataloger.prefetch, *OS_RELEASE_PATHS], track=cataloger.track
    )
    context = CatalogContext(distro=find_distro(fs), architecture="amd64")
    found = cataloger.catalog(fs, context)
    assert fs.layer_passes == 3  # everything the cataloger read came from the one scan
    return {p.name: p for p in found}


def test_installed_packages_only(packages: dict[str, Package]) -> None:
    assert sorted(packages) == ["base-files", "bash", "libc6", "libgcc-s1", "mawk"]


def test_purls_as_syft_writes_them(packages: dict[str, Package]) -> None:
    assert (
        packages["libc6"].purl
        == "pkg:deb/debian/libc6@2.36-9%2Bdeb12u8?arch=amd64&distro=debian-12&upstream=glibc"
    )
    assert packages["libgcc-s1"].purl == (
        "pkg:deb/debian/libgcc-s1@12.2.0-14%2Bb1?arch=amd64&distro=debian-12&upstream=gcc-12%4012.2.0-14"
    )
    assert packages["bash"].purl == "pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12"


def test_dependencies_resolve_alternatives_and_virtual_packages(packages: dict[str, Package]) -> None:
    assert packages["libc6"].depends_on == (packages["libgcc-s1"].purl,)
    assert packages["base-files"].depends_on == (packages["mawk"].purl,)  # awk | gawk → mawk provides awk
    # uninstalled dependencies (libtinfo6, debianutils) are left out
    assert packages["bash"].depends_on == tuple(sorted([packages["libc6"].purl, packages["base-files"].purl]))


def test_layer_of_each_package_follows_the_status_file(packages: dict[str, Package]) -> None:
    assert packages["libc6"].properties[LAYER_PROPERTY] == "0"
    assert packages["base-files"].properties[LAYER_PROPERTY] == "1"  # upgraded in layer 1


def test_files_from_list_and_md5sums(packages: dict[str, Package]) -> None:
    assert packages["libc6"].files == ("usr", "usr/lib/x86_64-linux-gnu/libc.so.6")
    assert packages["bash"].files == ("bin", "bin/bash")
    assert packages["mawk"].files == ("usr/bin/mawk",)


def test_licenses(packages: dict[str, Package]) -> None:
    assert packages["libc6"].licenses == ("Artistic-1.0-Perl", "GPL-2.0-or-later", "LGPL-2.1-or-later")
    assert packages["bash"].licenses == ("GPL-3.0-only",)
    assert packages["libc6"].supplier == "GNU Libc Maintainers <debian-glibc@lists.debian.org>"
    assert packages["libc6"].description == "GNU C Library: Shared libraries"


def test_copyright_parsing_directly() -> None:
    assert licenses_from_copyright(DEP5.decode()) == [
        "Artistic-1.0-Perl",
        "GPL-2.0-or-later",
        "LGPL-2.1-or-later",
    ]
    assert licenses_from_copyright(OLD_STYLE.decode()) == ["GPL-3.0-only"]
    assert licenses_from_copyright("no licence here") == []


@pytest.mark.parametrize(
    ("name", "spdx"),
    [
        ("GPL-2", "GPL-2.0-only"),
        ("GPL-2+", "GPL-2.0-or-later"),
        ("LGPL-2.1+", "LGPL-2.1-or-later"),
        ("Expat", "MIT"),
        ("BSD-3-clause", "BSD-3-Clause"),
        ("Apache-2", "Apache-2.0"),
        ("GPL-3+ with Bison exception", "GPL-3.0-or-later"),
        ("public-domain", "public-domain"),
        ("some odd/prose", "some odd/prose"),
    ],
)
def test_debian_license_names(name: str, spdx: str) -> None:
    assert debian_license(name) == spdx


def test_distroless_status_d(tmp_path: Path) -> None:
    from tests.unit.layers.layerkit import File, make_image

    layout, image = make_image(
        tmp_path / "img",
        [
            [
                File("etc/os-release", b"ID=debian\nVERSION_ID=12\n"),
                File(
                    "var/lib/dpkg/status.d/tzdata",
                    b"Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n",
                ),
                File("var/lib/dpkg/status.d/tzdata.md5sums", b"abcd  usr/share/zoneinfo/UTC\n"),
            ]
        ],
    )
    cataloger = DpkgCataloger()
    fs = ImageFilesystem.scan(layout, image, prefetch=cataloger.prefetch, track=cataloger.track)
    (pkg,) = cataloger.catalog(fs, CatalogContext(distro=find_distro(fs), architecture="amd64"))
    assert pkg.purl == "pkg:deb/debian/tzdata@2024a-0%2Bdeb12u1?arch=all&distro=debian-12"
    assert pkg.files == ("usr/share/zoneinfo/UTC",)
    assert pkg.evidence == ("var/lib/dpkg/status.d/tzdata",)


def test_stanza_parser_handles_continuations_and_blank_lines() -> None:
    stanzas = parse_stanzas("A: 1\nB: x\n y\n\n\n\nA: 2\n")
    assert stanzas == [{"A": "1", "B": "x\ny"}, {"A": "2"}]


def test_os_release_parsing() -> None:
    distro = parse_os_release(
        'ID="ubuntu"\nVERSION_ID="22.04"\nID_LIKE=debian\n# c\nPRETTY_NAME=\'Ubuntu 22.04\'\n'
    )
    assert distro is not None
    assert (distro.id, distro.version_id, distro.id_like, distro.pretty_name) == (
        "ubuntu",
        "22.04",
        ("debian",),
        "Ubuntu 22.04",
    )
    assert parse_os_release("NAME=x\n") is None
