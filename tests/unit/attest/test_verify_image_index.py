"""verify-image on multi-platform indexes: every image in the index must be covered.

The attack: take a signed single-platform image, put its manifest in a new index next to
an unsigned image for another platform, and publish the index. Attestations of the signed
manifest must not make the index pass.
"""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import pytest

from repro import errors
from repro.attest.bundle import key_bundle
from repro.attest.dsse import Envelope
from repro.attest.keys import generate_key
from repro.attest.sign import KeySigner
from repro.attest.statements import CYCLONEDX_BOM, REPRODUCIBLE_V1, SLSA_PROVENANCE_V1, Statement, Subject
from repro.attest.verify_image import KeyTrust, evaluate_source, open_source, verify_image
from repro.cli import main
from repro.oci import media
from repro.oci.layout import ImageLayout
from repro.oci.models import Descriptor
from repro.platform import Platform
from tests.unit.attest.helpers import (
    add_platform_image,
    attach,
    make_image,
    make_index,
    sign_and_attach,
)

KEY = generate_key()
SIGNER = KeySigner(KEY)
TRUST = KeyTrust(KEY.public_key())
ALL = (SLSA_PROVENANCE_V1, CYCLONEDX_BOM, REPRODUCIBLE_V1)


def _signed(layout: ImageLayout, image: Descriptor, signer: KeySigner = SIGNER) -> None:
    for predicate_type in ALL:
        sign_and_attach(layout, image, signer, predicate_type)


def test_an_index_wrapping_a_signed_manifest_and_an_unsigned_one_is_refused(tmp_path: Path) -> None:
    layout, _ = make_image(tmp_path / "img")
    amd64 = add_platform_image(layout, "linux/amd64")
    arm64 = add_platform_image(layout, "linux/arm64", label="unsigned")
    _signed(layout, amd64)
    make_index(layout, [amd64, arm64])
    with pytest.raises(
        errors.UncoveredPlatformError, match=f"linux/arm64 image {arm64.digest} is not covered"
    ):
        verify_image(f"oci:{layout.path}:multi", TRUST, require=ALL)
    with pytest.raises(errors.UncoveredPlatformError):
        verify_image(f"oci:{layout.path}:multi", TRUST)
    # The signed platform alone still verifies when asked for by platform.
    result = verify_image(
        f"oci:{layout.path}:multi", TRUST, require=ALL, platforms=(Platform.parse("linux/amd64"),)
    )
    assert {v.subject for v in result.verified} == {amd64.digest}
    # Narrowed to the unsigned platform, nothing about it verified at all.
    with pytest.raises(
        errors.MissingAttestationError, match=r"linux/arm64 image .* has no verified provenance"
    ):
        verify_image(
            f"oci:{layout.path}:multi", TRUST, require=ALL, platforms=(Platform.parse("linux/arm64"),)
        )


def test_an_index_whose_every_platform_is_signed_verifies(tmp_path: Path) -> None:
    layout, _ = make_image(tmp_path / "img")
    amd64 = add_platform_image(layout, "linux/amd64")
    arm64 = add_platform_image(layout, "linux/arm64")
    _signed(layout, amd64)
    _signed(layout, arm64)
    index = make_index(layout, [amd64, arm64])
    result = verify_image(f"oci:{layout.path}:multi", TRUST, require=ALL)
    assert result.index
    assert result.digest == index.digest
    assert [(c.entry.platform, c.missing) for c in result.coverage] == [
        ("linux/amd64", ()),
        ("linux/arm64", ()),
    ]
    assert len(result.verified) == 6


def test_statements_about_the_index_cover_every_platform(tmp_path: Path) -> None:
    layout, _ = make_image(tmp_path / "img")
    amd64 = add_platform_image(layout, "linux/amd64")
    arm64 = add_platform_image(layout, "linux/arm64")
    index = make_index(layout, [amd64, arm64])
    _signed(layout, index)
    result = verify_image(f"oci:{layout.path}:multi", TRUST, require=ALL)
    assert {v.subject for v in result.verified} == {index.digest}


