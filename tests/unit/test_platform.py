from __future__ import annotations

from typing import Any

import pytest

from repro.errors import UsageError
from repro.platform import Platform, parse_platforms


@pytest.mark.parametrize(
    ("text", "os", "architecture", "variant", "printed"),
    [
        ("linux/amd64", "linux", "amd64", None, "linux/amd64"),
        ("linux/x86_64", "linux", "amd64", None, "linux/amd64"),
        ("linux/x86-64", "linux", "amd64", None, "linux/amd64"),
        ("linux/amd64/v1", "linux", "amd64", None, "linux/amd64"),
        ("linux/amd64/v3", "linux", "amd64", "v3", "linux/amd64/v3"),
        ("linux/arm64", "linux", "arm64", None, "linux/arm64"),
        ("linux/arm64/v8", "linux", "arm64", None, "linux/arm64"),
        ("linux/arm64/8", "linux", "arm64", None, "linux/arm64"),
        ("linux/aarch64", "linux", "arm64", None, "linux/arm64"),
        ("linux/aarch64/v8", "linux", "arm64", None, "linux/arm64"),
        ("linux/arm64/v9.0", "linux", "arm64", "v9", "linux/arm64/v9"),
        ("linux/arm", "linux", "arm", "v7", "linux/arm/v7"),
        ("linux/arm/7", "linux", "arm", "v7", "linux/arm/v7"),
        ("linux/arm/v6", "linux", "arm", "v6", "linux/arm/v6"),
        ("linux/arm/5", "linux", "arm", "v5", "linux/arm/v5"),
        ("linux/armhf", "linux", "arm", "v7", "linux/arm/v7"),
        ("linux/armel", "linux", "arm", "v6", "linux/arm/v6"),
        ("linux/i386", "linux", "386", None, "linux/386"),
        ("linux/s390x", "linux", "s390x", None, "linux/s390x"),
        ("linux/ppc64le", "linux", "ppc64le", None, "linux/ppc64le"),
        ("linux/riscv64", "linux", "riscv64", None, "linux/riscv64"),
        ("Linux/AMD64", "linux", "amd64", None, "linux/amd64"),
        ("macos/arm64", "darwin", "arm64", None, "darwin/arm64"),
        ("windows/amd64", "windows", "amd64", None, "windows/amd64"),
        (" linux/amd64 ", "linux", "amd64", None, "linux/amd64"),
    ],
)
def test_parse_normalises(text: str, os: str, architecture: str, variant: str | None, printed: str) -> None:
    platform = Platform.parse(text)
    assert (platform.os, platform.architecture, platform.variant) == (os, architecture, variant)
    assert str(platform) == printed
    assert Platform.parse(printed) == platform


@pytest.mark.parametrize(
    "text",
    [
        "",
        "linux",
        "amd64",
        "linux/",
        "/amd64",
        "linux//v7",
        "linux/arm/v7/extra",
        "linux/am d64",
        "linux/amd64;",
    ],
)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(UsageError, match="invalid platform"):
        Platform.parse(text)


def test_constructor_normalises_too() -> None:
    assert Platform("linux", "aarch64", "v8") == Platform("linux", "arm64")
    assert Platform("linux", "armhf") == Platform("linux", "arm", "v7")


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("linux/arm64", "linux/arm64/v8", True),
        ("linux/aarch64", "linux/arm64", True),
        ("linux/x86_64", "linux/amd64", True),
        ("linux/arm", "linux/arm/v7", True),
        ("linux/armhf", "linux/arm", True),
        ("linux/arm/v6", "linux/arm/v7", False),
        ("linux/armel", "linux/arm", False),
        ("linux/arm64", "linux/arm64/v9", False),
        ("linux/amd64", "linux/arm64", False),
        ("linux/amd64", "windows/amd64", False),
    ],
)
def test_matches(a: str, b: str, expected: bool) -> None:
    assert Platform.parse(a).matches(Platform.parse(b)) is expected
    assert Platform.parse(b).matches(Platform.parse(a)) is expected


@pytest.mark.parametrize(
    ("descriptor", "expected"),
    [
        ({"os": "linux", "architecture": "amd64"}, "linux/amd64"),
        ({"os": "linux", "architecture": "arm64", "variant": "v8"}, "linux/arm64"),
        ({"os": "linux", "architecture": "arm", "variant": "v6"}, "linux/arm/v6"),
        ({"os": "linux", "architecture": "arm"}, "linux/arm/v7"),
        ({"os": "linux", "architecture": "arm64", "variant": ""}, "linux/arm64"),
        (
            {
                "os": "windows",
                "architecture": "amd64",
                "os.version": "10.0.17763.1",
                "os.features": ["win32k"],
            },
            "windows/amd64",
        ),
    ],
)
def test_from_oci(descriptor: dict[str, Any], expected: str) -> None:
    assert str(Platform.from_oci(descriptor)) == expected


@pytest.mark.parametrize(
    "descriptor",
    [
        {},
        {"os": "linux"},
        {"architecture": "amd64"},
        {"os": 1, "architecture": "amd64"},
        {"os": "linux", "architecture": "amd64", "variant": 8},
    ],
)
def test_from_oci_rejects(descriptor: dict[str, Any]) -> None:
    with pytest.raises(UsageError, match="invalid OCI platform"):
        Platform.from_oci(descriptor)


def test_host_is_normalised() -> None:
    host = Platform.host()
    assert Platform.parse(str(host)) == host
    assert host.os in {"linux", "darwin", "windows"}


def test_host_on_this_machine_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("repro.platform.sys.platform", "linux")
    monkeypatch.setattr("repro.platform._host.machine", lambda: "x86_64")
    assert Platform.host() == Platform("linux", "amd64")
    monkeypatch.setattr("repro.platform._host.machine", lambda: "aarch64")
    assert str(Platform.host()) == "linux/arm64"


def test_ordering_handles_missing_variants() -> None:
    platforms = [Platform.parse(p) for p in ("linux/arm64/v9", "linux/arm64", "linux/amd64", "linux/arm/v6")]
    assert [str(p) for p in sorted(platforms)] == [
        "linux/amd64",
        "linux/arm/v6",
        "linux/arm64",
        "linux/arm64/v9",
    ]


def test_platforms_are_hashable_values() -> None:
    assert len({Platform.parse("linux/arm64"), Platform.parse("linux/aarch64/v8")}) == 1


def test_parse_platforms() -> None:
    assert parse_platforms("linux/amd64,linux/arm64") == (
        Platform("linux", "amd64"),
        Platform("linux", "arm64"),
    )
    assert parse_platforms(" linux/amd64 , linux/arm/v7 ") == (
        Platform("linux", "amd64"),
        Platform("linux", "arm", "v7"),
    )
    # Order is kept; the same platform spelled twice is listed once.
    assert [str(p) for p in parse_platforms("linux/arm64,linux/amd64,linux/aarch64")] == [
        "linux/arm64",
        "linux/amd64",
    ]


@pytest.mark.parametrize("text", ["", " ", ",", "linux/amd64,", "linux/amd64,,linux/arm64", "linux"])
def test_parse_platforms_rejects(text: str) -> None:
    with pytest.raises(UsageError):
        parse_platforms(text)
