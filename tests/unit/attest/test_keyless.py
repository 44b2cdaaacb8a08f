"""Keyless signing through sigstore's SigningContext, against the local Sigstore TEST
DOUBLE (devtools/attest_double), verified by sigstore's real Verifier. No sockets."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from sigstore.models import Bundle
from sigstore.oidc import IdentityToken

from devtools.attest_double import ISSUER, LocalSigstore
from repro import errors
from repro.attest.keys import generate_key
from repro.attest.sign import KeylessSigner, identity_token
from repro.attest.statements import SLSA_PROVENANCE_V1
from repro.attest.verify_image import IdentityTrust, KeyTrust, verify_bundle, verify_image
from repro.digest import Digest
from tests.unit.attest.helpers import make_image, sign_and_attach, statement_for

IDENTITY = "release@example.com"
IMAGE = Digest.of(b"an image manifest")


@pytest.fixture(scope="module")
def double() -> LocalSigstore:
    return LocalSigstore()


@pytest.fixture(scope="module")
def signer(double: LocalSigstore) -> KeylessSigner:
    return KeylessSigner(double.signing_context(), IdentityToken(double.identity_token(IDENTITY)))


@pytest.fixture(scope="module")
def bundle(signer: KeylessSigner) -> bytes:
    return signer.sign(statement_for(IMAGE, SLSA_PROVENANCE_V1))


def _trust(double: LocalSigstore, *, identity: str = IDENTITY, issuer: str = ISSUER) -> IdentityTrust:
    return IdentityTrust(trusted_root=double.trusted_root(), identity=identity, issuer=issuer)


def test_keyless_bundle_is_a_sigstore_bundle(bundle: bytes, double: LocalSigstore) -> None:
    parsed = Bundle.from_json(bundle)
    document = json.loads(bundle)
    assert document["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    assert "certificate" in document["verificationMaterial"]
    [entry] = document["verificationMaterial"]["tlogEntries"]
    assert entry["kindVersion"] == {"kind": "dsse", "version": "0.0.1"}
    assert entry["inclusionProof"]["checkpoint"]["envelope"]
    assert parsed.signing_certificate.issuer == double.ca_cert.subject


def test_keyless_bundle_verifies_with_sigstores_verifier(bundle: bytes, double: LocalSigstore) -> None:
    statement, signer = verify_bundle(bundle, _trust(double), IMAGE)
    assert statement.predicate_type == SLSA_PROVENANCE_V1
    assert signer == f"keyless {IDENTITY} ({ISSUER})"
    regexp = IdentityTrust(
        issuer=ISSUER, trusted_root=double.trusted_root(), identity_regexp=r"[a-z]+@example\.com"
    )
    verify_bundle(bundle, regexp, IMAGE)


def test_many_entries_in_the_log_each_have_a_valid_proof(
    signer: KeylessSigner, double: LocalSigstore
) -> None:
    bundles = [signer.sign(statement_for(IMAGE, f"https://example.com/p/{i}")) for i in range(5)]
    for data in bundles:
        verify_bundle(data, _trust(double), IMAGE)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"identity": "attacker@example.com"}, "wrong identity: certificate identity is release@example.com"),
        ({"issuer": "https://token.actions.githubusercontent.com"}, "wrong identity: certificate issuer"),
    ],
)
def test_wrong_identity_or_issuer(
    bundle: bytes, double: LocalSigstore, options: dict[str, str], message: str
) -> None:
    trust = _trust(double, identity=options.get("identity", IDENTITY), issuer=options.get("issuer", ISSUER))
    with pytest.raises(errors.UntrustedSignerError, match=message):
        verify_bundle(bundle, trust, IMAGE)


def test_wrong_identity_regexp(bundle: bytes, double: LocalSigstore) -> None:
    trust = IdentityTrust(
        issuer=ISSUER, trusted_root=double.trusted_root(), identity_regexp=r"release@example\.org"
    )
    with pytest.raises(errors.UntrustedSignerError, match="does not match"):
        verify_bundle(bundle, trust, IMAGE)


def test_another_sigstore_is_not_trusted(bundle: bytes) -> None:
    stranger = LocalSigstore()
    with pytest.raises(errors.UntrustedSignerError, match="does not chain to the trusted root"):
        verify_bundle(bundle, _trust(stranger), IMAGE)


def test_tampered_keyless_bundle(bundle: bytes, double: LocalSigstore) -> None:
    document = json.loads(bundle)
    statement = json.loads(base64.b64decode(document["dsseEnvelope"]["payload"]))
    statement["predicate"] = {"test": "changed"}
    document["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    with pytest.raises(errors.SignatureError, match="signature invalid"):
        verify_bundle(json.dumps(document).encode(), _trust(double), IMAGE)


def test_subject_mismatch_keyless(bundle: bytes, double: LocalSigstore) -> None:
    with pytest.raises(errors.SubjectMismatchError):
        verify_bundle(bundle, _trust(double), Digest.of(b"another image"))


def test_key_trust_refuses_keyless_bundles_and_the_other_way_round(
    bundle: bytes, double: LocalSigstore
) -> None:
    with pytest.raises(errors.UntrustedSignerError, match="signed keyless"):
        verify_bundle(bundle, KeyTrust(generate_key().public_key()), IMAGE)
    from repro.attest.sign import KeySigner

    key_bundle = KeySigner(generate_key()).sign(statement_for(IMAGE, SLSA_PROVENANCE_V1))
    with pytest.raises(errors.UntrustedSignerError, match="signed by key"):
        verify_bundle(key_bundle, _trust(double), IMAGE)


def test_keyless_attestations_in_a_layout(
    tmp_path: Path, signer: KeylessSigner, double: LocalSigstore
) -> None:
    layout, image = make_image(tmp_path / "img")
    sign_and_attach(layout, image, signer, SLSA_PROVENANCE_V1)
    result = verify_image(f"oci:{layout.path}", _trust(double), require=(SLSA_PROVENANCE_V1,))
    assert [v.predicate_type for v in result.verified] == [SLSA_PROVENANCE_V1]


def test_the_fulcio_double_refuses_tokens_it_did_not_issue(double: LocalSigstore) -> None:
    forged = LocalSigstore().identity_token(IDENTITY)
    bad = KeylessSigner(double.signing_context(), IdentityToken(forged))
    with pytest.raises(errors.AttestationError, match="refused by the Fulcio test double"):
        bad.sign(statement_for(IMAGE, SLSA_PROVENANCE_V1))


def test_identity_token_sources(double: LocalSigstore, monkeypatch: pytest.MonkeyPatch) -> None:
    token = double.identity_token(IDENTITY)
    assert identity_token(token, env={}).identity == IDENTITY
    assert identity_token(env={"SIGSTORE_ID_TOKEN": token}).identity == IDENTITY
    monkeypatch.setattr("sigstore.oidc.detect_credential", lambda: None)
    with pytest.raises(errors.AttestationError, match="no"):
        identity_token(env={})
    with pytest.raises(errors.AttestationError, match="not usable"):
        identity_token("not-a-jwt", env={})


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("integratedTime",), "1"),
        (("inclusionProof", "rootHash"), base64.b64encode(b"\x00" * 32).decode()),
        (
            ("inclusionPromise", "signedEntryTimestamp"),
            base64.b64encode(b"\x30\x06\x02\x01\x01\x02\x01\x01").decode(),
        ),
    ],
)
def test_tampered_log_entry(bundle: bytes, double: LocalSigstore, path: tuple[str, ...], value: str) -> None:
    """The Verifier checks the double's log: proof, checkpoint and promise are real."""
    document = json.loads(bundle)
    target = document["verificationMaterial"]["tlogEntries"][0]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(errors.VerificationError):
        verify_bundle(json.dumps(document).encode(), _trust(double), IMAGE)
