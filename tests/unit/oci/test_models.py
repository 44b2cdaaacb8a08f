"""Parsing and validation of manifests, indexes and descriptors (hostile JSON included)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from repro.digest import Digest
from repro.errors import RegistryError, UnsupportedMediaTypeError
from repro.oci import media
from repro.oci.models import Descriptor, Index, Manifest, index_json, parse_manifest
from repro.platform import Platform

D1 = "sha256:" + "a" * 64
D2 = "sha256:" + "b" * 64


def _manifest(**extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media.OCI_MANIFEST,
        "config": {"mediaType": media.OCI_CONFIG, "digest": D1, "size": 10},
        "layers": [{"mediaType": media.OCI_LAYER_GZIP, "digest": D2, "size": 20}],
    }
    doc.update(extra)
    return doc


def _bytes(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def test_image_manifest_keeps_bytes_and_digest() -> None:
    data = _bytes(_manifest(annotations={"a": "b"}))
    doc = parse_manifest(data, media.OCI_MANIFEST)
    assert isinstance(doc, Manifest)
    assert doc.data == data
    assert doc.digest == Digest.of(data)
    assert doc.size == len(data)
    assert doc.config.digest == Digest.parse(D1)
    assert [layer.size for layer in doc.layers] == [20]
    assert dict(doc.annotations) == {"a": "b"}
    assert doc.effective_artifact_type == media.OCI_CONFIG


def test_index_with_platforms_skips_attestations() -> None:
    doc = {
        "schemaVersion": 2,
        "mediaType": media.OCI_INDEX,
        "manifests": [
            {
                "mediaType": media.OCI_MANIFEST,
                "digest": D1,
                "size": 1,
                "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"},
            },
            {
                "mediaType": media.OCI_MANIFEST,
                "digest": D2,
                "size": 2,
                "platform": {"os": "unknown", "architecture": "unknown"},
                "annotations": {media.DOCKER_REFERENCE_TYPE: "attestation-manifest"},
            },
        ],
    }
    index = parse_manifest(_bytes(doc))
    assert isinstance(index, Index)
    assert [d.platform for d in index.platform_manifests()] == [Platform.parse("linux/arm64")]


def test_docker_manifest_list_is_an_index() -> None:
    doc = {"schemaVersion": 2, "mediaType": media.DOCKER_MANIFEST_LIST, "manifests": []}
    assert isinstance(parse_manifest(_bytes(doc), media.DOCKER_MANIFEST_LIST), Index)


def test_media_type_from_shape_when_absent() -> None:
    doc = _manifest()
    del doc["mediaType"]
    assert parse_manifest(_bytes(doc), "application/json").media_type == media.OCI_MANIFEST
    index = {"schemaVersion": 2, "manifests": []}
    assert parse_manifest(_bytes(index)).media_type == media.OCI_INDEX


def test_artifact_with_subject() -> None:
    doc = _manifest(
        artifactType="application/example", subject={"mediaType": media.OCI_MANIFEST, "digest": D2, "size": 5}
    )
    parsed = parse_manifest(_bytes(doc))
    assert isinstance(parsed, Manifest)
    assert parsed.subject is not None
    assert parsed.subject.digest == Digest.parse(D2)
    descriptor = parsed.descriptor()
    assert descriptor.artifact_type == "application/example"
    assert descriptor.to_json()["artifactType"] == "application/example"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[]", "expected a JSON object"),
        (_bytes({"schemaVersion": 1, "config": {}}), "schemaVersion"),
        (_bytes({"schemaVersion": True, "manifests": []}), "schemaVersion"),
        (_bytes(_manifest(config=None)), "expected a JSON object"),
        (_bytes({k: v for k, v in _manifest().items() if k != "config"}), "missing 'config'"),
        (_bytes(_manifest(layers={})), "'layers' must be a list"),
        (_bytes(_manifest(layers=[{"mediaType": "x", "digest": D1}])), "'size'"),
        (_bytes(_manifest(layers=[{"mediaType": "x", "digest": D1, "size": -1}])), "'size'"),
        (_bytes(_manifest(layers=[{"mediaType": "x", "digest": D1, "size": True}])), "'size'"),
        (_bytes(_manifest(layers=[{"mediaType": "x", "digest": "md5:abc", "size": 1}])), "invalid digest"),
        (_bytes(_manifest(layers=[{"digest": D1, "size": 1}])), "missing 'mediaType'"),
        (_bytes(_manifest(layers=[{"mediaType": 3, "digest": D1, "size": 1}])), "'mediaType'"),
        (_bytes(_manifest(annotations={"a": 1})), "annotations"),
        (_bytes(_manifest(layers=[{"mediaType": "x", "digest": D1, "size": 1, "urls": "u"}])), "urls"),
        (_bytes({"schemaVersion": 2, "mediaType": media.OCI_INDEX, "manifests": {}}), "must be a list"),
        (
            _bytes(
                {
                    "schemaVersion": 2,
                    "mediaType": media.OCI_INDEX,
                    "manifests": [{"mediaType": "x", "digest": D1, "size": 1, "platform": {"os": "linux"}}],
                }
            ),
            "platform",
        ),
    ],
)
def test_invalid_documents_are_registry_errors(data: bytes, message: str) -> None:
    with pytest.raises(RegistryError, match=message):
        parse_manifest(data)


def test_unknown_and_inconsistent_media_types() -> None:
    with pytest.raises(UnsupportedMediaTypeError, match="unsupported"):
        parse_manifest(
            _bytes(_manifest(mediaType="application/vnd.docker.distribution.manifest.v1+prettyjws"))
        )
    with pytest.raises(UnsupportedMediaTypeError, match="served as"):
        parse_manifest(_bytes(_manifest()), media.DOCKER_MANIFEST)
    with pytest.raises(UnsupportedMediaTypeError, match="cannot tell"):
        parse_manifest(_bytes({"schemaVersion": 2}), "text/plain")


def test_descriptor_round_trip() -> None:
    descriptor = Descriptor(
        media_type=media.OCI_MANIFEST,
        digest=Digest.parse(D1),
        size=3,
        annotations={"k": "v"},
        artifact_type="application/x",
        platform=Platform.parse("linux/arm/v7"),
        urls=("https://example.invalid/x",),
    )
    assert Descriptor.from_json(descriptor.to_json()) == descriptor


def test_index_json_is_parseable() -> None:
    entry = Descriptor(media_type=media.OCI_MANIFEST, digest=Digest.parse(D1), size=1).to_json()
    index = parse_manifest(index_json([entry], annotations={"x": "y"}))
    assert isinstance(index, Index)
    assert index.manifests[0].digest == Digest.parse(D1)
    assert dict(index.annotations) == {"x": "y"}


@given(st.binary(max_size=512))
def test_arbitrary_bytes_raise_only_registry_errors(data: bytes) -> None:
    with contextlib.suppress(RegistryError):
        parse_manifest(data)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)


@given(
    st.dictionaries(
        st.sampled_from(
            [
                "schemaVersion",
                "mediaType",
                "config",
                "layers",
                "manifests",
                "subject",
                "annotations",
                "artifactType",
            ]
        ),
        json_values,
    )
)
def test_arbitrary_json_objects_raise_only_registry_errors(doc: dict[str, Any]) -> None:
    with contextlib.suppress(RegistryError):
        parse_manifest(_bytes(doc))
