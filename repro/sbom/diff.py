"""``repro sbom diff``: which packages two SBOMs (or two images) disagree on.

Either SBOM may be CycloneDX JSON (its components with a purl) or SPDX 2.x JSON (its
packages with a ``purl`` external reference, except the ones the document describes: the
image itself, as CycloneDX's ``metadata.component`` is not a component), so a CycloneDX
SBOM compares with an SPDX one of the same image as equal.

A package is identified by its purl without version: type, namespace, name and the
``arch`` qualifier (``libc6`` for amd64 and for i386 are two packages). Versions are
compared per ecosystem: Debian versions by dpkg's rules (python-debian), Python by
PEP 440, everything else by a semver-like comparison of numeric and text runs.

    >>> diff = diff_sboms(old_document, new_document)        # doctest: +SKIP
    >>> [(c.name, c.old_version, c.new_version) for c in diff.upgraded]   # doctest: +SKIP
    [('libc6', '2.36-9+deb12u7', '2.36-9+deb12u8')]

:class:`SbomDiff` is plain data so that ``repro refresh`` can say which packages changed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from repro.errors import UsageError

__all__ = [
    "PackageChange",
    "PackageRef",
    "SbomDiff",
    "compare_versions",
    "diff_sboms",
    "packages_of",
    "sbom_kind",
]

_RUNS = re.compile(r"\d+|[A-Za-z]+")


@dataclass(frozen=True, order=True)
class PackageRef:
    """One package of an SBOM."""

    type: str
    name: str
    version: str
    purl: str
    namespace: str = ""
    arch: str = ""

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.type, self.namespace, self.name, self.arch)

    def to_json(self) -> dict[str, str]:
        return {"type": self.type, "name": self.name, "version": self.version, "purl": self.purl}


@dataclass(frozen=True, order=True)
class PackageChange:
    """A package in both SBOMs with different versions."""

    type: str
    name: str
    old_version: str
    new_version: str
    old_purl: str
    new_purl: str

    def to_json(self) -> dict[str, str]:
        return {
            "type": self.type,
            "name": self.name,
            "old_version": self.old_version,
            "new_version": self.new_version,
            "old_purl": self.old_purl,
            "new_purl": self.new_purl,
        }


@dataclass(frozen=True)
class SbomDiff:
    """Packages added, removed, upgraded and downgraded from ``old`` to ``new``."""

    added: tuple[PackageRef, ...]
    removed: tuple[PackageRef, ...]
    upgraded: tuple[PackageChange, ...]
    downgraded: tuple[PackageChange, ...]
    unchanged: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.upgraded or self.downgraded)

    def to_json(self) -> dict[str, Any]:
        return {
            "added": [p.to_json() for p in self.added],
            "removed": [p.to_json() for p in self.removed],
            "upgraded": [c.to_json() for c in self.upgraded],
            "downgraded": [c.to_json() for c in self.downgraded],
            "unchanged": self.unchanged,
        }

    def to_markdown(self) -> str:
        """A summary fit for a pull-request body."""
        lines = [
            f"**{len(self.added)} added, {len(self.removed)} removed, {len(self.upgraded)} upgraded, "
            f"{len(self.downgraded)} downgraded** ({self.unchanged} unchanged)",
        ]
        if self.upgraded or self.downgraded:
            lines += ["", "| package | type | old | new | |", "|---|---|---|---|---|"]
            for change, word in [
                *((c, "upgraded") for c in self.upgraded),
                *((c, "downgraded") for c in self.downgraded),
            ]:
                lines.append(
                    f"| {_cell(change.name)} | {change.type} | {_cell(change.old_version)} | "
                    f"{_cell(change.new_version)} | {word} |"
                )
        for title, refs in (("Added", self.added), ("Removed", self.removed)):
            if refs:
                lines += ["", f"{title}:", ""]
                lines += [f"- `{_cell(p.name)}` {_cell(p.version)} ({p.type})" for p in refs]
        return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").replace("`", "'")


# --- versions ----------------------------------------------------------------------------------


def _generic_key(version: str) -> list[tuple[int, int | str]]:
    # Numbers compare as numbers and sort after text at the same place (1.0 > 1.0rc1).
    return [(1, int(run)) if run.isdigit() else (0, run) for run in _RUNS.findall(version)]


def compare_versions(kind: str, old: str, new: str) -> int:
    """-1, 0 or 1 as ``old`` is older than, the same as or newer than ``new``."""
    if old == new:
        return 0
    if kind == "deb":
        from debian.debian_support import Version as DebianVersion

        try:
            a, b = DebianVersion(old), DebianVersion(new)
            return (a > b) - (a < b)
        except ValueError:
            pass
    if kind == "pypi":
        try:  # packaging is not a dependency of repro; without it the fallback below decides
            from packaging.version import InvalidVersion, Version
        except ImportError:
            pass
        else:
            try:
                pa, pb = Version(old), Version(new)
                return (pa > pb) - (pa < pb)
            except InvalidVersion:
                pass
    ka, kb = _generic_key(old.removeprefix("v")), _generic_key(new.removeprefix("v"))
    if ka != kb:
        return (ka > kb) - (ka < kb)
    return (old > new) - (old < new)


# --- reading SBOMs ------------------------------------------------------------------------------


def _components(document: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    stack = list(document.get("components") or [])
    while stack:
        component = stack.pop()
        if isinstance(component, dict):
            yield component
            stack.extend(component.get("components") or [])


def _spdx_packages(document: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    """(purl, version) of each SPDX package but the described ones (the image)."""
    described = {str(e) for e in document.get("documentDescribes") or []}
    document_id = document.get("SPDXID", "SPDXRef-DOCUMENT")
    for relation in document.get("relationships") or []:
        if (
            isinstance(relation, Mapping)
            and relation.get("spdxElementId") == document_id
            and relation.get("relationshipType") == "DESCRIBES"
        ):
            described.add(str(relation.get("relatedSpdxElement")))
    for package in document.get("packages") or []:
        if not isinstance(package, Mapping) or package.get("SPDXID") in described:
            continue
        for ref in package.get("externalRefs") or []:
            if (
                isinstance(ref, Mapping)
                and ref.get("referenceType") == "purl"
                and ref.get("referenceCategory") in ("PACKAGE-MANAGER", "PACKAGE_MANAGER")
            ):
                yield str(ref.get("referenceLocator") or ""), str(package.get("versionInfo") or "")


def _cyclonedx_packages(document: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    for component in _components(document):
        yield str(component.get("purl") or ""), str(component.get("version") or "")


def sbom_kind(document: Mapping[str, Any]) -> str:
    """``cyclonedx`` or ``spdx`` for a parsed SBOM; a UsageError for anything else."""
    if document.get("bomFormat") == "CycloneDX":
        return "cyclonedx"
    if str(document.get("spdxVersion", "")).startswith("SPDX-2."):
        return "spdx"
    raise UsageError(
        "not an SBOM this reads: expected CycloneDX JSON (bomFormat: CycloneDX) or SPDX 2.x JSON "
        "(spdxVersion: SPDX-2.x)"
    )


def packages_of(document: Mapping[str, Any] | bytes | str) -> list[PackageRef]:
    """The packages (entries with a purl) of a CycloneDX or SPDX JSON document, sorted."""
    from packageurl import PackageURL

    if isinstance(document, bytes | str):
        try:
            document = json.loads(document)
        except ValueError as exc:
            raise UsageError(f"not a JSON SBOM (CycloneDX or SPDX): {exc}") from exc
    if not isinstance(document, Mapping):
        raise UsageError("not a JSON SBOM (CycloneDX or SPDX): expected a JSON object")
    entries = _spdx_packages(document) if sbom_kind(document) == "spdx" else _cyclonedx_packages(document)
    found = set()
    for text, version in entries:
        if not text:
            continue
        try:
            parsed = PackageURL.from_string(text)
        except ValueError:
            continue
        qualifiers = parsed.qualifiers if isinstance(parsed.qualifiers, dict) else {}
        found.add(
            PackageRef(
                type=parsed.type,
                name=parsed.name,
                version=version or str(parsed.version or ""),
                purl=text,
                namespace=parsed.namespace or "",
                arch=str(qualifiers.get("arch", "")),
            )
        )
    return sorted(found)


def diff_sboms(
    old: Mapping[str, Any] | bytes | str | Iterable[PackageRef],
    new: Mapping[str, Any] | bytes | str | Iterable[PackageRef],
) -> SbomDiff:
    """Compare two SBOMs (parsed JSON, raw JSON, or package lists)."""
    old_refs = _refs(old)
    new_refs = _refs(new)
    old_by: dict[tuple[str, str, str, str], list[PackageRef]] = {}
    new_by: dict[tuple[str, str, str, str], list[PackageRef]] = {}
    for ref in old_refs:
        old_by.setdefault(ref.key, []).append(ref)
    for ref in new_refs:
        new_by.setdefault(ref.key, []).append(ref)
    added: list[PackageRef] = []
    removed: list[PackageRef] = []
    upgraded: list[PackageChange] = []
    downgraded: list[PackageChange] = []
    unchanged = 0
    for key in sorted(old_by.keys() | new_by.keys()):
        before = {r.version: r for r in old_by.get(key, [])}
        after = {r.version: r for r in new_by.get(key, [])}
        same = before.keys() & after.keys()
        unchanged += len(same)
        gone = [before[v] for v in sorted(before.keys() - same)]
        came = [after[v] for v in sorted(after.keys() - same)]
        if len(gone) == 1 and len(came) == 1:
            a, b = gone[0], came[0]
            change = PackageChange(a.type, a.name, a.version, b.version, a.purl, b.purl)
            (upgraded if compare_versions(a.type, a.version, b.version) <= 0 else downgraded).append(change)
            continue
        removed += gone
        added += came
    return SbomDiff(
        added=tuple(sorted(added)),
        removed=tuple(sorted(removed)),
        upgraded=tuple(sorted(upgraded)),
        downgraded=tuple(sorted(downgraded)),
        unchanged=unchanged,
    )


def _refs(value: Mapping[str, Any] | bytes | str | Iterable[PackageRef]) -> list[PackageRef]:
    if isinstance(value, Mapping | bytes | str):
        return packages_of(value)
    return list(value)
