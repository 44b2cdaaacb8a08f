from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from repro.digest import Digest
from repro.errors import ImageError
from repro.oci import media
from repro.oci.layout import REF_NAME, ImageLayout


def make_image(layout: ImageLayout, tag: str = "latest", *, history: bool = True) -> Digest:
    layer = layout.write_blob(b"layer-bytes", media.OCI_LAYER_TAR)
    config: dict[str, object] = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [str(layer.digest)]},
    }
    if history:
        config["history"] = [
            {"created_by": "ENV A=1", "empty_layer": True},
            {"created_by": "COPY file /file"},
        ]
    config_desc = layout.write_blob(json.dumps(config).encode(), media.OCI_CONFIG)
    manifest = {
        "schemaVersion": 2,
        "mediaType": media.OCI_MANIFEST,
        "config": config_desc.to_json(),
        "layers": [layer.to_json()],
    }
    desc = layout.write_blob(json.dumps(manifest).encode(), media.OCI_MANIFEST)
    layout.set_tag(tag, desc)
    return desc.digest


def test_create_write_and_read_an_image(tmp_path: Path) -> None:
    layout = ImageLayout.create(tmp_path / "img")
    digest = make_image(layout)
    reopened = ImageLayout.open(tmp_path / "img")
    image = reopened.image("latest")
    assert image.digest == digest
    assert [layer.history.created_by if layer.history else None for layer in image.layers] == [
        "COPY file /file"
    ]
    assert image.layers[0].diff_id == Digest.of(b"layer-bytes")
    assert reopened.tags() == ["latest"]
    # a single image needs no tag
    assert reopened.image().digest == digest


def test_set_tag_replaces_the_entry(tmp_path: Path) -> None:
    layout = ImageLayout.create(tmp_path)
    make_image(layout, "v1")
    first = layout.find("v1")
    layout.set_tag("v1", layout.write_blob(b"{}", media.OCI_EMPTY))
    entries = layout.index().manifests
    assert len(entries) == 1
    assert entries[0].annotations[REF_NAME] == "v1"
    assert entries[0].digest != first.digest


def test_missing_history_gives_no_instruction_rather_than_a_wrong_one(tmp_path: Path) -> None:
    layout = ImageLayout.create(tmp_path)
    make_image(layout, history=False)
    assert layout.image().layers[0].history is None


def test_corrupted_blob_is_detected(tmp_path: Path) -> None:
    layout = ImageLayout.create(tmp_path)
    make_image(layout)
    layer = layout.image().layers[0]
    layout.blob_path(layer.digest).write_bytes(b"tampered!!!")
    with pytest.raises(ImageError, match="does not match"), layout.open_blob(layer.digest) as fh:
        fh.read()
    with pytest.raises(ImageError, match="does not match"):
        layout.read_blob(layer.digest)


def test_not_a_layout_and_unknown_tag(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="not an OCI image layout"):
        ImageLayout.open(tmp_path)
    layout = ImageLayout.create(tmp_path)
    make_image(layout, "a")
    with pytest.raises(ImageError, match="no image tagged 'b'"):
        layout.find("b")


def test_streamed_blob_writer(tmp_path: Path) -> None:
    layout = ImageLayout.create(tmp_path)
    with layout.blob_writer(media.OCI_LAYER_GZIP) as writer:
        for _ in range(3):
            writer.write(b"x" * 1000)
    assert writer.descriptor is not None
    assert writer.descriptor.digest == Digest.of(b"x" * 3000)
    assert layout.read_blob(writer.descriptor.digest) == b"x" * 3000
    assert not [p for p in (tmp_path / "blobs" / "sha256").iterdir() if p.name.startswith(".")]


def test_import_blob_checks_the_digest(tmp_path: Path) -> None:
    layout = ImageLayout.create(tmp_path / "l")
    source = tmp_path / "src"
    source.write_bytes(b"abc")
    with pytest.raises(ImageError):
        layout.import_blob(source, Digest.of(b"abd"))
    layout.import_blob(source, Digest.of(b"abc"))
    assert layout.has_blob(Digest.of(b"abc"))
    assert io.BytesIO(layout.read_blob(Digest.of(b"abc"))).read() == b"abc"
