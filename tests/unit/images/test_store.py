"""The OCI-layout image store: manifests by tag and digest, blobs, referrers, tag last."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from repro.digest import Digest
from repro.errors import ImageError, UsageError
from repro.images.push import sbom_referrer
from repro.images.store import ImageStore, LayoutStore, is_digest
from repro.oci import media
from repro.oci.layout import REF_NAME, ImageLayout
from repro.oci.models import Manifest
from tests.unit.images.test_push import make_image

WHEN = datetime(2024, 1, 1, tzinfo=UTC)


def test_a_layout_store_is_an_image_store(tmp_path: Path) -> None:
    store: ImageStore = LayoutStore.create(tmp_path / "x")  # checked by mypy: the protocol holds
    assert store.name == f"oci:{tmp_path / 'x'}"


def test_manifests_by_tag_by_digest_and_the_only_image(tmp_path: Path) -> None:
    layout = ImageLayout.create(tmp_path / "l")
    descriptor = make_image(layout, "v1")
    store = LayoutStore(layout)
    assert store.get_manifest().digest == descriptor.digest
    assert store.get_manifest("v1").digest == descriptor.digest
    by_digest = store.get_manifest(str(descriptor.digest))
    assert isinstance(by_digest, Manifest)
    assert by_digest.digest == descriptor.digest
    with pytest.raises(ImageError, match="no image tagged 'v2'"):
        store.get_manifest("v2")
    assert is_digest(str(descriptor.digest))
    assert not is_digest("v1")


def test_referrers_are_untagged_index_entries_and_do_not_count_as_images(tmp_path: Path) -> None:
    layout = ImageLayout.create(tmp_path / "l")
    subject = make_image(layout, "v1")
    store = LayoutStore(layout)
    artifact = sbom_referrer(b"{}", subject, created=WHEN)
    for digest, content in artifact.blobs.items():
        assert isinstance(content, bytes)
        assert store.push_blob(digest, io.BytesIO(content), len(content)) == "uploaded"
        assert store.push_blob(digest, io.BytesIO(content), len(content)) == "exists"
    assert store.push_referrer(artifact.manifest, artifact.media_type, subject.digest) == artifact.digest
    store.push_referrer(artifact.manifest, artifact.media_type, subject.digest)  # listed once
    untagged = [e for e in layout.index().manifests if REF_NAME not in e.annotations]
    assert [e.digest for e in untagged] == [artifact.digest]
    assert [d.digest for d in store.referrers(subject.digest)] == [artifact.digest]
    assert store.referrers(subject.digest, "application/other") == []
    assert store.referrers(Digest.of(b"another image")) == []
    assert store.get_manifest().digest == subject.digest  # still the only image


def test_a_referrer_of_another_subject_is_refused(tmp_path: Path) -> None:
    layout = ImageLayout.create(tmp_path / "l")
    subject = make_image(layout, "v1")
    artifact = sbom_referrer(b"{}", subject, created=WHEN)
    with pytest.raises(UsageError, match="subject must be"):
        LayoutStore(layout).push_referrer(artifact.manifest, artifact.media_type, Digest.of(b"x"))


def test_a_manifest_before_its_blobs_is_refused(tmp_path: Path) -> None:
    source = ImageLayout.create(tmp_path / "src")
    manifest = source.manifest(make_image(source, "v1"))
    store = LayoutStore.create(tmp_path / "dest")
    with pytest.raises(ImageError, match="refusing to store manifest"):
        store.push_manifest(manifest)
    with pytest.raises(ImageError, match="refusing to store manifest"):
        store.tag("v1", manifest)


def test_a_blob_stream_that_does_not_match_is_refused(tmp_path: Path) -> None:
    store = LayoutStore.create(tmp_path / "dest")
    with pytest.raises(ImageError, match="does not match"):
        store.push_blob(Digest.of(b"right"), io.BytesIO(b"wrong"), 5)
    with pytest.raises(UsageError, match="registries only"):
        store.push_blob(Digest.of(b"right"), io.BytesIO(b"right"), 5, mount_from="other/repo")


def test_nothing_is_written_before_the_first_write(tmp_path: Path) -> None:
    store = LayoutStore.create(tmp_path / "dest")
    assert not (tmp_path / "dest").exists()
    store.push_blob(Digest.of(b"{}"), io.BytesIO(b"{}"), 2)
    assert json.loads((tmp_path / "dest" / "index.json").read_bytes())["mediaType"] == media.OCI_INDEX


def test_fetch_blob_copies_verified(tmp_path: Path) -> None:
    layout = ImageLayout.create(tmp_path / "l")
    descriptor = layout.write_blob(b"content", "application/octet-stream")
    store = LayoutStore(layout)
    store.fetch_blob(descriptor.digest, tmp_path / "copy", size=7)
    assert (tmp_path / "copy").read_bytes() == b"content"
    with pytest.raises(ImageError, match="8 bytes"):
        store.fetch_blob(descriptor.digest, tmp_path / "again", size=8)
    layout.blob_path(descriptor.digest).write_bytes(b"CONTENT")
    with pytest.raises(ImageError, match="does not match"):
        store.fetch_blob(descriptor.digest, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
