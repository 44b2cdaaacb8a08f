"""``repro keygen`` and ``repro verify-image`` through the CLI: output and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devtools.attest_double import ISSUER, LocalSigstore
from repro import errors
from repro.attest.keys import load_private_key
from repro.attest.sign import KeySigner
from repro.attest.statements import CYCLONEDX_BOM, SLSA_PROVENANCE_V1
from repro.cli import main
from repro.digest import Digest
from tests.unit.attest.helpers import make_image, sign_and_attach


@pytest.fixture
def keypair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Path:
    monkeypatch.setenv("REPRO_KEY_PASSWORD", "pass phrase")
    assert main(["keygen", str(tmp_path / "cosign")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "cosign.pub")
    return tmp_path / "cosign"


def test_keygen(keypair: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    key = load_private_key(keypair.with_suffix(".key"), b"pass phrase")
    assert main(["keygen", str(keypair), "--json"]) == errors.EXIT_USAGE
    assert "refusing to overwrite" in capsys.readouterr().err
    monkeypatch.chdir(keypair.parent)
    assert main(["keygen", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["private_key"] == "repro.key"
    assert out["public_key"] == "repro.pub"
    assert out["hint"] != KeySigner(key).hint


def test_keygen_without_a_passphrase(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # No REPRO_KEY_PASSWORD and no terminal (pytest's stdin): refuse, write nothing.
    assert main(["keygen", str(tmp_path / "k")]) == errors.EXIT_ATTESTATION
    assert "REPRO_KEY_PASSWORD" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def _signed_layout(tmp_path: Path, keypair: Path) -> str:
    layout, image = make_image(tmp_path / "img")
    signer = KeySigner(load_private_key(keypair.with_suffix(".key"), b"pass phrase"))
    sign_and_attach(layout, image, signer, SLSA_PROVENANCE_V1)
    return f"oci:{layout.path}:latest"


def test_verify_image_with_key(tmp_path: Path, keypair: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref = _signed_layout(tmp_path, keypair)
    assert (
        main(["verify-image", ref, "--key", str(keypair.with_suffix(".pub")), "--require", "provenance"]) == 0
    )
    out = capsys.readouterr().out
    assert out.startswith(SLSA_PROVENANCE_V1 + "\tsha256:")
    assert main(["verify-image", ref, "--key", str(keypair.with_suffix(".pub")), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [v["predicateType"] for v in document["verified"]] == [SLSA_PROVENANCE_V1]


@pytest.mark.parametrize(
    "case",
    [
        (["--require", "provenance,sbom"], errors.EXIT_MISSING_ATTESTATION, "required sbom attestation"),
        (["--require", "vex"], errors.EXIT_USAGE, "unknown attestation"),
        (["--certificate-identity", "x@example.com"], errors.EXIT_USAGE, "excludes"),
    ],
)
def test_verify_image_failures(
    tmp_path: Path, keypair: Path, capsys: pytest.CaptureFixture[str], case: tuple[list[str], int, str]
) -> None:
    extra, code, message = case
    ref = _signed_layout(tmp_path, keypair)
    assert main(["verify-image", ref, "--key", str(keypair.with_suffix(".pub")), *extra]) == code
    assert message in capsys.readouterr().err


def test_verify_image_with_another_key(
    tmp_path: Path, keypair: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ref = _signed_layout(tmp_path, keypair)
    assert main(["keygen", str(tmp_path / "other")]) == 0
    assert main(["verify-image", ref, "--key", str(tmp_path / "other.pub")]) == errors.EXIT_UNTRUSTED_SIGNER
    assert "wrong key" in capsys.readouterr().err


def test_verify_image_needs_a_trust_policy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify-image", "oci:/nonexistent"]) == errors.EXIT_USAGE
    assert "say whom to trust" in capsys.readouterr().err
    assert main(["verify-image", "oci:/x", "--certificate-identity", "a@b"]) == errors.EXIT_USAGE
    assert "--certificate-oidc-issuer" in capsys.readouterr().err


def test_verify_image_keyless_with_a_trusted_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sigstore.oidc import IdentityToken

    from repro.attest.sign import KeylessSigner

    double = LocalSigstore()
    root = double.write_trusted_root(tmp_path / "trusted_root.json")
    layout, image = make_image(tmp_path / "img")
    signer = KeylessSigner(double.signing_context(), IdentityToken(double.identity_token("ci@example.com")))
    sign_and_attach(layout, image, signer, CYCLONEDX_BOM)
    sign_and_attach(layout, image, signer, SLSA_PROVENANCE_V1, about=Digest.of(b"elsewhere"))
    base = [
        "verify-image",
        f"oci:{layout.path}",
        "--trusted-root",
        str(root),
        "--certificate-oidc-issuer",
        ISSUER,
    ]
    assert main([*base, "--certificate-identity", "ci@example.com", "--require", "sbom"]) == 0
    assert main([*base, "--certificate-identity-regexp", ".*@example.com", "--require", "sbom"]) == 0
    capsys.readouterr()
    assert main([*base, "--certificate-identity", "ci@example.com", "--require", "provenance"]) == (
        errors.EXIT_SUBJECT_MISMATCH
    )
    assert main([*base, "--certificate-identity", "someone@example.com"]) == errors.EXIT_UNTRUSTED_SIGNER
    err = capsys.readouterr().err
    assert "subject mismatch" in err
    assert "wrong identity" in err
