from __future__ import annotations

import json
from pathlib import Path

import pytest

from repro.digest import Digest
from repro.errors import ImageError
from repro.images.index import combine_platforms, index_platforms
from repro.oci import media
from repro.oci.layout import REF_NAME, ImageLayout
from repro.oci.models import Index, Manifest
from repro.platform import Platform


def single_platform(path: Path, arch: str, *, variant: str | None = None, content: bytes = b"") -> Digest:
    """A layout with one image for ``linux/arch[/variant]``, as a one-platform build writes it."""
    layout = ImageLayout.create(path)
    layer = layout.write_blob(b"layer for " + arch.encode() + content, media.OCI_LAYER_TAR)
    config: dict[str, object] = {
        "architecture": arch,
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [str(layer.digest)]},
        "history": [{"created_by": "RUN uname -m > /arch"}],
    }
    if variant:
        config["variant"] = variant
    config_desc = layout.write_blob(json.dumps(config).encode(), media.OCI_CONFIG)
    manifest = {
        "schemaVersion": 2,
        "mediaType": media.OCI_MANIFEST,
        "config": config_desc.to_json(),
        "layers": [layer.to_json()],
    }
    desc = layout.write_blob(json.dumps(manifest).encode(), media.OCI_MANIFEST)
    layout.set_tag("build", desc)
    return desc.digest


def test_two_platforms_become_one_index_in_the_given_order(tmp_path: Path) -> None:
    amd64 = single_platform(tmp_path / "amd64", "amd64")
    arm64 = single_platform(tmp_path / "arm64", "aarch64", variant="v8")
    descriptor = combine_platforms([tmp_path / "amd64", tmp_path / "arm64"], tmp_path / "out", tag="v1")

    out = ImageLayout.open(tmp_path / "out")
    assert descriptor.media_type == media.OCI_INDEX
    assert out.find("v1").digest == descriptor.digest
    assert out.index().manifests[0].annotations[REF_NAME] == "v1"
    index = out.manifest(descriptor)
    assert isinstance(index, Index)
    assert [(str(d.platform), d.digest) for d in index.manifests] == [
        ("linux/amd64", amd64),
        ("linux/arm64", arm64),  # aliases normalised: aarch64/v8 is arm64
    ]
    assert index.manifests[1].to_json()["platform"] == {"architecture": "arm64", "os": "linux"}
    assert Digest.of(out.read_blob(descriptor.digest)) == descriptor.digest
    # every blob of both images is in the output and reads back verified
    for entry in index.manifests:
        image = out.image(descriptor=entry)
        assert isinstance(image.manifest, Manifest)
        for layer in image.layers:
            with out.open_blob(layer.digest, size=layer.descriptor.size) as fh:
                fh.read()
    assert [str(p) for p, _ in index_platforms(out, descriptor)] == ["linux/amd64", "linux/arm64"]


def test_same_images_give_the_same_index_bytes(tmp_path: Path) -> None:
    single_platform(tmp_path / "a", "amd64")
    single_platform(tmp_path / "b", "arm64")
    first = combine_platforms([tmp_path / "a", tmp_path / "b"], tmp_path / "one", tag="t")
    second = combine_platforms([tmp_path / "a", tmp_path / "b"], tmp_path / "two", tag="t")
    assert first == second
    swapped = combine_platforms([tmp_path / "b", tmp_path / "a"], tmp_path / "three", tag="t")
    assert swapped.digest != first.digest


def test_blobs_are_hard_linked_on_one_file_system(tmp_path: Path) -> None:
    single_platform(tmp_path / "a", "amd64")
    single_platform(tmp_path / "b", "arm64")
    combine_platforms([tmp_path / "a", tmp_path / "b"], tmp_path / "out", tag="t")
    source = ImageLayout.open(tmp_path / "a")
    layer = source.image().layers[0]
    linked = ImageLayout.open(tmp_path / "out").blob_path(layer.digest)
    assert linked.stat().st_ino == source.blob_path(layer.digest).stat().st_ino


def test_two_images_of_one_platform_are_refused(tmp_path: Path) -> None:
    single_platform(tmp_path / "a", "arm64")
    single_platform(tmp_path / "b", "aarch64", content=b" other")
    with pytest.raises(ImageError, match="second image for platform linux/arm64"):
        combine_platforms([tmp_path / "a", tmp_path / "b"], tmp_path / "out", tag="t")
    assert not (tmp_path / "out").exists()


def test_a_corrupted_layer_is_not_combined(tmp_path: Path) -> None:
    single_platform(tmp_path / "a", "amd64")
    single_platform(tmp_path / "b", "arm64")
    layout = ImageLayout.open(tmp_path / "b")
    layer = layout.image().layers[0]
    path = layout.blob_path(layer.digest)
    path.write_bytes(b"X" * path.stat().st_size)
    with pytest.raises(ImageError, match="does not match"):
        combine_platforms([tmp_path / "a", tmp_path / "b"], tmp_path / "out", tag="t")
    assert ImageLayout.open(tmp_path / "out").tags() == []


def test_an_image_without_a_platform_is_refused(tmp_path: Path) -> None:
    layout = ImageLayout.create(tmp_path / "a")
    config = layout.write_blob(b'{"rootfs": {"type": "layers", "diff_ids": []}}', media.OCI_CONFIG)
    manifest = {"schemaVersion": 2, "mediaType": media.OCI_MANIFEST, "config": config.to_json(), "layers": []}
    layout.set_tag("x", layout.write_blob(json.dumps(manifest).encode(), media.OCI_MANIFEST))
    with pytest.raises(ImageError, match="does not say its platform"):
        combine_platforms([tmp_path / "a"], tmp_path / "out", tag="t")


def test_an_index_is_not_an_input(tmp_path: Path) -> None:
    single_platform(tmp_path / "a", "amd64")
    single_platform(tmp_path / "b", "arm64")
    combine_platforms([tmp_path / "a", tmp_path / "b"], tmp_path / "idx", tag="t")
    with pytest.raises(ImageError, match="holds an image index"):
        combine_platforms([tmp_path / "idx"], tmp_path / "out", tag="t")


def test_nothing_to_combine_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="no images"):
        combine_platforms([], tmp_path / "out", tag="t")


def test_platforms_read_back_from_the_index(tmp_path: Path) -> None:
    single_platform(tmp_path / "a", "arm", variant="v7")
    desc = combine_platforms([tmp_path / "a"], tmp_path / "out", tag="t")
    assert index_platforms(ImageLayout.open(tmp_path / "out"), desc)[0][0] == Platform("linux", "arm", "v7")
    with pytest.raises(ImageError, match="not an image index"):
        index_platforms(ImageLayout.open(tmp_path / "a"), ImageLayout.open(tmp_path / "a").find())
