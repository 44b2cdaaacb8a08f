"""Package URLs spelled exactly as syft writes them.

SBOM consumers (vulnerability scanners, policy, SBOM diffs) match components by purl, so
repro writes the same bytes syft 1.18 does for the same package: qualifiers sorted by key
with empty ones dropped, ``distro=`` among them, and syft's percent-encoding, which only
encodes ``@ + ? #``, space and non-ASCII characters (a ``~`` or ``:`` stays as it is).

    >>> build("apk", "alpine", "musl", "1.2.4-r2", {"arch": "x86_64", "distro": "alpine-3.19.1"})
    'pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.19.1'
    >>> build("npm", "@types", "node", "20.1.0+build.1")
    'pkg:npm/%40types/node@20.1.0%2Bbuild.1'

Every cataloger (dpkg and os-release ones included) builds its purls here.
"""

from __future__ import annotations

from collections.abc import Mapping

from repro.sbom.model import Distro

__all__ = ["build", "distro_qualifiers", "escape"]

_ESCAPED_ASCII = {"@": "%40", "+": "%2B", "?": "%3F", "#": "%23", " ": "%20"}


def escape(text: str) -> str:
    """Percent-encode one purl component the way syft does.

    syft leaves ASCII control characters raw; repro encodes them too, so a hostile name
    can never put a line break into an SBOM field (no real package has one).
    """
    out: list[str] = []
    for char in text:
        if char in _ESCAPED_ASCII:
            out.append(_ESCAPED_ASCII[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F or ord(char) > 0x7F:
            out.append("".join(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass")))
        else:
            out.append(char)
    return "".join(out)


def build(
    purl_type: str,
    namespace: str,
    name: str,
    version: str,
    qualifiers: Mapping[str, str] | None = None,
    *,
    subpath: str = "",
) -> str:
    """A purl string: ``pkg:TYPE/NAMESPACE/NAME@VERSION?QUALIFIERS#SUBPATH``.

    ``namespace`` and ``subpath`` may hold several ``/``-separated segments, each encoded on
    its own. Qualifiers with an empty value are left out; the rest are sorted by key.
    """
    purl = f"pkg:{purl_type}/"
    if namespace:
        purl += "/".join(escape(part) for part in namespace.split("/")) + "/"
    purl += escape(name)
    if version:
        purl += "@" + escape(version)
    if qualifiers:
        pairs = [f"{key}={escape(value)}" for key, value in sorted(qualifiers.items()) if value]
        if pairs:
            purl += "?" + "&".join(pairs)
    if subpath:
        purl += "#" + "/".join(escape(part) for part in subpath.split("/"))
    return purl


def distro_qualifiers(qualifiers: Mapping[str, str], distro: Distro | None) -> dict[str, str]:
    """``qualifiers`` plus ``distro=ID-VERSION_ID`` when the image's distro is known."""
    merged = dict(qualifiers)
    if distro is not None and distro.id:
        merged["distro"] = distro.purl_distro
    return merged
