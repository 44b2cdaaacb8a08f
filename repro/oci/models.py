"""Typed, validated views of the JSON documents a registry serves: descriptors, image
manifests and indexes.

A registry is not trusted to send well-formed JSON: every parser here checks types and
required fields and raises :class:`~repro.errors.RegistryError` naming what is wrong.
Parsed documents keep their exact bytes (``data``), since a digest is over bytes, not JSON.

    >>> raw = b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",'
    >>> raw += b' "manifests": []}'
    >>> doc = parse_manifest(raw)
    >>> isinstance(doc, Index), doc.manifests
    (True, ())
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from repro.digest import Digest
from repro.errors import ReferenceFormatError, RegistryError, UnsupportedMediaTypeError, UsageError
from repro.oci import media
from repro.platform import Platform

_EMPTY: Mapping[str, str] = MappingProxyType({})


def _frozen(mapping: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class Descriptor:
    """A typed pointer to content: media type, digest, size, and optional extras."""

    media_type: str
    digest: Digest
    size: int
    annotations: Mapping[str, str] = field(default_factory=dict)
    artifact_type: str | None = None
    platform: Platform | None = None
    urls: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "annotations", _frozen(self.annotations))

    @classmethod
    def from_json(cls, obj: object, where: str = "descriptor") -> Descriptor:
        """Validate one descriptor object; ``where`` names it in error messages."""
        fields = _object(obj, where)
        media_type = _string(fields, "mediaType", where)
        digest_text = _string(fields, "digest", where)
        try:
            digest = Digest.parse(digest_text)
        except ReferenceFormatError as exc:
            raise RegistryError(f"{where}: invalid digest {digest_text!r}") from exc
        size = fields.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise RegistryError(f"{where}: 'size' must be a non-negative integer, got {size!r}")
        platform = None
        if "platform" in fields:
            try:
                platform = Platform.from_oci(_object(fields["platform"], f"{where}.platform"))
            except UsageError as exc:
                raise RegistryError(f"{where}.platform: {exc}") from exc
        urls = fields.get("urls", [])
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise RegistryError(f"{where}: 'urls' must be a list of strings")
        return cls(
            media_type=media_type,
            digest=digest,
            size=size,
            annotations=_annotations(fields, where),
            artifact_type=_optional_string(fields, "artifactType", where),
            platform=platform,
            urls=tuple(urls),
        )

    def to_json(self) -> dict[str, Any]:
        """The descriptor as an OCI JSON object (keys in the spec's order)."""
        obj: dict[str, Any] = {"mediaType": self.media_type, "digest": str(self.digest), "size": self.size}
        if self.urls:
            obj["urls"] = list(self.urls)
        if self.annotations:
            obj["annotations"] = dict(self.annotations)
        if self.platform is not None:
            platform = {"architecture": self.platform.architecture, "os": self.platform.os}
            if self.platform.variant:
                platform["variant"] = self.platform.variant
            obj["platform"] = platform
        if self.artifact_type is not None:
            obj["artifactType"] = self.artifact_type
        return obj


@dataclass(frozen=True)
class Manifest:
    """An image manifest (OCI or Docker v2 schema 2): one config and its layers.

    Artifacts (signatures, SBOMs, attestations) are image manifests too, with an
    ``artifact_type`` and usually a ``subject``.
    """

    data: bytes = field(repr=False)
    media_type: str
    digest: Digest
    config: Descriptor
    layers: tuple[Descriptor, ...]
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "annotations", _frozen(self.annotations))

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def effective_artifact_type(self) -> str:
        """``artifactType``, or the config's media type when there is none (OCI 1.1 rule)."""
        return self.artifact_type or self.config.media_type

    def descriptor(self) -> Descriptor:
        """A descriptor of this manifest, as a referrers index lists it."""
        return Descriptor(
            media_type=self.media_type,
            digest=self.digest,
            size=self.size,
            annotations=self.annotations,
            artifact_type=self.effective_artifact_type,
        )


@dataclass(frozen=True)
class Index:
    """An image index (OCI) or manifest list (Docker): one manifest per platform."""

    data: bytes = field(repr=False)
    media_type: str
    digest: Digest
    manifests: tuple[Descriptor, ...]
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "annotations", _frozen(self.annotations))

    @property
    def size(self) -> int:
        return len(self.data)

    def descriptor(self) -> Descriptor:
        """A descriptor of this index, as a referrers index lists it."""
        return Descriptor(
            media_type=self.media_type,
            digest=self.digest,
            size=self.size,
            annotations=self.annotations,
            artifact_type=self.artifact_type,
        )

    def platform_manifests(self) -> tuple[Descriptor, ...]:
        """Entries that are images for a platform (not BuildKit attestation entries)."""
        return tuple(
            d
            for d in self.manifests
            if d.platform is not None
            and d.annotations.get(media.DOCKER_REFERENCE_TYPE) != "attestation-manifest"
        )


