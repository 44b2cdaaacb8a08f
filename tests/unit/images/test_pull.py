"""pull_image from an image store into a layout (offline: the source store is a layout)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from repro.digest import Digest
from repro.errors import ImageError, PlatformNotFoundError
from repro.images.pull import pull_image
from repro.images.store import LayoutStore
from repro.oci import media
from repro.oci.layout import ImageLayout
from repro.platform import Platform


def _descriptor(data: bytes, media_type: str, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": str(Digest.of(data)), "size": len(data), **extra}


class CountingStore(LayoutStore):
    """A layout store that counts the blobs fetched from it."""

    fetched: list[Digest]

    def fetch_blob(self, digest: Digest, dest: Path, *, size: int | None = None) -> None:
        self.fetched.append(digest)
        super().fetch_blob(digest, dest, size=size)


def source_store(directory: Path) -> CountingStore:
    """One amd64 and one arm64 image behind an index tagged ``latest``."""
    layout = ImageLayout.create(directory)
    entries = []
    for arch in ("amd64", "arm64"):
        layer = f"layer for {arch}".encode()
        config = json.dumps(
            {"architecture": arch, "os": "linux", "rootfs": {"diff_ids": [str(Digest.of(layer))]}}
        ).encode()
        layout.write_blob(layer, media.OCI_LAYER_GZIP)
        layout.write_blob(config, media.OCI_CONFIG)
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": media.OCI_MANIFEST,
                "config": _descriptor(config, media.OCI_CONFIG),
                "layers": [_descriptor(layer, media.OCI_LAYER_GZIP)],
            }
        ).encode()
        layout.write_blob(manifest, media.OCI_MANIFEST)
        entries.append(
            _descriptor(manifest, media.OCI_MANIFEST, platform={"os": "linux", "architecture": arch})
        )
    index = json.dumps({"schemaVersion": 2, "mediaType": media.OCI_INDEX, "manifests": entries}).encode()
    layout.set_tag("latest", layout.write_blob(index, media.OCI_INDEX))
    store = CountingStore(layout, "latest")
    store.fetched = []
    return store


def test_pulls_the_platform_image_into_a_layout(tmp_path: Path) -> None:
    store = source_store(tmp_path / "src")
    descriptor = pull_image(store, tmp_path / "img", tag="t", platform=Platform.parse("linux/arm64"))
    image = ImageLayout.open(tmp_path / "img").image("t")
    assert image.digest == descriptor.digest
    assert image.config["architecture"] == "arm64"
    assert len(store.fetched) == 2
    # pulling again fetches nothing that is already there
    pull_image(store, tmp_path / "img", tag="t", platform=Platform.parse("linux/arm64"))
    assert len(store.fetched) == 2


def test_a_platform_the_index_lacks_is_an_error(tmp_path: Path) -> None:
    store = source_store(tmp_path / "src")
    with pytest.raises(PlatformNotFoundError, match=r"linux/s390x \(has: linux/amd64, linux/arm64"):
        pull_image(store, tmp_path / "out", platform=Platform.parse("linux/s390x"))


def test_a_blob_that_does_not_match_its_digest_is_not_kept(tmp_path: Path) -> None:
    store = source_store(tmp_path / "src")
    index = store.get_manifest()
    amd64 = store.get_manifest(str(index.manifests[0].digest))  # type: ignore[union-attr]
    layer = amd64.layers[0].digest  # type: ignore[union-attr]
    store.layout.blob_path(layer).write_bytes(b"layer for amd6X")  # same size, other bytes
    with pytest.raises(ImageError, match="does not match"):
        pull_image(store, tmp_path / "out", platform=Platform.parse("linux/amd64"))
    assert not ImageLayout(tmp_path / "out").has_blob(layer)
