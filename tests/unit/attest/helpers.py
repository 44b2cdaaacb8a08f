"""Small OCI layouts with attestations attached, for verify-image tests."""

from __future__ import annotations

import json
from pathlib import Path

from repro.attest.referrers import add_to_layout, referrer_manifest
from repro.attest.sign import Signer
from repro.attest.statements import Statement, Subject
from repro.digest import Digest
from repro.oci import media
from repro.oci.layout import ImageLayout
from repro.oci.models import Descriptor

CREATED = "2024-05-01T12:00:00Z"


def make_image(path: Path, *, tag: str = "latest", label: str = "one") -> tuple[ImageLayout, Descriptor]:
    """A layout holding one (layerless) image tagged ``tag``."""
    layout = ImageLayout.create(path)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Labels": {"l": label}},
            "rootfs": {"type": "layers", "diff_ids": []},
        }
    ).encode()
    config_desc = layout.write_blob(config, media.OCI_CONFIG)
    manifest = json.dumps(
        {"schemaVersion": 2, "mediaType": media.OCI_MANIFEST, "config": config_desc.to_json(), "layers": []}
    ).encode()
    descriptor = layout.write_blob(manifest, media.OCI_MANIFEST)
    layout.set_tag(tag, descriptor)
    return layout, descriptor


def statement_for(
    digest: Digest, predicate_type: str, predicate: dict[str, object] | None = None
) -> Statement:
    return Statement((Subject("registry.example/app", digest),), predicate_type, predicate or {"test": True})


def attach(layout: ImageLayout, subject: Descriptor, bundle: bytes, predicate_type: str) -> Descriptor:
    """Store ``bundle`` in the layout as a referrer of ``subject``."""
    manifest, _ = referrer_manifest(bundle, subject=subject, predicate_type=predicate_type, created=CREATED)
    return add_to_layout(layout, manifest, bundle)


def sign_and_attach(
    layout: ImageLayout,
    subject: Descriptor,
    signer: Signer,
    predicate_type: str,
    *,
    about: Digest | None = None,
) -> bytes:
    bundle = signer.sign(statement_for(about or subject.digest, predicate_type))
    attach(layout, subject, bundle, predicate_type)
    return bundle


def add_platform_image(layout: ImageLayout, platform: str, *, label: str = "one") -> Descriptor:
    """An untagged (layerless) image for ``platform`` (``os/arch``), as an index entry."""
    from repro.platform import Platform

    os, arch = platform.split("/")
    config = json.dumps(
        {
            "architecture": arch,
            "os": os,
            "config": {"Labels": {"l": label}},
            "rootfs": {"type": "layers", "diff_ids": []},
        }
    ).encode()
    config_desc = layout.write_blob(config, media.OCI_CONFIG)
    manifest = json.dumps(
        {"schemaVersion": 2, "mediaType": media.OCI_MANIFEST, "config": config_desc.to_json(), "layers": []}
    ).encode()
    written = layout.write_blob(manifest, media.OCI_MANIFEST)
    return Descriptor(written.media_type, written.digest, written.size, platform=Platform.parse(platform))


def make_index(layout: ImageLayout, entries: list[Descriptor], *, tag: str = "multi") -> Descriptor:
    """An index of ``entries`` in the layout, tagged ``tag``."""
    from repro.oci.models import index_json

    index = layout.write_blob(index_json([e.to_json() for e in entries]), media.OCI_INDEX)
    ImageLayout(layout.path).set_tag(tag, index)
    return index
