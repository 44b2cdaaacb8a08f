"""OCI 1.1 referrer manifests for attestations, as cosign v3 stores Sigstore bundles.

One bundle is one artifact manifest: ``artifactType`` is the bundle media type (in the
manifest and, as cosign writes it, in the config descriptor), the config is the empty
descriptor (``{}``), there is one layer (the bundle) and the ``subject`` is the image. Annotations say what the bundle holds, so a client can filter without fetching it:

- ``dev.sigstore.bundle.content``: ``dsse-envelope``
- ``dev.sigstore.bundle.predicateType``: the statement's predicate type
- ``org.opencontainers.image.created``: when it was signed

The SBOM is pushed a second time as a plain ``application/vnd.cyclonedx+json`` referrer for
tools that do not read attestations. Whoever pushes (:mod:`repro.images.push`) uploads
:data:`EMPTY_CONFIG` and the layer bytes, then the manifest with ``push_referrer``.

    >>> from repro.digest import Digest
    >>> image = Descriptor(OCI_MANIFEST, Digest.of(b"image"), 5)
    >>> data, media_type = referrer_manifest(
    ...     b"{}", subject=image, predicate_type="https://slsa.dev/provenance/v1", created="2024-01-01T00:00:00Z"
    ... )
    >>> media_type
    'application/vnd.oci.image.manifest.v1+json'
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Final

from repro.attest.bundle import BUNDLE_V03
from repro.attest.statements import rfc3339
from repro.digest import Digest
from repro.errors import ImageError
from repro.fsutil import atomic_write
from repro.oci.layout import ImageLayout
from repro.oci.media import OCI_EMPTY, OCI_INDEX, OCI_MANIFEST
from repro.oci.models import EMPTY_DESCRIPTOR, EMPTY_JSON, Descriptor, Manifest, parse_manifest

#: The artifactType (and layer media type) of a Sigstore bundle referrer.
BUNDLE_ARTIFACT_TYPE: Final = BUNDLE_V03
#: The artifactType (and layer media type) of a plain CycloneDX SBOM referrer.
CYCLONEDX_ARTIFACT_TYPE: Final = "application/vnd.cyclonedx+json"

ANNOTATION_CONTENT: Final = "dev.sigstore.bundle.content"
ANNOTATION_PREDICATE_TYPE: Final = "dev.sigstore.bundle.predicateType"
ANNOTATION_CREATED: Final = "org.opencontainers.image.created"
CONTENT_DSSE: Final = "dsse-envelope"

#: The empty config blob of an OCI 1.1 artifact, and its descriptor.
EMPTY_CONFIG: Final = EMPTY_JSON
EMPTY_CONFIG_DESCRIPTOR: Final = EMPTY_DESCRIPTOR


def _created(created: datetime | str) -> str:
    return created if isinstance(created, str) else rfc3339(created)


def _artifact_manifest(
    layer: bytes, *, artifact_type: str, subject: Descriptor, annotations: dict[str, str]
) -> bytes:
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        # cosign puts the artifactType in the config descriptor too (WriteReferrer).
        "config": {**EMPTY_CONFIG_DESCRIPTOR.to_json(), "artifactType": artifact_type},
        "layers": [{"mediaType": artifact_type, "digest": str(Digest.of(layer)), "size": len(layer)}],
        "subject": {"mediaType": subject.media_type, "digest": str(subject.digest), "size": subject.size},
        "annotations": annotations,
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def referrer_manifest(
    bundle_bytes: bytes, *, subject: Descriptor, predicate_type: str, created: datetime | str
) -> tuple[bytes, str]:
    """The artifact manifest for one Sigstore bundle attached to ``subject``, and its media type.

    The layer is ``bundle_bytes`` (push it as a blob, with :data:`EMPTY_CONFIG`, before
    the manifest).
    """
    annotations = {
        ANNOTATION_CONTENT: CONTENT_DSSE,
        ANNOTATION_PREDICATE_TYPE: predicate_type,
        ANNOTATION_CREATED: _created(created),
    }
    manifest = _artifact_manifest(
        bundle_bytes, artifact_type=BUNDLE_ARTIFACT_TYPE, subject=subject, annotations=annotations
    )
    return manifest, OCI_MANIFEST


def add_to_layout(layout: ImageLayout, manifest_bytes: bytes, layer: bytes) -> Descriptor:
    """Store an artifact made here in an OCI layout, as an untagged ``index.json`` entry.

    The blobs go in first, the entry last (``index.json`` is replaced atomically), so the
    layout never lists an artifact whose content is missing. ``repro push`` carries such
    entries to the registry as referrers of the image they name as subject.
    """
    document = parse_manifest(manifest_bytes, OCI_MANIFEST)
    if not isinstance(document, Manifest):
        raise ImageError("an attestation referrer must be an image manifest")
    layout.write_blob(EMPTY_CONFIG, OCI_EMPTY)
    layout.write_blob(layer, document.layers[0].media_type)
    layout.write_blob(manifest_bytes, OCI_MANIFEST)
    entry = document.descriptor()
    index = layout.index()
    if all(d.digest != entry.digest for d in index.manifests):
        entries = [*(json.loads(index.data).get("manifests", [])), entry.to_json()]
        obj = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
        atomic_write(layout.path / "index.json", (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())
    return entry
