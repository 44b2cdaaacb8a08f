"""verify-image on OCI layouts with key-based bundles: each failure has its own error."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from repro import errors
from repro.attest.keys import generate_key
from repro.attest.sign import KeySigner
from repro.attest.statements import CYCLONEDX_BOM, REPRODUCIBLE_V1, SLSA_PROVENANCE_V1
from repro.attest.verify_image import KeyTrust, open_source, verify_bundle, verify_image
from repro.digest import Digest
from tests.unit.attest.helpers import attach, make_image, sign_and_attach, statement_for

KEY = generate_key()
SIGNER = KeySigner(KEY)
TRUST = KeyTrust(KEY.public_key())
ALL = (SLSA_PROVENANCE_V1, CYCLONEDX_BOM, REPRODUCIBLE_V1)


def test_all_required_attestations_verify(tmp_path: Path) -> None:
    layout, image = make_image(tmp_path / "img")
    for predicate_type in ALL:
        sign_and_attach(layout, image, SIGNER, predicate_type)
    result = verify_image(f"oci:{tmp_path / 'img'}:latest", TRUST, require=ALL)
    assert result.digest == image.digest
    assert sorted(v.predicate_type for v in result.verified) == sorted(ALL)
    assert not result.rejected
    assert all(v.signer == f"key {SIGNER.hint}" for v in result.verified)
    assert json.loads(json.dumps(result.to_json()))["digest"] == str(image.digest)


def test_referrers_of_other_images_in_the_layout_are_ignored(tmp_path: Path) -> None:
    layout, _image = make_image(tmp_path / "img")
    _, other = make_image(tmp_path / "img", tag="other", label="two")
    sign_and_attach(layout, other, SIGNER, SLSA_PROVENANCE_V1)
    with pytest.raises(errors.MissingAttestationError, match="no signed attestations"):
        verify_image(f"oci:{tmp_path / 'img'}:latest", TRUST)
    assert verify_image(f"oci:{tmp_path / 'img'}:other", TRUST).verified


def test_missing_required_attestation(tmp_path: Path) -> None:
    layout, image = make_image(tmp_path / "img")
    sign_and_attach(layout, image, SIGNER, SLSA_PROVENANCE_V1)
    with pytest.raises(
        errors.MissingAttestationError, match=r"required sbom attestation .* is missing; verified: provenance"
    ):
        verify_image(f"oci:{tmp_path / 'img'}", TRUST, require=(SLSA_PROVENANCE_V1, CYCLONEDX_BOM))


def test_wrong_key(tmp_path: Path) -> None:
    layout, image = make_image(tmp_path / "img")
    sign_and_attach(layout, image, SIGNER, SLSA_PROVENANCE_V1)
    other = KeyTrust(generate_key().public_key())
    with pytest.raises(
        errors.UntrustedSignerError, match=re.escape(f"wrong key: the bundle is signed by key {SIGNER.hint}")
    ):
        verify_image(f"oci:{tmp_path / 'img'}", other, require=(SLSA_PROVENANCE_V1,))


def _tamper_payload(bundle: bytes) -> bytes:
    document = json.loads(bundle)
    statement = json.loads(base64.b64decode(document["dsseEnvelope"]["payload"]))
    statement["predicate"] = {"test": "changed"}
    document["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    return json.dumps(document).encode()


def test_tampered_bundle(tmp_path: Path) -> None:
    layout, image = make_image(tmp_path / "img")
    bundle = SIGNER.sign(statement_for(image.digest, SLSA_PROVENANCE_V1))
    attach(layout, image, _tamper_payload(bundle), SLSA_PROVENANCE_V1)
    with pytest.raises(
        errors.SignatureError, match="provenance attestation did not verify: signature invalid"
    ):
        verify_image(f"oci:{tmp_path / 'img'}", TRUST, require=(SLSA_PROVENANCE_V1,))


def test_statement_about_another_image(tmp_path: Path) -> None:
    """An attestation copied from another image onto this one: the subject gives it away."""
    layout, image = make_image(tmp_path / "img")
    elsewhere = Digest.of(b"the image that was really signed")
    sign_and_attach(layout, image, SIGNER, SLSA_PROVENANCE_V1, about=elsewhere)
    with pytest.raises(
        errors.SubjectMismatchError, match=f"is about {elsewhere}, not the image {image.digest}"
    ):
        verify_image(f"oci:{tmp_path / 'img'}", TRUST, require=(SLSA_PROVENANCE_V1,))


def test_a_good_attestation_is_not_spoiled_by_a_bad_one(tmp_path: Path) -> None:
    layout, image = make_image(tmp_path / "img")
    sign_and_attach(layout, image, SIGNER, SLSA_PROVENANCE_V1)
    sign_and_attach(layout, image, KeySigner(generate_key()), SLSA_PROVENANCE_V1)
    result = verify_image(f"oci:{tmp_path / 'img'}", TRUST, require=(SLSA_PROVENANCE_V1,))
    assert len(result.verified) == 1
    [rejected] = result.rejected
    assert isinstance(rejected.error, errors.UntrustedSignerError)
    assert rejected.claimed_predicate_type == SLSA_PROVENANCE_V1


def test_payload_that_is_not_in_toto() -> None:
    from repro.attest import dsse
    from repro.attest.bundle import key_bundle

    envelope = dsse.sign(b"hello", "text/plain", KEY)
    with pytest.raises(errors.VerificationError, match="not an in-toto statement"):
        verify_bundle(key_bundle(envelope, KEY.public_key()), TRUST, Digest.of(b"x"))


def test_the_layout_source_finds_tag_schema_indexes(tmp_path: Path) -> None:
    """Referrers listed through a ``sha256-<hex>`` index, as other tools write into layouts."""
    from repro.attest.referrers import referrer_manifest
    from repro.oci import media
    from repro.oci.layout import ImageLayout
    from repro.oci.models import index_json

    layout, image = make_image(tmp_path / "img")
    bundle = SIGNER.sign(statement_for(image.digest, SLSA_PROVENANCE_V1))
    manifest, _ = referrer_manifest(
        bundle, subject=image, predicate_type=SLSA_PROVENANCE_V1, created="2024-01-01T00:00:00Z"
    )
    layout.write_blob(b"{}", media.OCI_EMPTY)
    layout.write_blob(bundle, "application/vnd.dev.sigstore.bundle.v0.3+json")
    entry = layout.write_blob(
        manifest, media.OCI_MANIFEST, artifact_type="application/vnd.dev.sigstore.bundle.v0.3+json"
    )
    fallback = layout.write_blob(index_json([entry.to_json()]), media.OCI_INDEX)
    ImageLayout(layout.path).set_tag(f"sha256-{image.digest.hex}", fallback)
    source = open_source(f"oci:{layout.path}:latest")
    assert [d.digest for d in source.referrers(image.digest)] == [entry.digest]


@pytest.mark.parametrize(
    "cls",
    [
        errors.VerificationError,
        errors.SignatureError,
        errors.UntrustedSignerError,
        errors.SubjectMismatchError,
        errors.MissingAttestationError,
        errors.AttestationError,
    ],
)
def test_each_outcome_has_its_own_exit_code(cls: type[errors.Error]) -> None:
    codes = [
        errors.EXIT_ATTESTATION,
        errors.EXIT_VERIFICATION,
        errors.EXIT_SIGNATURE_INVALID,
        errors.EXIT_UNTRUSTED_SIGNER,
        errors.EXIT_SUBJECT_MISMATCH,
        errors.EXIT_MISSING_ATTESTATION,
    ]
    assert len(set(codes)) == len(codes)
    assert cls.exit_code in codes


def test_multi_platform_image_attestations_on_index_or_platform(tmp_path: Path) -> None:
    """Statements name the platform manifest and the index; either may carry the referrer."""
    from repro.attest.statements import Statement, image_subjects
    from repro.oci import media
    from repro.oci.layout import ImageLayout
    from repro.oci.models import Descriptor, index_json
    from repro.platform import Platform

    layout, platform_image = make_image(tmp_path / "img", tag="amd64")
    entry = Descriptor(
        platform_image.media_type,
        platform_image.digest,
        platform_image.size,
        platform=Platform.parse("linux/amd64"),
    )
    index = layout.write_blob(index_json([entry.to_json()]), media.OCI_INDEX)
    ImageLayout(layout.path).set_tag("multi", index)
    subjects = image_subjects("registry.example/app", platform_image.digest, index.digest)
    for subject, predicate_type in ((platform_image, SLSA_PROVENANCE_V1), (index, CYCLONEDX_BOM)):
        attach(layout, subject, SIGNER.sign(Statement(subjects, predicate_type, {})), predicate_type)
    result = verify_image(f"oci:{layout.path}:multi", TRUST, require=(SLSA_PROVENANCE_V1, CYCLONEDX_BOM))
    assert result.digest == index.digest
    assert len(result.verified) == 2
