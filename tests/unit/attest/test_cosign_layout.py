"""What cosign looks for, written where cosign looks: the ``kind`` annotation of the image
in an OCI layout's index.json, and artifactType in a bundle referrer's config descriptor."""

from __future__ import annotations

import json
from pathlib import Path

from repro.attest.referrers import BUNDLE_ARTIFACT_TYPE, referrer_manifest
from repro.images.store import COSIGN_IMAGE, COSIGN_IMAGE_INDEX, COSIGN_KIND, LayoutStore
from repro.oci.models import parse_manifest
from tests.unit.attest.helpers import add_platform_image, make_image, make_index


def _kinds(path: Path) -> dict[str, str | None]:
    index = json.loads((path / "index.json").read_text())
    return {
        e["annotations"].get("org.opencontainers.image.ref.name", e["digest"]): e["annotations"].get(
            COSIGN_KIND
        )
        for e in index["manifests"]
    }


def test_the_image_tagged_last_is_the_one_cosign_finds(tmp_path: Path) -> None:
    layout, first = make_image(tmp_path / "img", tag="one")
    _, second = make_image(tmp_path / "img", tag="two", label="two")
    store = LayoutStore.open(tmp_path / "img")
    store.tag("1.0", layout.manifest(first))
    assert _kinds(tmp_path / "img")["1.0"] == COSIGN_IMAGE
    store.tag("1.1", layout.manifest(second))
    kinds = _kinds(tmp_path / "img")
    assert (kinds["1.0"], kinds["1.1"]) == (None, COSIGN_IMAGE)


def test_an_index_is_marked_as_cosign_marks_indexes(tmp_path: Path) -> None:
    layout, _ = make_image(tmp_path / "img")
    index = make_index(layout, [add_platform_image(layout, "linux/amd64")])
    store = LayoutStore.open(tmp_path / "img")
    store.tag("release", layout.manifest(index))
    assert _kinds(tmp_path / "img")["release"] == COSIGN_IMAGE_INDEX


def test_the_bundle_referrer_names_its_artifact_type_in_the_config_too() -> None:
    from repro.digest import Digest
    from repro.oci import media
    from repro.oci.models import Descriptor

    data, media_type = referrer_manifest(
        b"{}",
        subject=Descriptor(media.OCI_MANIFEST, Digest.of(b"image"), 5),
        predicate_type="https://slsa.dev/provenance/v1",
        created="2024-01-01T00:00:00Z",
    )
    raw = json.loads(data)
    assert raw["artifactType"] == raw["config"]["artifactType"] == BUNDLE_ARTIFACT_TYPE
    assert raw["config"]["mediaType"] == media.OCI_EMPTY
    assert parse_manifest(data, media_type).config.artifact_type == BUNDLE_ARTIFACT_TYPE  # type: ignore[union-attr]
