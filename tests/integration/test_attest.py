"""Attestations end to end against the real registry (Distribution 2.8, which has no
referrers API, so the ``sha256-<hex>`` fallback index is what makes them findable):
sign, build referrer manifests, push them with the registry client, verify-image."""

from __future__ import annotations

import base64
import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from oras.client import OrasClient
from sigstore.models import Bundle
from sigstore.oidc import IdentityToken

from devtools.attest_double import ISSUER, LocalSigstore
from devtools.testbed import RunningRegistry
from repro import errors
from repro.attest.keys import generate_key, key_hint, load_private_key, write_keypair
from repro.attest.referrers import (
    BUNDLE_ARTIFACT_TYPE,
    CYCLONEDX_ARTIFACT_TYPE,
    EMPTY_CONFIG,
    referrer_manifest,
)
from repro.attest.sign import KeylessSigner, KeySigner, Signer
from repro.attest.statements import (
    CYCLONEDX_BOM,
    REPRODUCIBLE_V1,
    SLSA_PROVENANCE_V1,
    Statement,
    Subject,
)
from repro.attest.verify_image import IdentityTrust, KeyTrust, verify_image
from repro.cli import main
from repro.config import Config, RegistryConfig
from repro.digest import Digest
from repro.images.push import sbom_referrer
from repro.oci import media
from repro.oci.models import Descriptor, index_json
from repro.platform import Platform
from repro.registry import RegistryClient

CREATED = "2024-05-01T12:00:00Z"
ALL = (SLSA_PROVENANCE_V1, CYCLONEDX_BOM, REPRODUCIBLE_V1)
SBOM = b'{"bomFormat":"CycloneDX","specVersion":"1.6","version":1,"components":[]}'


@pytest.fixture
def client(registry: RunningRegistry) -> Iterator[RegistryClient]:
    config = Config(registries={registry.host: RegistryConfig(insecure=True)}, timeout=10.0)
    with RegistryClient(config) as c:
        yield c


def push_image(
    client: RegistryClient,
    host: str,
    path: str,
    label: str = "one",
    *,
    architecture: str = "amd64",
    tag: str = "v1",
) -> Descriptor:
    config = json.dumps(
        {
            "architecture": architecture,
            "os": "linux",
            "config": {"Labels": {"l": label}},
            "rootfs": {"type": "layers", "diff_ids": []},
        }
    ).encode()
    client.push_blob(host, path, Digest.of(config), io.BytesIO(config), len(config))
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": media.OCI_MANIFEST,
            "config": {"mediaType": media.OCI_CONFIG, "digest": str(Digest.of(config)), "size": len(config)},
            "layers": [],
        }
    ).encode()
    digest = client.push_manifest(host, path, tag, manifest, media.OCI_MANIFEST)
    return Descriptor(media.OCI_MANIFEST, digest, len(manifest), platform=Platform("linux", architecture))


def push_index(client: RegistryClient, host: str, path: str, tag: str, entries: list[Descriptor]) -> Digest:
    return client.push_manifest(host, path, tag, index_json([e.to_json() for e in entries]), media.OCI_INDEX)


def push_bundle(
    client: RegistryClient, host: str, path: str, subject: Descriptor, bundle: bytes, *, predicate_type: str
) -> Digest:
    """What the pusher does for one bundle: the two blobs, then the referrer manifest."""
    manifest, media_type = referrer_manifest(
        bundle, subject=subject, predicate_type=predicate_type, created=CREATED
    )
    for blob in (EMPTY_CONFIG, bundle):
        client.push_blob(host, path, Digest.of(blob), io.BytesIO(blob), len(blob))
    return client.push_referrer(host, path, manifest, media_type, subject.digest)


def attest(
    client: RegistryClient,
    host: str,
    path: str,
    subject: Descriptor,
    signer: Signer,
    *,
    predicate_type: str,
    about: Digest | None = None,
) -> bytes:
    statement = Statement(
        (Subject(f"{host}/{path}", about or subject.digest),), predicate_type, {"ci": "test"}
    )
    bundle = signer.sign(statement)
    push_bundle(client, host, path, subject, bundle, predicate_type=predicate_type)
    return bundle