def test_a_referrer_attached_to_the_index_but_about_a_platform_does_not_count(tmp_path: Path) -> None:
    """Referrers of one digest never count for another, in either direction."""
    layout, _ = make_image(tmp_path / "img")
    amd64 = add_platform_image(layout, "linux/amd64")
    arm64 = add_platform_image(layout, "linux/arm64")
    index = make_index(layout, [amd64, arm64])
    _signed(layout, amd64)
    # Statements about amd64, attached to the index and to arm64: neither counts.
    for predicate_type in ALL:
        sign_and_attach(layout, index, SIGNER, predicate_type, about=amd64.digest)
        sign_and_attach(layout, arm64, SIGNER, predicate_type, about=amd64.digest)
    with pytest.raises(errors.SubjectMismatchError, match="linux/arm64 image"):
        verify_image(f"oci:{layout.path}:multi", TRUST, require=ALL)


def test_buildkit_attestation_manifests_need_no_cover_but_platformless_entries_do(tmp_path: Path) -> None:
    layout, _ = make_image(tmp_path / "img")
    amd64 = add_platform_image(layout, "linux/amd64")
    _signed(layout, amd64)
    attestation = add_platform_image(layout, "unknown/unknown", label="buildkit")
    buildkit = Descriptor(
        attestation.media_type,
        attestation.digest,
        attestation.size,
        annotations={media.DOCKER_REFERENCE_TYPE: "attestation-manifest"},
        platform=attestation.platform,
    )
    make_index(layout, [amd64, buildkit])
    assert verify_image(f"oci:{layout.path}:multi", TRUST, require=ALL).verified
    bare = add_platform_image(layout, "linux/arm64", label="no platform in the index")
    make_index(layout, [amd64, buildkit, Descriptor(bare.media_type, bare.digest, bare.size)], tag="bare")
    with pytest.raises(errors.UncoveredPlatformError, match=f"platform-less image {bare.digest}"):
        verify_image(
            f"oci:{layout.path}:bare", TRUST, require=ALL, platforms=(Platform.parse("linux/amd64"),)
        )


def test_a_platform_the_index_lacks_is_a_usage_error(tmp_path: Path) -> None:
    layout, _ = make_image(tmp_path / "img")
    amd64 = add_platform_image(layout, "linux/amd64")
    make_index(layout, [amd64])
    with pytest.raises(errors.UsageError, match=r"no image for platform linux/s390x \(it has: linux/amd64\)"):
        open_source(f"oci:{layout.path}:multi", platforms=(Platform.parse("linux/s390x"),))
    with pytest.raises(errors.UsageError, match="the image is linux/amd64, not linux/arm64"):
        open_source(f"oci:{layout.path}:latest", platforms=(Platform.parse("linux/arm64"),))
    assert open_source(f"oci:{layout.path}:latest", platforms=(Platform.parse("linux/amd64"),)).entries == ()


def test_an_index_with_nothing_signed_is_missing_attestations(tmp_path: Path) -> None:
    layout, _ = make_image(tmp_path / "img")
    make_index(layout, [add_platform_image(layout, "linux/amd64"), add_platform_image(layout, "linux/arm64")])
    with pytest.raises(
        errors.MissingAttestationError, match=r"linux/amd64 image .* has no verified provenance"
    ):
        verify_image(f"oci:{layout.path}:multi", TRUST, require=ALL)


# -- the key hint ------------------------------------------------------------------------------


def _with_hint(bundle: bytes, hint: str) -> bytes:
    document = json.loads(bundle)
    document["verificationMaterial"]["publicKey"]["hint"] = hint
    return json.dumps(document).encode()


