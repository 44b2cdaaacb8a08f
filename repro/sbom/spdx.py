"""The SPDX 2.3 JSON writer: the same :class:`~repro.sbom.cyclonedx.Inventory` as the
CycloneDX writer, validated with ``spdx-tools`` before it is returned, deterministic bytes out.

What goes where (so both documents say the same thing):

- the image is the package ``SPDXRef-DocumentRoot-Image-…`` (purpose ``CONTAINER``) that
  the document ``DESCRIBES``; its purl is the same ``pkg:oci`` purl as the CycloneDX
  ``metadata.component``;
- the distribution is a package of purpose ``OPERATING-SYSTEM``; every package is an SPDX
  package with its purl as a ``PACKAGE-MANAGER`` external reference; an unowned binary is
  an SPDX file (SHA-1 and SHA-256);
- CycloneDX ``dependencies`` become relationships: image/distribution ``CONTAINS`` the
  packages they hold, a package ``DEPENDS_ON`` its dependencies, and the image has an
  ``OTHER`` relationship commented ``contains: …`` to each unowned file (SPDX forbids
  ``CONTAINS`` files from a package whose files were not all analysed);
- the ``repro:`` properties (layer, Dockerfile location) are ``name: value`` lines of the
  element's ``comment``, as SPDX 2.3 has no properties.

The namespace is ``urn:uuid:`` + the CycloneDX serial number's UUID and ``created`` is the
image's creation time: same image, same bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from repro import __version__
from repro.errors import Error
from repro.sbom.cyclonedx import (
    SERIAL_NAMESPACE,
    Inventory,
    InventoryComponent,
    UnownedFile,
    image_purl,
    origin_properties,
    timestamp,
)
from repro.sbom.licenses import is_spdx, normalize
from repro.sbom.model import LAYER_PROPERTY, Distro

__all__ = ["SPDX_VERSION", "build_document", "render", "validate"]

SPDX_VERSION = "SPDX-2.3"
NOASSERTION = "NOASSERTION"
_DISTRO_TYPES = frozenset({"deb", "apk", "rpm"})
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")
_CHECKSUMS = {"md5": "MD5", "sha1": "SHA1", "sha256": "SHA256", "sha384": "SHA384", "sha512": "SHA512"}
_ACTOR = re.compile(r"^\s*(?P<name>[^<]*?)\s*(?:<(?P<email>[^>]*)>)?\s*$")
#: Before any image has a time: a fixed date rather than "now", so the bytes stay the same.
_EPOCH = "1970-01-01T00:00:00Z"
#: The comment of the image -> file relationship of an unowned binary.
UNOWNED_FILE_COMMENT = "contains: an executable or shared library that no package owns"


def _id_part(text: str, limit: int = 60) -> str:
    return _ID_UNSAFE.sub("-", text).strip("-")[:limit] or "x"


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def package_spdx_id(purl: str, kind: str, name: str) -> str:
    """``SPDXRef-Package-deb-libc6-<16 hex of the purl's sha256>``: unique and stable."""
    return f"SPDXRef-Package-{_id_part(kind, 20)}-{_id_part(name)}-{_short_hash(purl)}"


def file_spdx_id(path: str) -> str:
    return f"SPDXRef-File-{_id_part(path)}-{_short_hash(path)}"


def _os_spdx_id(distro: Distro) -> str:
    return f"SPDXRef-OperatingSystem-{_id_part(distro.id)}-{_id_part(distro.version_id or 'unknown')}"


def _supplier(text: str | None) -> str:
    """``Organization: NAME (EMAIL)`` from a maintainer field; NOASSERTION when unusable."""
    if not text:
        return NOASSERTION
    match = _ACTOR.match(text.replace("\n", " "))
    if match is None:
        return NOASSERTION
    # SPDX's actor syntax ends the name at "(" and has no escaping: keep the name plain.
    name = re.sub(r"[()]", "", match.group("name")).strip(" ,")
    if not name:
        return NOASSERTION
    email = re.sub(r"[()]", "", match.group("email") or "").strip()
    return f"Organization: {name} ({email})" if email else f"Organization: {name}"


class _Licenses:
    """SPDX licence expressions; names that are not SPDX become ``LicenseRef-`` entries."""

    def __init__(self) -> None:
        self.extracted: dict[str, str] = {}

    def _ref(self, name: str) -> str:
        base = _id_part(name, 40)
        ref = f"LicenseRef-{base}" if base == name else f"LicenseRef-{base}-{_short_hash(name)[:8]}"
        self.extracted.setdefault(ref, name)
        return ref

    def expression(self, values: Sequence[str]) -> str:
        parts = []
        for value in sorted({v.strip() for v in values if v.strip()}):
            if is_spdx(value):
                text = normalize(value)
                parts.append(f"({text})" if " " in text else text)
            else:
                parts.append(self._ref(value))
        if not parts:
            return NOASSERTION
        return parts[0].removeprefix("(").removesuffix(")") if len(parts) == 1 else " AND ".join(parts)

    def infos(self) -> list[dict[str, str]]:
        return [
            {"licenseId": ref, "extractedText": text, "name": text}
            for ref, text in sorted(self.extracted.items())
        ]


