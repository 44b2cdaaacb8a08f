"""Artifacts repro pushes are what oras-py pulls, and the other way round.

oras-py (0.2.43) is an independent OCI client; what it can read, other OCI tooling can.
Its quirks shape these tests: it cannot set ``artifactType`` when it pushes (so the
reverse direction has none), it reads whole blobs into memory (so blobs stay small), it
retries a dead host for minutes (so it is only pointed at a live registry), and it does
no Docker Hub name normalisation (so every reference is written in full, with its host).
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from oras.client import OrasClient

from devtools.testbed import RunningRegistry
from repro.config import Config, RegistryConfig
from repro.digest import Digest
from repro.oci import media
from repro.reference import parse_reference
from repro.registry import Manifest, RegistryClient

ARTIFACT_TYPE = "application/vnd.repro.test.artifact.v1"
FILE_TYPE = "application/vnd.repro.test.file.v1+json"
TITLE = "org.opencontainers.image.title"
EMPTY_CONFIG = b"{}"


@pytest.fixture
def client(registry: RunningRegistry) -> Iterator[RegistryClient]:
    config = Config(registries={registry.host: RegistryConfig(insecure=True)}, timeout=10.0)
    with RegistryClient(config) as c:
        yield c


@pytest.fixture
def oras(registry: RunningRegistry) -> OrasClient:
    # oras logs every pull at INFO level through its own logger; keep the output quiet.
    logging.getLogger("oras").setLevel(logging.WARNING)
    return OrasClient(hostname=registry.host, insecure=True)


def _push_artifact(
    client: RegistryClient, host: str, path: str, tag: str, *, name: str, content: bytes
) -> Digest:
    """Push one file as an OCI 1.1 artifact (empty config, ``artifactType``) the way repro does."""
    for blob in (EMPTY_CONFIG, content):
        client.push_blob(host, path, Digest.of(blob), io.BytesIO(blob), len(blob))
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": media.OCI_MANIFEST,
            "artifactType": ARTIFACT_TYPE,
            "config": {"mediaType": media.OCI_EMPTY, "digest": str(Digest.of(EMPTY_CONFIG)), "size": 2},
            "layers": [
                {
                    "mediaType": FILE_TYPE,
                    "digest": str(Digest.of(content)),
                    "size": len(content),
                    "annotations": {TITLE: name},
                }
            ],
            "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
        },
        separators=(",", ":"),
    ).encode()
    return client.push_manifest(host, path, tag, manifest, media.OCI_MANIFEST)


def test_oras_pulls_what_repro_pushed(
    client: RegistryClient, oras: OrasClient, registry: RunningRegistry, tmp_path: Path
) -> None:
    content = json.dumps({"hello": "oras", "bytes": list(range(50))}).encode()
    digest = _push_artifact(
        client, registry.host, "interop/from-repro", "v1", name="hello.json", content=content
    )

    outdir = tmp_path / "out"
    files = oras.pull(target=f"{registry.host}/interop/from-repro:v1", outdir=str(outdir))
    assert [Path(f).name for f in files] == ["hello.json"]
    assert (outdir / "hello.json").read_bytes() == content

    # oras sees the same manifest (and so the same digest), artifactType included.
    seen = oras.get_manifest(f"{registry.host}/interop/from-repro:v1")
    assert seen["artifactType"] == ARTIFACT_TYPE
    assert seen["layers"][0]["digest"] == str(Digest.of(content))
    resolved = client.resolve(parse_reference(f"{registry.host}/interop/from-repro:v1"))
    assert resolved.digest == digest


def test_repro_pulls_and_verifies_what_oras_pushed(
    client: RegistryClient,
    oras: OrasClient,
    registry: RunningRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    content = b"pushed by oras-py\n" * 100
    source = tmp_path / "notes.txt"
    source.write_bytes(content)
    monkeypatch.chdir(tmp_path)  # oras only pushes files below the working directory
    response = oras.push(target=f"{registry.host}/interop/from-oras:v1", files=["notes.txt"], quiet=True)
    assert response.status_code == 201

    ref = parse_reference(f"{registry.host}/interop/from-oras:v1")
    manifest = client.get_manifest(ref)
    assert isinstance(manifest, Manifest)
    assert manifest.artifact_type is None  # oras-py cannot set one
    assert manifest.effective_artifact_type == manifest.config.media_type
    [layer] = manifest.layers
    assert layer.annotations[TITLE] == "notes.txt"
    assert layer.digest == Digest.of(content)

    dest = tmp_path / "pulled"
    assert client.fetch_blob(ref.domain, ref.path, layer.digest, dest, size=layer.size) == len(content)
    assert dest.read_bytes() == content
    config = io.BytesIO()
    client.fetch_blob(ref.domain, ref.path, manifest.config.digest, config, size=manifest.config.size)
    assert Digest.of(config.getvalue()) == manifest.config.digest
    assert client.resolve(ref).digest == manifest.digest