def test_a_valid_signature_with_another_hint_verifies(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The hint is unauthenticated: as cosign, the key given decides, not the hint."""
    layout, image = make_image(tmp_path / "img")
    statement = Statement((Subject("registry.example/app", image.digest),), SLSA_PROVENANCE_V1, {})
    other_hint = base64.b64encode(b"\x01" * 32).decode()
    attach(layout, image, _with_hint(SIGNER.sign(statement), other_hint), SLSA_PROVENANCE_V1)
    with caplog.at_level(logging.INFO, logger="repro.attest.verify_image"):
        result = verify_image(f"oci:{layout.path}:latest", TRUST, require=(SLSA_PROVENANCE_V1,))
    assert [v.signer for v in result.verified] == [f"key {SIGNER.hint}"]
    assert "ignored" in caplog.text


def test_a_tampered_bundle_that_claims_another_key_is_still_refused(tmp_path: Path) -> None:
    layout, image = make_image(tmp_path / "img")
    statement = Statement((Subject("registry.example/app", image.digest),), SLSA_PROVENANCE_V1, {})
    bundle = json.loads(SIGNER.sign(statement))
    envelope = Envelope.from_json(bundle["dsseEnvelope"])
    forged = Envelope(envelope.payload.replace(b"{}", b'{"a":1}'), envelope.payload_type, envelope.signatures)
    attach(layout, image, key_bundle(forged, KEY.public_key()), SLSA_PROVENANCE_V1)
    with pytest.raises(errors.SignatureError, match="signature invalid"):
        verify_image(f"oci:{layout.path}:latest", TRUST, require=(SLSA_PROVENANCE_V1,))
    other = KeySigner(generate_key())
    attach(layout, image, _with_hint(other.sign(statement), SIGNER.hint), REPRODUCIBLE_V1)
    with pytest.raises(errors.SignatureError):
        verify_image(f"oci:{layout.path}:latest", TRUST, require=(REPRODUCIBLE_V1,))


# -- --json on every exit --------------------------------------------------------------------------


def test_json_is_printed_when_verification_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from repro.attest.keys import write_keypair

    pair = write_keypair(tmp_path / "k", b"pw")
    layout, _ = make_image(tmp_path / "img")
    amd64 = add_platform_image(layout, "linux/amd64")
    arm64 = add_platform_image(layout, "linux/arm64")
    make_index(layout, [amd64, arm64])
    from repro.attest.keys import load_private_key

    _signed(layout, amd64, KeySigner(load_private_key(pair.private_key, b"pw")))
    ref = f"oci:{layout.path}:multi"
    code = main(["verify-image", ref, "--key", str(pair.public_key), "--require", "provenance", "--json"])
    assert code == errors.EXIT_UNCOVERED_PLATFORM
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["ok"] is False
    assert out["index"] is True
    assert out["error"]["exitCode"] == errors.EXIT_UNCOVERED_PLATFORM
    assert [c["missing"] for c in out["coverage"]] == [[], [SLSA_PROVENANCE_V1]]
    assert {v["subject"] for v in out["verified"]} == {str(amd64.digest)}
    assert "is not covered" in captured.err.splitlines()[-2]
    # An error before any attestation is looked at still gives a result object.
    assert main(["verify-image", ref, "--key", str(tmp_path / "missing.pub"), "--json"]) != 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is False
    assert out["error"]["exitCode"] != 0
    # And success prints it too.
    assert (
        main(["verify-image", ref, "--key", str(pair.public_key), "--platform", "linux/amd64", "--json"]) == 0
    )
    assert json.loads(capsys.readouterr().out)["ok"] is True


def test_evaluate_source_never_raises_for_attestation_failures(tmp_path: Path) -> None:
    layout, image = make_image(tmp_path / "img")
    sign_and_attach(layout, image, KeySigner(generate_key()), SLSA_PROVENANCE_V1)
    result = evaluate_source(open_source(f"oci:{layout.path}:latest"), TRUST, require=ALL)
    assert isinstance(result.error, errors.UntrustedSignerError)
    assert result.to_json()["rejected"][0]["exitCode"] == errors.EXIT_UNTRUSTED_SIGNER
