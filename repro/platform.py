"""Target platforms (``linux/arm64``), normalised the way containerd does.

Aliases are folded on construction, so equal platforms compare equal however they were
written: ``aarch64`` is ``arm64``, ``x86_64`` is ``amd64``, ``armhf`` is ``arm/v7``.

    >>> Platform.parse("linux/aarch64/v8") == Platform.parse("linux/arm64")
    True
    >>> str(Platform.parse("linux/armhf"))
    'linux/arm/v7'
    >>> [str(p) for p in parse_platforms("linux/amd64, linux/aarch64")]
    ['linux/amd64', 'linux/arm64']
"""

from __future__ import annotations

import functools
import platform as _host
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from repro.errors import UsageError

# containerd accepts the same character set for each of the three parts.
_PART = re.compile(r"[a-z0-9_.-]+")

_OS_ALIASES = {"macos": "darwin"}


def _normalise(os: str, architecture: str, variant: str | None) -> tuple[str, str, str | None]:
    os = _OS_ALIASES.get(os.lower(), os.lower())
    arch = architecture.lower()
    var = (variant or "").lower()
    match arch:
        case "i386":
            arch, var = "386", ""
        case "x86_64" | "x86-64" | "amd64":
            arch = "amd64"
            if var == "v1":  # the baseline x86-64 level is what "amd64" already means
                var = ""
        case "aarch64" | "arm64":
            arch = "arm64"
            if var in ("8", "v8", "v8.0"):  # v8 is the only arm64 baseline: same as none
                var = ""
            elif var in ("9", "9.0", "v9.0"):
                var = "v9"
        case "armhf":
            arch, var = "arm", "v7"
        case "armel":
            arch, var = "arm", "v6"
        case "arm":
            if var in ("", "7"):  # 32-bit arm without a variant means v7 (Docker's default)
                var = "v7"
            elif var in ("5", "6", "8"):
                var = "v" + var
    return os, arch, var or None


@functools.total_ordering
@dataclass(frozen=True)
class Platform:
    """An OS/architecture[/variant] triple, always held in normalised form."""

    os: str
    architecture: str
    variant: str | None = None

    def __post_init__(self) -> None:
        written = "/".join(p for p in (self.os, self.architecture, self.variant) if p is not None)
        for part in (self.os, self.architecture, self.variant or "x"):
            if _PART.fullmatch(part.lower()) is None:
                raise UsageError(
                    f"invalid platform {written!r}: each part must be letters, digits, '_', '.' or '-'"
                )
        os, arch, variant = _normalise(self.os, self.architecture, self.variant)
        object.__setattr__(self, "os", os)
        object.__setattr__(self, "architecture", arch)
        object.__setattr__(self, "variant", variant)

    @classmethod
    def parse(cls, text: str) -> Platform:
        """Parse ``OS/ARCH`` or ``OS/ARCH/VARIANT`` (as in ``--platform``)."""
        parts = text.strip().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise UsageError(f"invalid platform {text!r}: write it as OS/ARCH[/VARIANT], e.g. linux/amd64")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None)

    @classmethod
    def from_oci(cls, platform: Mapping[str, Any]) -> Platform:
        """The ``platform`` object of an OCI index descriptor.

        ``os.version``, ``os.features`` and ``features`` are ignored.
        """
        os, arch, variant = platform.get("os"), platform.get("architecture"), platform.get("variant")
        if not isinstance(os, str) or not os or not isinstance(arch, str) or not arch:
            raise UsageError(f"invalid OCI platform {dict(platform)!r}: needs 'os' and 'architecture'")
        if variant is not None and not isinstance(variant, str):
            raise UsageError(f"invalid OCI platform {dict(platform)!r}: 'variant' must be a string")
        return cls(os, arch, variant or None)

    @classmethod
    def host(cls) -> Platform:
        """The platform of the running machine."""
        os = "windows" if sys.platform.startswith("win") else sys.platform.rstrip("0123456789")
        return cls(os, _host.machine() or "unknown")

    def matches(self, other: Platform) -> bool:
        """Whether ``other`` is the same platform once both are normalised.

        ``linux/arm64/v8`` matches ``linux/arm64``; ``linux/arm`` matches ``linux/arm/v7``;
        ``linux/arm/v6`` does not match ``linux/arm/v7``.
        """
        return self == other

    def _key(self) -> tuple[str, str, str]:
        return (self.os, self.architecture, self.variant or "")

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Platform):
            return NotImplemented
        return self._key() < other._key()

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p is not None)


def parse_platforms(text: str) -> tuple[Platform, ...]:
    """Parse a comma-separated list of platforms; duplicates (after normalisation) are dropped."""
    items = [item.strip() for item in text.split(",")]
    if not any(items):
        raise UsageError("no platform given: write e.g. linux/amd64,linux/arm64")
    platforms: list[Platform] = []
    for item in items:
        if not item:
            raise UsageError(f"invalid platform list {text!r}: empty entry")
        platform = Platform.parse(item)
        if platform not in platforms:
            platforms.append(platform)
    return tuple(platforms)
