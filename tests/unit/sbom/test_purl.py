"""purl spelling, checked against syft 1.18's output for the same fields."""

from __future__ import annotations

import pytest
from packageurl import PackageURL

from repro.sbom import purl
from repro.sbom.model import Distro


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("1.0+local", "1.0%2Blocal"),
        ("a@b", "a%40b"),
        ("a?b#c d", "a%3Fb%23c%20d"),
        ("1:2.3~rc1-4", "1:2.3~rc1-4"),  # syft leaves ':' and '~' alone
        ("100%", "100%"),
        ("é", "%C3%A9"),
        ("a\nb\x7f", "a%0Ab%7F"),
    ],
)
def test_escape(text: str, escaped: str) -> None:
    assert purl.escape(text) == escaped


def test_qualifiers_are_sorted_and_empty_ones_dropped() -> None:
    built = purl.build(
        "rpm", "redhat", "bash", "5.1.8-6.el9", {"upstream": "bash.src.rpm", "arch": "x86_64", "epoch": ""}
    )
    assert built == "pkg:rpm/redhat/bash@5.1.8-6.el9?arch=x86_64&upstream=bash.src.rpm"


def test_distro_qualifier() -> None:
    qualifiers = purl.distro_qualifiers(
        {"arch": "amd64", "upstream": "glibc"}, Distro(id="debian", version_id="12")
    )
    assert purl.build("deb", "debian", "libc6", "2.36-9+deb12u4", qualifiers) == (
        "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc"
    )
    assert purl.distro_qualifiers({"arch": "amd64"}, None) == {"arch": "amd64"}


def test_namespace_segments_and_subpath() -> None:
    assert purl.build("golang", "github.com/foo", "bar", "v2.0.0", subpath="v2/sub") == (
        "pkg:golang/github.com/foo/bar@v2.0.0#v2/sub"
    )
    assert purl.build("npm", "@scope", "name", "") == "pkg:npm/%40scope/name"


def test_purls_parse_back() -> None:
    built = purl.build("maven", "org.apache.commons", "commons-lang3", "3.12.0+x", {"type": "jar"})
    parsed = PackageURL.from_string(built)
    assert (parsed.namespace, parsed.name, parsed.version, parsed.qualifiers) == (
        "org.apache.commons",
        "commons-lang3",
        "3.12.0+x",
        {"type": "jar"},
    )
