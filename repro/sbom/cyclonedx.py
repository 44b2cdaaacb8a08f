"""The CycloneDX 1.6 JSON writer: an :class:`Inventory` in, validated, deterministic bytes out.

The document is assembled as plain JSON (key order fixed here, components and
dependencies sorted by bom-ref) and then checked with cyclonedx-python-lib's strict
validator; a document that fails is a bug in repro, raised as an internal
:class:`~repro.errors.Error`, never written.

Determinism: the serial number is a UUIDv5 of the image digest, the timestamp is the
image's ``created`` time, and every bom-ref is derived from the purl (packages), the
distro (``os:debian@12``) or the path (files). Same image, same bytes.

Properties repro adds live in the ``repro:`` namespace: ``repro:layer:index``,
``repro:layer:digest``, ``repro:layer:diffID``, ``repro:layer:createdBy``,
``repro:location`` (``Dockerfile:7``), ``repro:package:<key>``.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from repro import __version__
from repro.errors import Error
from repro.sbom.licenses import is_spdx, normalize
from repro.sbom.model import LAYER_PROPERTY, Distro, LayerProperties, Package

__all__ = [
    "SERIAL_NAMESPACE",
    "ImageInfo",
    "Inventory",
    "InventoryComponent",
    "UnownedFile",
    "render",
    "validate",
]

logger = logging.getLogger(__name__)

SPEC_VERSION = "1.6"
#: UUIDv5 namespace of SBOM serial numbers: ``urn:uuid:uuid5(SERIAL_NAMESPACE, image digest)``.
SERIAL_NAMESPACE = uuid.UUID("5b3e0a52-1c8f-5d0e-9a51-7e6f2c4d9b10")
_HASH_NAMES = {"md5": "MD5", "sha1": "SHA-1", "sha256": "SHA-256", "sha384": "SHA-384", "sha512": "SHA-512"}
_DISTRO_TYPES = frozenset({"deb", "apk", "rpm"})
_LICENSE_REF = re.compile(r"[^A-Za-z0-9.-]+")


@dataclass(frozen=True)
class ImageInfo:
    """The image the SBOM describes (``metadata.component``)."""

    name: str
    digest: str  # manifest digest, "sha256:…"
    config_digest: str
    architecture: str
    os: str
    created: str | None  # RFC 3339 from the image config
    repository_url: str | None = None
    tag: str | None = None


@dataclass(frozen=True)
class InventoryComponent:
    """A package (duplicates merged), where it was found, and the layer that brought it."""

    package: Package
    locations: tuple[str, ...]
    origin: LayerProperties | None


@dataclass(frozen=True)
class UnownedFile:
    """An executable or shared library that no cataloger claims."""

    path: str
    sha256: str
    size: int
    kind: str  # "executable" or "shared-library"
    origin: LayerProperties | None
    sha1: str = ""  # SPDX requires a SHA-1 of every file


@dataclass(frozen=True)
class Inventory:
    """Everything an SBOM says about one image."""

    image: ImageInfo
    distro: Distro | None
    components: tuple[InventoryComponent, ...]
    unowned: tuple[UnownedFile, ...] = ()
    unowned_total: int = 0  # may exceed len(unowned) when the list was capped
    properties: Mapping[str, str] = field(default_factory=dict)


# --- validation ------------------------------------------------------------------------------

_validator_lock = threading.Lock()
_validator: Any = None


def preload_validator() -> None:
    """Import and build the strict validator (slow: ~1 s of schema and grammar set-up).

    :class:`BackgroundValidator` does it in a worker process while the layers stream.
    """
    global _validator  # noqa: PLW0603 (one process-wide validator, built once)
    with _validator_lock:
        if _validator is None:
            from cyclonedx.schema import SchemaVersion
            from cyclonedx.validation.json import JsonStrictValidator

            _validator = JsonStrictValidator(SchemaVersion.V1_6)


def validation_error(text: str) -> str | None:
    """Why ``text`` is not valid CycloneDX 1.6 JSON, or None when it is."""
    preload_validator()
    error = _validator.validate_str(text)
    return None if error is None else str(error)


def _raise_invalid(error: str) -> None:
    raise Error(
        f"internal error: the generated SBOM is not valid CycloneDX {SPEC_VERSION}: {error}",
        hint="this is a bug in repro; please report it with the image that caused it",
    )


def validate(text: str) -> None:
    """Raise an internal :class:`~repro.errors.Error` unless ``text`` is valid CycloneDX 1.6 JSON."""
    error = validation_error(text)
    if error is not None:
        _raise_invalid(error)


class BackgroundValidator:
    """The strict validator, set up in a worker process while the caller does other work.

    Building the validator costs about a second of pure Python (schema loading and an IRI
    grammar for format checks); a thread would fight the layer scan for the GIL, a worker
    process runs on another core. If the worker cannot be used, validation happens here.

        >>> with BackgroundValidator() as validator:   # doctest: +SKIP
        ...     text = expensive_work()
        ...     validator.validate(text)
    """

    def __init__(self, *, use_worker: bool = True) -> None:
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        self._pool: Any = None
        if not use_worker:
            return
        try:
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"))
            self._warm = self._pool.submit(preload_validator)
        except OSError as exc:  # no processes available: validate in this process
            logger.debug("validator worker not started: %s", exc)
            self._pool = None

    def validate(self, text: str) -> None:
        from concurrent.futures.process import BrokenProcessPool

        error: str | None
        if self._pool is None:
            error = validation_error(text)
        else:
            try:
                error = self._pool.submit(validation_error, text).result()
            except BrokenProcessPool as exc:
                logger.debug("validator worker died (%s); validating here", exc)
                error = validation_error(text)
        if error is not None:
            _raise_invalid(error)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> BackgroundValidator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# --- rendering -------------------------------------------------------------------------------


def _property(name: str, value: str) -> dict[str, str]:
    return {"name": name, "value": value}


def origin_properties(origin: LayerProperties | None) -> list[dict[str, str]]:
    """The ``repro:layer:*`` and ``repro:location`` properties of a layer origin."""
    if origin is None:
        return []
    props = [
        _property("repro:layer:index", str(origin.index)),
        _property("repro:layer:digest", str(origin.digest)),
        _property("repro:layer:diffID", str(origin.diff_id)),
    ]
    if origin.created_by:
        props.append(_property("repro:layer:createdBy", origin.created_by))
    if origin.instruction:
        props.append(_property("repro:layer:instruction", origin.instruction))
    if origin.location:
        props.append(_property("repro:location", origin.location))
    return props


def _license_ref(name: str) -> str:
    return "LicenseRef-" + (_LICENSE_REF.sub("-", name).strip("-") or "unknown")


def _licenses(values: Sequence[str]) -> list[dict[str, Any]]:
    """CycloneDX licence choices: ids and names, or one expression when one is compound."""
    from cyclonedx.spdx import is_supported_id

    values = sorted({v.strip() for v in values if v.strip()})
    if not values:
        return []
    compound = any(" " in v for v in values)
    if not compound:
        out: list[dict[str, Any]] = []
        for value in values:
            key = "id" if is_supported_id(value) else "name"
            out.append({"license": {key: value}})
        return out
    parts = []
    for value in values:
        if is_spdx(value):
            text = normalize(value)
            parts.append(f"({text})" if " " in text else text)
        else:
            parts.append(_license_ref(value))
    return [{"expression": " AND ".join(parts)}]


def _package_component(item: InventoryComponent) -> dict[str, Any]:
    pkg = item.package
    component: dict[str, Any] = {"bom-ref": pkg.purl, "type": "library"}
    if pkg.supplier:
        component["publisher"] = pkg.supplier
    component["name"] = pkg.name
    if pkg.version:
        component["version"] = pkg.version
    if pkg.description:
        component["description"] = pkg.description
    hashes = [
        {"alg": _HASH_NAMES[alg.lower()], "content": value.lower()}
        for alg, value in sorted(pkg.hashes.items())
        if alg.lower() in _HASH_NAMES
    ]
    if hashes:
        component["hashes"] = hashes
    licenses = _licenses(pkg.licenses)
    if licenses:
        component["licenses"] = licenses
    component["purl"] = pkg.purl
    props = [_property("repro:package:type", pkg.type)]
    for key, value in sorted(pkg.properties.items()):
        if key == LAYER_PROPERTY or not value:
            continue
        props.append(_property(key if ":" in key else f"repro:package:{key}", value))
    props += origin_properties(item.origin)
    component["properties"] = props
    if item.locations:
        component["evidence"] = {"occurrences": [{"location": f"/{loc}"} for loc in item.locations]}
    return component


def _file_component(item: UnownedFile) -> dict[str, Any]:
    return {
        "bom-ref": f"file:/{item.path}",
        "type": "file",
        "name": f"/{item.path}",
        "hashes": [{"alg": "SHA-256", "content": item.sha256}],
        "properties": [
            _property("repro:file:kind", item.kind),
            _property("repro:file:size", str(item.size)),
            *origin_properties(item.origin),
        ],
    }


def os_bom_ref(distro: Distro) -> str:
    return f"os:{distro.id}@{distro.version_id}" if distro.version_id else f"os:{distro.id}"


def _os_component(distro: Distro) -> dict[str, Any]:
    component: dict[str, Any] = {"bom-ref": os_bom_ref(distro), "type": "operating-system", "name": distro.id}
    if distro.version_id:
        component["version"] = distro.version_id
    if distro.pretty_name:
        component["description"] = distro.pretty_name
    props = [_property("repro:distro:id", distro.id)]
    for key, value in (
        ("versionID", distro.version_id),
        ("versionCodename", distro.version_codename),
        ("name", distro.name),
        ("prettyName", distro.pretty_name),
        ("idLike", " ".join(distro.id_like)),
    ):
        if value:
            props.append(_property(f"repro:distro:{key}", value))
    component["properties"] = props
    return component


def image_purl(image: ImageInfo) -> str:
    """``pkg:oci/NAME@sha256%3A…?repository_url=…`` as the purl spec spells OCI images."""
    from repro.sbom import purl

    qualifiers = {"repository_url": image.repository_url or ""}
    version = image.digest.replace(":", "%3A")
    return f"pkg:oci/{purl.escape(image.name.lower())}@{version}" + (
        f"?repository_url={purl.escape(qualifiers['repository_url'])}" if image.repository_url else ""
    )


def timestamp(created: str | None) -> str | None:
    """An image config's ``created`` as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC), or None."""
    if not created:
        return None
    try:
        moment = datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _dependencies(
    image_ref: str, distro_ref: str | None, components: Iterable[InventoryComponent], files: Iterable[str]
) -> list[dict[str, Any]]:
    known = set()
    edges: dict[str, set[str]] = {image_ref: set()}
    if distro_ref is not None:
        edges[image_ref].add(distro_ref)
        edges[distro_ref] = set()
        known.add(distro_ref)
    comps = list(components)
    known.update(c.package.purl for c in comps)
    for comp in comps:
        pkg = comp.package
        if distro_ref is not None and pkg.type in _DISTRO_TYPES:
            edges[distro_ref].add(pkg.purl)
        else:
            edges[image_ref].add(pkg.purl)
        edges[pkg.purl] = {d for d in pkg.depends_on if d in known and d != pkg.purl}
    for ref in files:
        edges[image_ref].add(ref)
    ordered = [image_ref, *sorted(ref for ref in edges if ref != image_ref)]
    return [{"ref": ref, "dependsOn": sorted(edges[ref])} for ref in ordered]