def test_key_signed_attestations_verify_from_the_registry(
    registry: RunningRegistry, client: RegistryClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    host, path = registry.host, "attest/keyed"
    image = push_image(client, host, path)
    pair = write_keypair(tmp_path / "release", b"pw")
    signer = KeySigner(load_private_key(pair.private_key, b"pw"))
    for predicate_type in ALL:
        attest(client, host, path, image, signer, predicate_type=predicate_type)
    sbom = sbom_referrer(SBOM, image, created=datetime(2024, 5, 1, 12, tzinfo=UTC))
    client.push_blob(host, path, Digest.of(SBOM), io.BytesIO(SBOM), len(SBOM))
    client.push_referrer(host, path, sbom.manifest, sbom.media_type, image.digest)

    # Found through the fallback tag: the registry has no referrers API.
    assert requests.get(f"{registry.url}/v2/{path}/referrers/{image.digest}", timeout=5).status_code == 404
    listed = client.referrers(host, path, image.digest)
    assert sorted(d.artifact_type or "" for d in listed) == sorted(
        [BUNDLE_ARTIFACT_TYPE] * 3 + [CYCLONEDX_ARTIFACT_TYPE]
    )

    result = verify_image(
        f"{host}/{path}:v1",
        KeyTrust(load_private_key(pair.private_key, b"pw").public_key()),
        require=ALL,
        client=client,
    )
    assert result.digest == image.digest
    assert sorted(v.predicate_type for v in result.verified) == sorted(ALL)
    assert not result.rejected

    monkeypatch.setenv("REPRO_INSECURE_REGISTRIES", host)
    argv = [
        "verify-image",
        f"{host}/{path}:v1",
        "--key",
        str(pair.public_key),
        "--require",
        "provenance,sbom,reproducible",
    ]
    assert main(argv) == 0
    assert main([*argv, "--json"]) == 0


def _tampered(bundle: bytes) -> bytes:
    document = json.loads(bundle)
    statement = json.loads(base64.b64decode(document["dsseEnvelope"]["payload"]))
    statement["predicate"]["ci"] = "forged"
    document["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    return json.dumps(document).encode()


def test_tamper_cases_from_the_registry(registry: RunningRegistry, client: RegistryClient) -> None:
    host = registry.host
    key = generate_key()
    signer, trust = KeySigner(key), KeyTrust(key.public_key())

    # Tampered image: a statement about another image attached to this one.
    path = "attest/subject"
    image = push_image(client, host, path, label="subject")
    elsewhere = Digest.of(b"the image that was signed")
    attest(client, host, path, image, signer, predicate_type=SLSA_PROVENANCE_V1, about=elsewhere)
    with pytest.raises(errors.SubjectMismatchError, match="subject mismatch"):
        verify_image(f"{host}/{path}:v1", trust, require=(SLSA_PROVENANCE_V1,), client=client)

    # Tampered bundle: the statement changed after signing.
    path = "attest/bundle"
    image = push_image(client, host, path, label="bundle")
    bundle = signer.sign(Statement((Subject(path, image.digest),), SLSA_PROVENANCE_V1, {"ci": "test"}))
    push_bundle(client, host, path, image, _tampered(bundle), predicate_type=SLSA_PROVENANCE_V1)
    with pytest.raises(errors.SignatureError, match="signature invalid"):
        verify_image(f"{host}/{path}:v1", trust, require=(SLSA_PROVENANCE_V1,), client=client)

    # Wrong key, and a required attestation that is not there.
    path = "attest/key"
    image = push_image(client, host, path, label="key")
    attest(client, host, path, image, signer, predicate_type=SLSA_PROVENANCE_V1)
    other = KeyTrust(generate_key().public_key())
    with pytest.raises(
        errors.UntrustedSignerError, match=re.escape(f"not by --key {key_hint(other.public_key)}")
    ):
        verify_image(f"{host}/{path}:v1", other, client=client)
    with pytest.raises(errors.MissingAttestationError, match="required reproducible attestation"):
        verify_image(f"{host}/{path}:v1", trust, require=(SLSA_PROVENANCE_V1, REPRODUCIBLE_V1), client=client)

    # A referrer index entry pointing at an artifact of another image is not trusted either.
    path = "attest/moved"
    image = push_image(client, host, path, label="moved-a")
    other_image = push_image(client, host, path, label="moved-b")
    bundle = signer.sign(Statement((Subject(path, image.digest),), SLSA_PROVENANCE_V1, {}))
    referrer = push_bundle(client, host, path, other_image, bundle, predicate_type=SLSA_PROVENANCE_V1)
    assert referrer in [d.digest for d in client.referrers(host, path, other_image.digest)]
    with pytest.raises(errors.MissingAttestationError):
        verify_image(f"{host}/{path}@{image.digest}", trust, client=client)


def test_oras_pulls_a_referrer_back_intact(
    registry: RunningRegistry, client: RegistryClient, tmp_path: Path
) -> None:
    host, path = registry.host, "attest/oras"
    image = push_image(client, host, path, label="oras")
    bundle = attest(client, host, path, image, KeySigner(generate_key()), predicate_type=SLSA_PROVENANCE_V1)
    [descriptor] = client.referrers(host, path, image.digest, BUNDLE_ARTIFACT_TYPE)
    logging.getLogger("oras").setLevel(logging.WARNING)
    oras = OrasClient(hostname=host, insecure=True)
    seen = oras.get_manifest(f"{host}/{path}@{descriptor.digest}")
    assert seen["artifactType"] == BUNDLE_ARTIFACT_TYPE
    assert seen["subject"]["digest"] == str(image.digest)
    assert seen["annotations"]["dev.sigstore.bundle.predicateType"] == SLSA_PROVENANCE_V1
    files = oras.pull(target=f"{host}/{path}@{descriptor.digest}", outdir=str(tmp_path / "out"))
    [pulled] = [Path(f) for f in files]
    assert pulled.read_bytes() == bundle


def test_keyless_attestation_through_the_registry(
    registry: RunningRegistry, client: RegistryClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keyless against the local Sigstore TEST DOUBLE; verified by sigstore's real Verifier."""
    host, path = registry.host, "attest/keyless"
    image = push_image(client, host, path, label="keyless")
    double = LocalSigstore()
    signer = KeylessSigner(
        double.signing_context(), IdentityToken(double.identity_token("release@example.com"))
    )
    bundle = attest(client, host, path, image, signer, predicate_type=SLSA_PROVENANCE_V1)
    Bundle.from_json(bundle)  # sigstore's own model reads what was pushed

    trust = IdentityTrust(issuer=ISSUER, trusted_root=double.trusted_root(), identity="release@example.com")
    result = verify_image(f"{host}/{path}:v1", trust, require=(SLSA_PROVENANCE_V1,), client=client)
    assert result.verified[0].signer == f"keyless release@example.com ({ISSUER})"

    root = double.write_trusted_root(tmp_path / "trusted_root.json")
    monkeypatch.setenv("REPRO_INSECURE_REGISTRIES", host)
    base = [
        "verify-image",
        f"{host}/{path}:v1",
        "--trusted-root",
        str(root),
        "--certificate-oidc-issuer",
        ISSUER,
    ]
    assert main([*base, "--certificate-identity", "release@example.com", "--require", "provenance"]) == 0
    assert main([*base, "--certificate-identity", "mallory@example.com"]) == errors.EXIT_UNTRUSTED_SIGNER


def test_an_index_wrapping_a_signed_image_is_refused_from_the_registry(
    registry: RunningRegistry,
    client: RegistryClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The attack: a signed single-platform release, re-published inside a new index next
    to an unsigned arm64 image. Then the honest case: both platforms signed."""
    host, path = registry.host, "attest/multi"
    pair = write_keypair(tmp_path / "release", b"pw")
    signer = KeySigner(load_private_key(pair.private_key, b"pw"))
    amd64 = push_image(client, host, path, "amd64", tag="amd64")
    for predicate_type in ALL:
        attest(client, host, path, amd64, signer, predicate_type=predicate_type)
    arm64 = push_image(client, host, path, "attacker", architecture="arm64", tag="arm64")
    forged = push_index(client, host, path, "forged", [amd64, arm64])

    monkeypatch.setenv("REPRO_INSECURE_REGISTRIES", host)
    base = [
        "verify-image",
        "--key",
        str(pair.public_key),
        "--require",
        "provenance,sbom,reproducible",
        "--json",
    ]
    assert main([*base, f"{host}/{path}:amd64"]) == 0
    capsys.readouterr()
    assert main([*base, f"{host}/{path}:forged"]) == errors.EXIT_UNCOVERED_PLATFORM
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["ok"] is False
    assert result["digest"] == str(forged)
    assert result["error"]["exitCode"] == errors.EXIT_UNCOVERED_PLATFORM
    assert [(c["platform"], c["missing"]) for c in result["coverage"]] == [
        ("linux/amd64", []),
        ("linux/arm64", sorted(ALL, key=ALL.index)),
    ]
    [reason] = [line for line in captured.err.splitlines() if line.startswith("repro: error:")]
    assert f"linux/arm64 image {arm64.digest} is not covered" in reason
    # Narrowed to the signed platform, the index verifies; to the unsigned one, it does not.
    assert main([*base, f"{host}/{path}:forged", "--platform", "linux/amd64"]) == 0
    assert (
        main([*base, f"{host}/{path}:forged", "--platform", "linux/arm64"]) == errors.EXIT_MISSING_ATTESTATION
    )
    assert main([*base, f"{host}/{path}:forged", "--platform", "linux/s390x"]) == errors.EXIT_USAGE
    capsys.readouterr()

    # A real two-platform release: each platform manifest signed with repro's library.
    for predicate_type in ALL:
        attest(client, host, path, arm64, signer, predicate_type=predicate_type)
    signed = push_index(client, host, path, "release", [amd64, arm64])
    assert main([*base, f"{host}/{path}:release"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] is True
    assert result["digest"] == str(signed)
    assert {v["subject"] for v in result["verified"]} == {str(amd64.digest), str(arm64.digest)}
    assert len(result["verified"]) == 6
