"""pull_image into a layout, with a registry client stand-in (offline)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, BinaryIO, cast

import pytest

from repro.digest import Digest
from repro.errors import PlatformNotFoundError
from repro.oci import media
from repro.oci.layout import ImageLayout
from repro.oci.models import AnyManifest, parse_manifest
from repro.oci.pull import pull_image
from repro.platform import Platform
from repro.reference import ImageRef, parse_reference
from repro.registry.client import RegistryClient


def _descriptor(data: bytes, media_type: str, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": str(Digest.of(data)), "size": len(data), **extra}


class FakeRegistry:
    """Serves one amd64 and one arm64 image behind an index, from memory."""

    def __init__(self) -> None:
        self.blobs: dict[Digest, bytes] = {}
        self.manifests: dict[str, bytes] = {}
        entries = []
        for arch in ("amd64", "arm64"):
            layer = f"layer for {arch}".encode()
            config = json.dumps(
                {"architecture": arch, "os": "linux", "rootfs": {"diff_ids": [str(Digest.of(layer))]}}
            ).encode()
            self.blobs[Digest.of(layer)] = layer
            self.blobs[Digest.of(config)] = config
            manifest = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": media.OCI_MANIFEST,
                    "config": _descriptor(config, media.OCI_CONFIG),
                    "layers": [_descriptor(layer, media.OCI_LAYER_GZIP)],
                }
            ).encode()
            self.manifests[str(Digest.of(manifest))] = manifest
            entries.append(
                _descriptor(manifest, media.OCI_MANIFEST, platform={"os": "linux", "architecture": arch})
            )
        index = json.dumps({"schemaVersion": 2, "mediaType": media.OCI_INDEX, "manifests": entries}).encode()
        self.manifests["latest"] = index
        self.fetched: list[Digest] = []

    def get_manifest(self, ref: ImageRef) -> AnyManifest:
        data = self.manifests[ref.reference]
        return parse_manifest(data, json.loads(data)["mediaType"], digest=Digest.of(data))

    def fetch_blob(
        self, domain: str, path: str, digest: Digest, dest: BinaryIO | Path, *, size: int | None = None
    ) -> int:
        assert isinstance(dest, Path)
        data = self.blobs[digest]
        assert size == len(data)
        self.fetched.append(digest)
        dest.write_bytes(data)
        return len(data)


def test_pulls_the_platform_image_into_a_layout(tmp_path: Path) -> None:
    registry = FakeRegistry()
    client = cast(RegistryClient, registry)
    ref = parse_reference("registry.example.com/app:latest")
    descriptor = pull_image(client, ref, tmp_path / "img", tag="t", platform=Platform.parse("linux/arm64"))
    image = ImageLayout.open(tmp_path / "img").image("t")
    assert image.digest == descriptor.digest
    assert image.config["architecture"] == "arm64"
    assert len(registry.fetched) == 2
    # pulling again fetches nothing that is already there
    pull_image(client, ref, tmp_path / "img", tag="t", platform=Platform.parse("linux/arm64"))
    assert len(registry.fetched) == 2


def test_a_platform_the_index_lacks_is_an_error(tmp_path: Path) -> None:
    client = cast(RegistryClient, FakeRegistry())
    with pytest.raises(PlatformNotFoundError, match=r"linux/s390x \(has: linux/amd64, linux/arm64"):
        pull_image(
            client,
            parse_reference("registry.example.com/app"),
            tmp_path,
            platform=Platform.parse("linux/s390x"),
        )