def build_document(inventory: Inventory) -> dict[str, Any]:
    """The CycloneDX document as JSON-ready data (not yet validated)."""
    image = inventory.image
    image_ref = image_purl(image)
    metadata: dict[str, Any] = {}
    created = timestamp(image.created)
    if created is not None:
        metadata["timestamp"] = created
    metadata["tools"] = {"components": [{"type": "application", "name": "repro", "version": __version__}]}
    image_props = [
        _property("repro:image:digest", image.digest),
        _property("repro:image:configDigest", image.config_digest),
        _property("repro:image:platform", f"{image.os}/{image.architecture}"),
    ]
    if image.tag:
        image_props.append(_property("repro:image:tag", image.tag))
    metadata["component"] = {
        "bom-ref": image_ref,
        "type": "container",
        "name": image.name,
        "version": image.digest,
        "purl": image_ref,
        "properties": image_props,
    }
    meta_props = [_property(k, v) for k, v in sorted(inventory.properties.items())]
    meta_props.append(_property("repro:unownedFiles:count", str(inventory.unowned_total)))
    if inventory.unowned_total > len(inventory.unowned):
        meta_props.append(_property("repro:unownedFiles:listed", str(len(inventory.unowned))))
    metadata["properties"] = meta_props

    components = [_package_component(c) for c in inventory.components]
    files = [_file_component(f) for f in inventory.unowned]
    distro_ref = None
    if inventory.distro is not None:
        components.append(_os_component(inventory.distro))
        distro_ref = os_bom_ref(inventory.distro)
    components += files
    components.sort(key=lambda c: (c["type"] != "operating-system", c["type"] == "file", c["bom-ref"]))
    return {
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": f"urn:uuid:{uuid.uuid5(SERIAL_NAMESPACE, image.digest)}",
        "version": 1,
        "metadata": metadata,
        "components": components,
        "dependencies": _dependencies(
            image_ref, distro_ref, inventory.components, [f["bom-ref"] for f in files]
        ),
    }


def render(inventory: Inventory, *, validator: BackgroundValidator | None = None) -> bytes:
    """The validated CycloneDX 1.6 JSON document, as UTF-8 bytes ending in a newline."""
    text = json.dumps(build_document(inventory), indent=2, ensure_ascii=False) + "\n"
    if validator is not None:
        validator.validate(text)
    else:
        validate(text)
    return text.encode("utf-8")