def _comment(properties: Sequence[tuple[str, str]]) -> str:
    return "\n".join(f"{name}: {value}" for name, value in properties)


def _package(item: InventoryComponent, licenses: _Licenses) -> dict[str, Any]:
    pkg = item.package
    out: dict[str, Any] = {
        "name": pkg.name,
        "SPDXID": package_spdx_id(pkg.purl, pkg.type, pkg.name),
    }
    if pkg.version:
        out["versionInfo"] = pkg.version
    out["supplier"] = _supplier(pkg.supplier)
    out["downloadLocation"] = NOASSERTION
    out["filesAnalyzed"] = False
    checksums = [
        {"algorithm": _CHECKSUMS[alg.lower()], "checksumValue": value.lower()}
        for alg, value in sorted(pkg.hashes.items())
        if alg.lower() in _CHECKSUMS
    ]
    if checksums:
        out["checksums"] = checksums
    if item.locations:
        out["sourceInfo"] = "found in: " + ", ".join(f"/{loc}" for loc in item.locations)
    out["licenseConcluded"] = NOASSERTION
    out["licenseDeclared"] = licenses.expression(pkg.licenses)
    out["copyrightText"] = NOASSERTION
    if pkg.description:
        out["description"] = pkg.description
    props = [("repro:package:type", pkg.type)]
    for key, value in sorted(pkg.properties.items()):
        if key == LAYER_PROPERTY or not value:
            continue
        props.append((key if ":" in key else f"repro:package:{key}", value))
    props += [(p["name"], p["value"]) for p in origin_properties(item.origin)]
    out["comment"] = _comment(props)
    out["externalRefs"] = [
        {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": pkg.purl}
    ]
    out["primaryPackagePurpose"] = "LIBRARY"
    return out


def _os_package(distro: Distro) -> dict[str, Any]:
    out: dict[str, Any] = {"name": distro.id, "SPDXID": _os_spdx_id(distro)}
    if distro.version_id:
        out["versionInfo"] = distro.version_id
    out.update(
        {
            "supplier": NOASSERTION,
            "downloadLocation": NOASSERTION,
            "filesAnalyzed": False,
            "licenseConcluded": NOASSERTION,
            "licenseDeclared": NOASSERTION,
            "copyrightText": NOASSERTION,
        }
    )
    if distro.pretty_name:
        out["description"] = distro.pretty_name
    props = [("repro:distro:id", distro.id)]
    for key, value in (
        ("versionID", distro.version_id),
        ("versionCodename", distro.version_codename),
        ("name", distro.name),
        ("prettyName", distro.pretty_name),
        ("idLike", " ".join(distro.id_like)),
    ):
        if value:
            props.append((f"repro:distro:{key}", value))
    out["comment"] = _comment(props)
    out["primaryPackagePurpose"] = "OPERATING-SYSTEM"
    return out


def _image_package(inventory: Inventory) -> dict[str, Any]:
    image = inventory.image
    props = [
        ("repro:image:digest", image.digest),
        ("repro:image:configDigest", image.config_digest),
        ("repro:image:platform", f"{image.os}/{image.architecture}"),
    ]
    if image.tag:
        props.append(("repro:image:tag", image.tag))
    props += sorted(inventory.properties.items())
    props.append(("repro:unownedFiles:count", str(inventory.unowned_total)))
    if inventory.unowned_total > len(inventory.unowned):
        props.append(("repro:unownedFiles:listed", str(len(inventory.unowned))))
    algorithm, _, hexdigest = image.digest.partition(":")
    out: dict[str, Any] = {
        "name": image.name,
        "SPDXID": f"SPDXRef-DocumentRoot-Image-{_id_part(image.name)}",
        "versionInfo": image.digest,
        "supplier": NOASSERTION,
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": False,
    }
    if algorithm.lower() in _CHECKSUMS:
        out["checksums"] = [{"algorithm": _CHECKSUMS[algorithm.lower()], "checksumValue": hexdigest}]
    out.update(
        {
            "licenseConcluded": NOASSERTION,
            "licenseDeclared": NOASSERTION,
            "copyrightText": NOASSERTION,
            "comment": _comment(props),
            "externalRefs": [
                {
                    "referenceCategory": "PACKAGE-MANAGER",
                    "referenceType": "purl",
                    "referenceLocator": image_purl(image),
                }
            ],
            "primaryPackagePurpose": "CONTAINER",
        }
    )
    return out


def _file(item: UnownedFile) -> dict[str, Any]:
    props = [("repro:file:kind", item.kind), ("repro:file:size", str(item.size))]
    props += [(p["name"], p["value"]) for p in origin_properties(item.origin)]
    checksums = []
    if item.sha1:
        checksums.append({"algorithm": "SHA1", "checksumValue": item.sha1})
    checksums.append({"algorithm": "SHA256", "checksumValue": item.sha256})
    return {
        "fileName": f"./{item.path}",
        "SPDXID": file_spdx_id(item.path),
        "checksums": checksums,
        "fileTypes": ["BINARY"],
        "licenseConcluded": NOASSERTION,
        "copyrightText": NOASSERTION,
        "comment": _comment(props),
    }


def _relationship(source: str, kind: str, target: str) -> dict[str, str]:
    return {"spdxElementId": source, "relatedSpdxElement": target, "relationshipType": kind}


def build_document(inventory: Inventory) -> dict[str, Any]:
    """The SPDX document as JSON-ready data (not yet validated)."""
    import uuid

    image = inventory.image
    licenses = _Licenses()
    root = _image_package(inventory)
    packages = [root]
    ids: dict[str, str] = {}
    os_id = None
    if inventory.distro is not None:
        os_package = _os_package(inventory.distro)
        os_id = os_package["SPDXID"]
        packages.append(os_package)
    for item in inventory.components:
        package = _package(item, licenses)
        ids[item.package.purl] = package["SPDXID"]
        packages.append(package)
    files = [_file(item) for item in inventory.unowned]

    relationships = [_relationship("SPDXRef-DOCUMENT", "DESCRIBES", root["SPDXID"])]
    contains: list[tuple[str, str]] = []
    depends: list[tuple[str, str]] = []
    if os_id is not None:
        contains.append((root["SPDXID"], os_id))
    for item in inventory.components:
        pkg = item.package
        holder = os_id if os_id is not None and pkg.type in _DISTRO_TYPES else root["SPDXID"]
        contains.append((holder, ids[pkg.purl]))
        depends += [(ids[pkg.purl], ids[d]) for d in pkg.depends_on if d in ids and d != pkg.purl]
    relationships += [_relationship(a, "CONTAINS", b) for a, b in sorted(set(contains))]
    relationships += [_relationship(a, "DEPENDS_ON", b) for a, b in sorted(set(depends))]
    # The image package is not "files analyzed" (its files were not all listed), and SPDX
    # forbids CONTAINS from such a package to a file: the edge is OTHER, with its meaning.
    relationships += [
        {**_relationship(root["SPDXID"], "OTHER", f["SPDXID"]), "comment": UNOWNED_FILE_COMMENT}
        for f in files
    ]

    document: dict[str, Any] = {
        "spdxVersion": SPDX_VERSION,
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": image.name,
        "documentNamespace": f"urn:uuid:{uuid.uuid5(SERIAL_NAMESPACE, image.digest)}",
        "creationInfo": {
            "created": timestamp(image.created) or _EPOCH,
            "creators": [f"Tool: repro-{__version__}"],
        },
    }
    extracted = licenses.infos()
    if extracted:
        document["hasExtractedLicensingInfos"] = extracted
    document["packages"] = packages
    if files:
        document["files"] = files
    document["relationships"] = relationships
    return document


def validation_errors(document: Mapping[str, Any]) -> list[str]:
    """What ``spdx-tools`` finds wrong with ``document`` (parsed JSON); empty when valid."""
    from spdx_tools.spdx.parser.error import SPDXParsingError
    from spdx_tools.spdx.parser.jsonlikedict.json_like_dict_parser import JsonLikeDictParser
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    try:
        parsed = JsonLikeDictParser().parse(dict(document))  # type: ignore[no-untyped-call]
    except SPDXParsingError as exc:
        return [str(message) for message in exc.messages]
    return [message.validation_message for message in validate_full_spdx_document(parsed, SPDX_VERSION)]


def validate(text: str) -> None:
    """Raise an internal :class:`~repro.errors.Error` unless ``text`` is a valid SPDX 2.3 document."""
    errors = validation_errors(json.loads(text))
    if errors:
        shown = "; ".join(errors[:3]) + (f" (and {len(errors) - 3} more)" if len(errors) > 3 else "")
        raise Error(
            f"internal error: the generated SBOM is not valid {SPDX_VERSION}: {shown}",
            hint="this is a bug in repro; please report it with the image that caused it",
        )


def render(inventory: Inventory) -> bytes:
    """The validated SPDX 2.3 JSON document, as UTF-8 bytes ending in a newline."""
    text = json.dumps(build_document(inventory), indent=2, ensure_ascii=False) + "\n"
    validate(text)
    return text.encode("utf-8")
