"""OCI 1.1 referrers on Distribution 2.8, which has no referrers API: the tag-schema fallback."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
import requests

from devtools.testbed import RunningRegistry
from repro.config import Config, RegistryConfig
from repro.digest import Digest
from repro.errors import UsageError
from repro.oci import media
from repro.reference import parse_reference
from repro.registry import Index, RegistryClient

CONFIG = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
EMPTY = b"{}"
SIG_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
SBOM_TYPE = "application/vnd.cyclonedx+json"


@pytest.fixture
def client(registry: RunningRegistry) -> Iterator[RegistryClient]:
    config = Config(registries={registry.host: RegistryConfig(insecure=True)}, timeout=10.0)
    with RegistryClient(config) as c:
        yield c


def _push_subject(client: RegistryClient, host: str, path: str) -> tuple[Digest, int]:
    client.push_blob(host, path, Digest.of(CONFIG), io.BytesIO(CONFIG), len(CONFIG))
    data = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": media.OCI_MANIFEST,
            "config": {"mediaType": media.OCI_CONFIG, "digest": str(Digest.of(CONFIG)), "size": len(CONFIG)},
            "layers": [],
        }
    ).encode()
    return client.push_manifest(host, path, "v1", data, media.OCI_MANIFEST), len(data)


def _artifact(
    client: RegistryClient,
    host: str,
    *,
    path: str,
    subject: tuple[Digest, int],
    artifact_type: str,
    payload: bytes,
) -> bytes:
    for blob in (EMPTY, payload):
        client.push_blob(host, path, Digest.of(blob), io.BytesIO(blob), len(blob))
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": media.OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": {"mediaType": media.OCI_EMPTY, "digest": str(Digest.of(EMPTY)), "size": 2},
            "layers": [{"mediaType": artifact_type, "digest": str(Digest.of(payload)), "size": len(payload)}],
            "subject": {"mediaType": media.OCI_MANIFEST, "digest": str(subject[0]), "size": subject[1]},
            "annotations": {
                "org.opencontainers.image.created": "2024-01-01T00:00:00Z",
                "kind": artifact_type,
            },
        }
    ).encode()


def test_distribution_has_no_referrers_api(registry: RunningRegistry, client: RegistryClient) -> None:
    subject = _push_subject(client, registry.host, "ref/api")
    response = requests.get(f"{registry.url}/v2/ref/api/referrers/{subject[0]}", timeout=5)
    assert response.status_code == 404
    assert client.referrers(registry.host, "ref/api", subject[0]) == []


def test_push_and_list_referrers_via_fallback(registry: RunningRegistry, client: RegistryClient) -> None:
    host, path = registry.host, "ref/fallback"
    subject = _push_subject(client, host, path)
    signature = _artifact(
        client, host, path=path, subject=subject, artifact_type=SIG_TYPE, payload=b'{"bundle": 1}'
    )
    sbom = _artifact(
        client,
        host,
        path=path,
        subject=subject,
        artifact_type=SBOM_TYPE,
        payload=b'{"bomFormat": "CycloneDX"}',
    )

    sig_digest = client.push_referrer(host, path, signature, media.OCI_MANIFEST, subject[0])
    sbom_digest = client.push_referrer(host, path, sbom, media.OCI_MANIFEST, subject[0])
    assert sig_digest == Digest.of(signature)

    listed = client.referrers(host, path, subject[0])
    assert [d.digest for d in listed] == [sig_digest, sbom_digest]
    by_digest = {d.digest: d for d in listed}
    assert by_digest[sig_digest].artifact_type == SIG_TYPE
    assert dict(by_digest[sig_digest].annotations) == {
        "org.opencontainers.image.created": "2024-01-01T00:00:00Z",
        "kind": SIG_TYPE,
    }
    assert by_digest[sbom_digest].size == len(sbom)
    assert by_digest[sbom_digest].media_type == media.OCI_MANIFEST

    only = client.referrers(host, path, subject[0], artifact_type=SBOM_TYPE)
    assert [d.digest for d in only] == [sbom_digest]
    assert client.referrers(host, path, subject[0], artifact_type="application/none") == []

    # Pushing again neither duplicates nor drops entries.
    client.push_referrer(host, path, signature, media.OCI_MANIFEST, subject[0])
    assert [d.digest for d in client.referrers(host, path, subject[0])] == [sig_digest, sbom_digest]

    # The fallback index is an ordinary OCI index under the tag schema.
    index = client.get_manifest(parse_reference(f"{host}/{path}:sha256-{subject[0].hex}"))
    assert isinstance(index, Index)
    assert index.media_type == media.OCI_INDEX
    assert len(index.manifests) == 2


def test_existing_foreign_entries_are_kept(registry: RunningRegistry, client: RegistryClient) -> None:
    host, path = registry.host, "ref/foreign"
    subject = _push_subject(client, host, path)
    first = _artifact(client, host, path=path, subject=subject, artifact_type=SIG_TYPE, payload=b"one")
    first_digest = client.push_manifest(host, path, str(Digest.of(first)), first, media.OCI_MANIFEST)
    # Another tool wrote the fallback index, with a field repro does not model.
    entry = {
        "mediaType": media.OCI_MANIFEST,
        "digest": str(first_digest),
        "size": len(first),
        "artifactType": SIG_TYPE,
        "data": "e30=",
    }
    foreign = json.dumps({"schemaVersion": 2, "mediaType": media.OCI_INDEX, "manifests": [entry]}).encode()
    client.push_manifest(host, path, f"sha256-{subject[0].hex}", foreign, media.OCI_INDEX)

    second = _artifact(client, host, path=path, subject=subject, artifact_type=SBOM_TYPE, payload=b"two")
    client.push_referrer(host, path, second, media.OCI_MANIFEST, subject[0])
    index = client.get_manifest(parse_reference(f"{host}/{path}:sha256-{subject[0].hex}"))
    raw = json.loads(index.data)["manifests"]
    assert raw[0] == entry
    assert [d["digest"] for d in raw] == [str(first_digest), str(Digest.of(second))]


def test_subject_must_match(registry: RunningRegistry, client: RegistryClient) -> None:
    host, path = registry.host, "ref/mismatch"
    subject = _push_subject(client, host, path)
    artifact = _artifact(client, host, path=path, subject=subject, artifact_type=SIG_TYPE, payload=b"x")
    with pytest.raises(UsageError, match="subject"):
        client.push_referrer(host, path, artifact, media.OCI_MANIFEST, Digest.of(b"another subject"))
