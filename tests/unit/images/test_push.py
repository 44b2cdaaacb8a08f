"""The offline parts of repro.images.push: planning, artifacts, and pushing into OCI layouts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from repro.cli import main
from repro.digest import Digest
from repro.errors import ImageError, UsageError
from repro.images.push import (
    CREATED,
    CYCLONEDX_JSON,
    TITLE,
    Artifact,
    BlobPush,
    PushResult,
    layout_referrers,
    plan_image,
    push_image,
    sbom_referrer,
)
from repro.images.store import LayoutStore
from repro.oci import media
from repro.oci.layout import REF_NAME, ImageLayout
from repro.oci.models import EMPTY_DESCRIPTOR, Descriptor, Index, Manifest
from repro.platform import Platform

WHEN = datetime(2024, 1, 1, tzinfo=UTC)
SBOM = b'{"bomFormat":"CycloneDX","specVersion":"1.6","version":1}'
# Known answer: the SBOM referrer of SBOM at WHEN, for the image make_image(…) writes.
SUBJECT = Descriptor(
    media.OCI_MANIFEST,
    Digest.parse("sha256:800f72e3e9338fb7903d0004e326b0c56b50367f4be948bd0a1345941ae1fd69"),
    411,
)
SBOM_REFERRER = (
    b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
    b'"artifactType":"application/vnd.cyclonedx+json",'
    b'"config":{"mediaType":"application/vnd.oci.empty.v1+json",'
    b'"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},'
    b'"layers":[{"mediaType":"application/vnd.cyclonedx+json",'
    b'"digest":"sha256:02f6a105355f47d032e4a79def266aabfb1c12f6611cb7d176bd596525e0b0fb","size":57,'
    b'"annotations":{"org.opencontainers.image.title":"sbom.cdx.json"}}],'
    b'"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json",'
    b'"digest":"sha256:800f72e3e9338fb7903d0004e326b0c56b50367f4be948bd0a1345941ae1fd69","size":411},'
    b'"annotations":{"org.opencontainers.image.created":"2024-01-01T00:00:00Z"}}'
)


def _manifest(layout: ImageLayout, layer: bytes, architecture: str = "amd64") -> Descriptor:
    blob = layout.write_blob(layer, media.OCI_LAYER_TAR)
    config = {
        "architecture": architecture,
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [str(blob.digest)]},
    }
    config_desc = layout.write_blob(json.dumps(config).encode(), media.OCI_CONFIG)
    manifest = {
        "schemaVersion": 2,
        "mediaType": media.OCI_MANIFEST,
        "config": config_desc.to_json(),
        "layers": [blob.to_json()],
    }
    return layout.write_blob(json.dumps(manifest).encode(), media.OCI_MANIFEST)


def make_image(layout: ImageLayout, tag: str = "latest", layer: bytes = b"layer") -> Descriptor:
    descriptor = _manifest(layout, layer)
    layout.set_tag(tag, descriptor)
    return descriptor


def make_index(layout: ImageLayout, tag: str = "multi") -> tuple[Descriptor, list[Descriptor]]:
    children = []
    for arch, layer in (("amd64", b"amd64 layer bytes"), ("arm64", b"arm64")):
        child = _manifest(layout, layer, arch)
        children.append(
            Descriptor(child.media_type, child.digest, child.size, platform=Platform("linux", arch))
        )
    index = {"schemaVersion": 2, "mediaType": media.OCI_INDEX, "manifests": [c.to_json() for c in children]}
    descriptor = layout.write_blob(json.dumps(index).encode(), media.OCI_INDEX)
    layout.set_tag(tag, descriptor)
    return descriptor, children


def export_layout(
    layout: ImageLayout,
    tag: str | Descriptor | None,
    dest: Path,
    *,
    referrers: Sequence[Artifact] = (),
    dest_tag: str | None = None,
    include_referrers: bool = True,
) -> PushResult:
    """Push into the OCI layout ``dest``, tagged ``dest_tag`` (else ``tag``, else latest)."""
    name = dest_tag or (tag if isinstance(tag, str) else None) or "latest"
    return push_image(
        layout,
        tag,
        LayoutStore.create(dest),
        tag=name,
        referrers=referrers,
        include_referrers=include_referrers,
    )


@pytest.fixture
def layout(tmp_path: Path) -> ImageLayout:
    return ImageLayout.create(tmp_path / "src")


# -- planning -------------------------------------------------------------------------------


def test_plan_of_one_image(layout: ImageLayout) -> None:
    descriptor = make_image(layout, layer=b"a much larger layer than the config? no, smaller")
    plan = plan_image(layout, descriptor)
    assert isinstance(plan.root, Manifest)
    assert plan.root.digest == descriptor.digest
    assert [m.digest for m in plan.manifests] == [descriptor.digest]
    assert {b.digest for b in plan.blobs} == {plan.root.config.digest, plan.root.layers[0].digest}
    sizes = [b.size for b in plan.blobs]
    assert sizes == sorted(sizes, reverse=True), "largest blob first, so it starts uploading first"
    assert plan.subjects == {descriptor.digest}


def test_plan_of_an_index_lists_children_before_the_index(layout: ImageLayout) -> None:
    descriptor, children = make_index(layout)
    plan = plan_image(layout, descriptor)
    assert isinstance(plan.root, Index)
    assert [m.digest for m in plan.manifests] == [*(c.digest for c in children), descriptor.digest]
    assert len(plan.blobs) == 4  # two configs, two layers
    assert plan.subjects == {descriptor.digest, *(c.digest for c in children)}


def test_plan_refuses_a_layout_missing_a_platform(layout: ImageLayout) -> None:
    descriptor, children = make_index(layout)
    layout.blob_path(children[1].digest).unlink()
    with pytest.raises(ImageError, match="not in the layout") as info:
        plan_image(layout, descriptor)
    assert "--all" in info.value.hint


def test_plan_refuses_a_missing_layer_but_skips_foreign_ones(layout: ImageLayout) -> None:
    descriptor = make_image(layout)
    manifest = layout.manifest(descriptor)
    assert isinstance(manifest, Manifest)
    layout.blob_path(manifest.layers[0].digest).unlink()
    with pytest.raises(ImageError, match="is missing"):
        plan_image(layout, descriptor)

    foreign = Descriptor(
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        Digest.of(b"elsewhere"),
        9,
        urls=("https://example.com/layer",),
    )
    document = json.loads(manifest.data)
    document["layers"] = [foreign.to_json()]
    pointing_out = layout.write_blob(json.dumps(document).encode(), media.OCI_MANIFEST)
    plan = plan_image(layout, pointing_out)
    assert [b.digest for b in plan.blobs] == [manifest.config.digest]


def test_plan_refuses_a_non_manifest(layout: ImageLayout) -> None:
    blob = layout.write_blob(b"{}", media.OCI_EMPTY)
    with pytest.raises(ImageError, match="not a manifest"):
        plan_image(layout, blob)


# -- artifacts ------------------------------------------------------------------------------


def test_sbom_referrer_is_deterministic_and_well_formed(layout: ImageLayout) -> None:
    subject = make_image(layout)
    assert subject == SUBJECT
    artifact = sbom_referrer(SBOM, subject, created=WHEN)
    assert artifact.manifest == SBOM_REFERRER
    again = sbom_referrer(SBOM, subject, created=WHEN.astimezone(timezone(timedelta(hours=2))))
    assert again.manifest == SBOM_REFERRER

    document = artifact.document
    assert isinstance(document, Manifest)
    assert document.artifact_type == CYCLONEDX_JSON
    assert document.config == EMPTY_DESCRIPTOR
    assert [layer.media_type for layer in document.layers] == [CYCLONEDX_JSON]
    assert document.layers[0].digest == Digest.of(SBOM)
    assert document.layers[0].annotations[TITLE] == "sbom.cdx.json"
    assert document.subject == Descriptor(subject.media_type, subject.digest, subject.size)
    assert dict(document.annotations) == {CREATED: "2024-01-01T00:00:00Z"}

    descriptor = artifact.descriptor()
    assert descriptor.artifact_type == CYCLONEDX_JSON
    assert descriptor.digest == artifact.digest
    assert set(artifact.blobs) == {Digest.of(SBOM), EMPTY_DESCRIPTOR.digest}


def test_sbom_referrer_needs_an_aware_time(layout: ImageLayout) -> None:
    with pytest.raises(UsageError, match="time zone"):
        sbom_referrer(SBOM, make_image(layout), created=datetime(2024, 1, 1))


def test_export_refuses_a_referrer_of_another_image(layout: ImageLayout, tmp_path: Path) -> None:
    make_image(layout)
    stranger = Descriptor(media.OCI_MANIFEST, Digest.of(b"another image"), 13)
    with pytest.raises(UsageError, match="subject"):
        export_layout(
            layout, "latest", tmp_path / "out", referrers=[sbom_referrer(SBOM, stranger, created=WHEN)]
        )
    assert not (tmp_path / "out").exists(), "nothing is written when the input is refused"


def test_export_refuses_an_artifact_without_its_blobs(layout: ImageLayout, tmp_path: Path) -> None:
    subject = make_image(layout)
    artifact = sbom_referrer(SBOM, subject, created=WHEN)
    assert Artifact.of(artifact.manifest, artifact.media_type, SBOM, b"{}") == artifact
    without = Artifact(artifact.manifest, artifact.media_type, {})
    with pytest.raises(UsageError, match="not given"):
        export_layout(layout, "latest", tmp_path / "out", referrers=[without])
    wrong = Artifact(artifact.manifest, artifact.media_type, {Digest.of(SBOM): b"other bytes"})
    with pytest.raises(UsageError, match="do not match"):
        export_layout(layout, "latest", tmp_path / "out", referrers=[wrong])


# -- layouts --------------------------------------------------------------------------------


def test_export_round_trip_with_referrers(layout: ImageLayout, tmp_path: Path) -> None:
    descriptor, children = make_index(layout)
    on_index = sbom_referrer(SBOM, descriptor, created=WHEN)
    on_child = sbom_referrer(b'{"per":"platform"}', children[0], created=WHEN)
    dest = tmp_path / "out"

    result = export_layout(layout, "multi", dest, referrers=[on_index, on_child], dest_tag="v1")
    assert result.digest == descriptor.digest
    assert result.pinned == f"oci:{dest}:v1@{descriptor.digest}"
    assert result.referrers == (on_index.digest, on_child.digest)
    assert result.blobs_pushed == 4
    assert result.manifests == (*(c.digest for c in children), descriptor.digest)

    out = ImageLayout.open(dest)
    assert out.find("v1").digest == descriptor.digest
    entries = out.index().manifests
    untagged = [e for e in entries if REF_NAME not in e.annotations]
    assert [e.digest for e in untagged] == [on_index.digest, on_child.digest]
    assert untagged[0].artifact_type == CYCLONEDX_JSON
    assert untagged[0].annotations[CREATED] == "2024-01-01T00:00:00Z"
    # Every blob of the image and of the referrers is in the new layout, verified.
    for blob in plan_image(out, out.find("v1")).blobs:
        assert out.read_blob(blob.digest) == layout.read_blob(blob.digest)
    for artifact in (on_index, on_child):
        assert out.read_blob(artifact.digest) == artifact.manifest
        for digest in artifact.blobs:
            assert out.has_blob(digest)

    found = layout_referrers(out, plan_image(out, out.find("v1")).subjects)
    assert [a.digest for a in found] == [on_index.digest, on_child.digest]
    assert found[0].blobs[Digest.of(SBOM)] == out.blob_path(Digest.of(SBOM))

    # Again, from the exported layout (which now holds the referrers) to a third: they follow.
    again = export_layout(out, "v1", tmp_path / "third")
    assert again.referrers == (on_index.digest, on_child.digest)
    # And into the same place: nothing copied, nothing listed twice.
    same = export_layout(layout, "multi", dest, referrers=[on_index], dest_tag="v1")
    assert same.blobs_pushed == 0
    assert same.blobs_reused == 4
    assert len(ImageLayout.open(dest).index().manifests) == len(entries)


def test_layout_referrers_reads_the_fallback_tag_convention(layout: ImageLayout) -> None:
    subject = make_image(layout)
    artifact = sbom_referrer(SBOM, subject, created=WHEN)
    for digest, source in artifact.blobs.items():
        assert isinstance(source, bytes)
        layout.write_blob(source, "application/octet-stream")
        assert layout.has_blob(digest)
    layout.write_blob(artifact.manifest, artifact.media_type)
    fallback = {
        "schemaVersion": 2,
        "mediaType": media.OCI_INDEX,
        "manifests": [artifact.descriptor().to_json()],
    }
    index = layout.write_blob(json.dumps(fallback).encode(), media.OCI_INDEX)
    layout.set_tag(f"sha256-{subject.digest.hex}", index)
    # An unrelated artifact, of no image here, is not picked up.
    layout.write_blob(SBOM, CYCLONEDX_JSON)
    other = sbom_referrer(SBOM, Descriptor(media.OCI_MANIFEST, Digest.of(b"x"), 1), created=WHEN)
    layout.set_tag("unrelated", layout.write_blob(other.manifest, other.media_type))

    found = layout_referrers(layout, {subject.digest})
    assert [a.digest for a in found] == [artifact.digest]


def test_layout_referrer_with_a_missing_blob_is_an_error(layout: ImageLayout, tmp_path: Path) -> None:
    subject = make_image(layout)
    artifact = sbom_referrer(SBOM, subject, created=WHEN)
    export_layout(layout, "latest", tmp_path / "out", referrers=[artifact])
    out = ImageLayout.open(tmp_path / "out")
    out.blob_path(Digest.of(SBOM)).unlink()
    with pytest.raises(ImageError, match="referrer"):
        layout_referrers(out, {subject.digest})


def test_push_result_counts_and_json() -> None:
    digest = Digest.of(b"image")
    result = PushResult(
        target="registry.example/app",
        tag="1.0",
        digest=digest,
        media_type=media.OCI_MANIFEST,
        size=400,
        blobs=(
            BlobPush(Digest.of(b"a"), 100, "uploaded"),
            BlobPush(Digest.of(b"b"), 50, "exists"),
            BlobPush(Digest.of(b"c"), 7, "mounted"),
        ),
        manifests=(digest,),
        referrers=(),
        seconds=1.23456,
    )
    assert result.pinned == f"registry.example/app:1.0@{digest}"
    data = result.to_json()
    assert data["bytesPushed"] == 100
    assert data["blobsPushed"] == 1
    assert data["blobsReused"] == 2
    assert data["seconds"] == 1.235
    assert data["blobs"][2] == {"digest": str(Digest.of(b"c")), "size": 7, "outcome": "mounted"}
    untagged = PushResult("r.example/app", None, digest, media.OCI_MANIFEST, 1, (), (digest,), ())
    assert untagged.pinned == f"r.example/app@{digest}"


# -- the command line (layout to layout needs no network) ----------------------------------------


def test_cli_push_to_a_layout(
    layout: ImageLayout, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    subject = make_image(layout, "v2")
    artifact = sbom_referrer(SBOM, subject, created=WHEN)
    export_layout(layout, "v2", layout.path, referrers=[artifact])  # the referrer now lives in the source

    dest = tmp_path / "dest"
    assert main(["push", f"oci:{layout.path}:v2", f"oci:{dest}", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["digest"] == str(subject.digest)
    assert out["tag"] == "v2"
    assert out["referrers"] == [str(artifact.digest)]
    assert out["blobsPushed"] == 2

    assert main(["push", f"oci:{layout.path}:v2", f"oci:{tmp_path / 'bare'}:x", "--no-referrers"]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"oci:{tmp_path / 'bare'}:x@{subject.digest}\n"
    assert "0 referrer(s)" in captured.err
    assert [e.digest for e in ImageLayout.open(tmp_path / "bare").index().manifests] == [subject.digest]


def test_cli_push_usage_errors(layout: ImageLayout, capsys: pytest.CaptureFixture[str]) -> None:
    make_image(layout)
    assert main(["push", str(layout.path), "registry.example/app"]) == 64
    assert "oci:DIR" in capsys.readouterr().err
    assert main(["push", f"oci:{layout.path}", f"oci:{layout.path}-2", "--mount-from", "x"]) == 64
    assert main(["push", f"oci:{layout.path}:nope", f"oci:{layout.path}-2"]) == 7
    assert "no image tagged 'nope'" in capsys.readouterr().err