#: What a manifest request can return.
AnyManifest = Manifest | Index

#: The OCI 1.1 empty JSON blob, the config of artifacts that have none.
EMPTY_JSON = b"{}"
EMPTY_DESCRIPTOR = Descriptor(media_type=media.OCI_EMPTY, digest=Digest.of(EMPTY_JSON), size=len(EMPTY_JSON))


def parse_manifest(
    data: bytes, content_type: str | None = None, *, digest: Digest | None = None
) -> AnyManifest:
    """Parse and validate a manifest or index.

    ``content_type`` is what the registry said it was; the document's own ``mediaType``
    decides when the two are consistent. ``digest`` defaults to the sha256 of ``data``.
    """
    try:
        obj = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RegistryError(f"manifest is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise RegistryError("manifest is nested too deeply to be one") from exc
    fields = _object(obj, "manifest")
    version = fields.get("schemaVersion")
    if version != 2 or isinstance(version, bool):
        raise UnsupportedMediaTypeError(f"manifest schemaVersion must be 2, got {version!r}")
    declared = _optional_string(fields, "mediaType", "manifest")
    served = _bare_type(content_type)
    media_type = _pick_media_type(declared, served, fields)
    if digest is None:
        digest = Digest.of(data)
    subject = Descriptor.from_json(fields["subject"], "manifest.subject") if "subject" in fields else None
    artifact_type = _optional_string(fields, "artifactType", "manifest")
    annotations = _annotations(fields, "manifest")
    if media_type in media.INDEX_TYPES:
        entries = fields.get("manifests")
        if not isinstance(entries, list):
            raise RegistryError("index: 'manifests' must be a list")
        return Index(
            data=data,
            media_type=media_type,
            digest=digest,
            manifests=tuple(Descriptor.from_json(e, f"index.manifests[{i}]") for i, e in enumerate(entries)),
            subject=subject,
            artifact_type=artifact_type,
            annotations=annotations,
        )
    if "config" not in fields:
        raise RegistryError("manifest: missing 'config'")
    layers = fields.get("layers")
    if not isinstance(layers, list):
        raise RegistryError("manifest: 'layers' must be a list")
    return Manifest(
        data=data,
        media_type=media_type,
        digest=digest,
        config=Descriptor.from_json(fields["config"], "manifest.config"),
        layers=tuple(Descriptor.from_json(e, f"manifest.layers[{i}]") for i, e in enumerate(layers)),
        subject=subject,
        artifact_type=artifact_type,
        annotations=annotations,
    )


def index_json(manifests: list[dict[str, Any]], *, annotations: Mapping[str, str] | None = None) -> bytes:
    """Serialise an OCI index with the given raw descriptor objects (compact, stable key order)."""
    obj: dict[str, Any] = {"schemaVersion": 2, "mediaType": media.OCI_INDEX, "manifests": manifests}
    if annotations:
        obj["annotations"] = dict(annotations)
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _bare_type(content_type: str | None) -> str | None:
    if content_type is None:
        return None
    bare = content_type.split(";", 1)[0].strip().lower()
    return bare or None


def _pick_media_type(declared: str | None, served: str | None, fields: Mapping[str, Any]) -> str:
    if declared is not None:
        if declared not in media.MANIFEST_TYPES:
            raise UnsupportedMediaTypeError(f"unsupported manifest media type {declared!r}")
        if served in media.MANIFEST_TYPES and served != declared:
            raise UnsupportedMediaTypeError(
                f"manifest declares media type {declared!r} but was served as {served!r}"
            )
        return declared
    if served in media.MANIFEST_TYPES:
        return served
    # OCI allows omitting mediaType; the shape then tells an index from a manifest.
    if "manifests" in fields and "config" not in fields:
        return media.OCI_INDEX
    if "config" in fields and "manifests" not in fields:
        return media.OCI_MANIFEST
    raise UnsupportedMediaTypeError(
        f"cannot tell the manifest type: no mediaType, served as {served or 'nothing'!r}"
    )


def _object(obj: object, where: str) -> Mapping[str, Any]:
    if not isinstance(obj, dict):
        raise RegistryError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    return obj


def _string(fields: Mapping[str, Any], key: str, where: str) -> str:
    value = fields.get(key)
    if not isinstance(value, str) or not value:
        if key not in fields:
            raise RegistryError(f"{where}: missing {key!r}")
        raise RegistryError(f"{where}: {key!r} must be a non-empty string, got {value!r}")
    return value


def _optional_string(fields: Mapping[str, Any], key: str, where: str) -> str | None:
    if key not in fields:
        return None
    return _string(fields, key, where)


def _annotations(fields: Mapping[str, Any], where: str) -> Mapping[str, str]:
    value = fields.get("annotations", {})
    if value is None:
        return _EMPTY
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise RegistryError(f"{where}: 'annotations' must map strings to strings")
    return value
