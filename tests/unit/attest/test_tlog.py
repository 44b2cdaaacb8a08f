"""Transparency log entries of key-signed bundles: what a Rekor v1 log returns becomes the
bundle's entry, verifies with sigstore-python's checks against a trusted root naming the
log, and every forgery of it (body, signed entry timestamp, proof, another log's entry, no
entry when one is required) is refused by ``verify-image`` with exit 27.

The log is the in-process Rekor of ``devtools.attest_double`` (no sockets)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from devtools.attest_double import LocalSigstore
from repro.attest import dsse
from repro.attest.bundle import key_bundle, parse_bundle
from repro.attest.keys import generate_key, public_pem
from repro.attest.statements import IN_TOTO_PAYLOAD_TYPE, SLSA_PROVENANCE_V1
from repro.attest.tlog import bundle_entry, check_body, log_url, proposed_dsse_entry, verify_log_entry
from repro.attest.verify_image import KeyTrust, verify_bundle
from repro.cli import main
from repro.digest import Digest
from repro.errors import (
    EXIT_OK,
    EXIT_TLOG_INVALID,
    TransparencyLogError,
    UsageError,
)
from tests.unit.attest.helpers import attach, make_image, statement_for


@pytest.fixture(scope="module")
def double() -> LocalSigstore:
    return LocalSigstore()


def logged_bundle(double: LocalSigstore, key: ec.EllipticCurvePrivateKey, payload: bytes) -> bytes:
    """Sign ``payload``, log the envelope in the double's Rekor, and bundle both."""
    envelope = dsse.sign(payload, IN_TOTO_PAYLOAD_TYPE, key)
    answer = double.rekor.append(proposed_dsse_entry(envelope, key.public_key()))
    return key_bundle(envelope, key.public_key(), [bundle_entry(answer)])


def edit_entry(bundle: bytes, change: Any) -> bytes:
    document = json.loads(bundle)
    change(document["verificationMaterial"]["tlogEntries"][0])
    return json.dumps(document).encode()


def edit_body(entry: dict[str, Any], change: Any) -> None:
    body = json.loads(base64.b64decode(entry["canonicalizedBody"]))
    change(body)
    entry["canonicalizedBody"] = base64.b64encode(json.dumps(body).encode()).decode()


def flip(b64: str) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[-1] ^= 1
    return base64.b64encode(bytes(raw)).decode()


def test_the_proposed_entry_is_rekors_dsse_with_the_key_as_verifier() -> None:
    key = generate_key()
    envelope = dsse.sign(b"{}", IN_TOTO_PAYLOAD_TYPE, key)
    proposed = proposed_dsse_entry(envelope, key.public_key())
    assert proposed["kind"] == "dsse"
    assert proposed["apiVersion"] == "0.0.1"
    content = proposed["spec"]["proposedContent"]
    assert json.loads(content["envelope"]) == envelope.to_json()
    assert [base64.b64decode(v) for v in content["verifiers"]] == [public_pem(key.public_key())]


def test_a_logged_bundle_carries_the_entry_and_verifies(double: LocalSigstore) -> None:
    key = generate_key()
    statement = statement_for(Digest.of(b"image"), SLSA_PROVENANCE_V1)
    bundle = logged_bundle(double, key, statement.to_bytes())
    [entry] = json.loads(bundle)["verificationMaterial"]["tlogEntries"]
    assert set(entry) == {
        "logIndex",
        "logId",
        "kindVersion",
        "integratedTime",
        "inclusionPromise",
        "inclusionProof",
        "canonicalizedBody",
    }
    assert entry["kindVersion"] == {"kind": "dsse", "version": "0.0.1"}
    assert entry["inclusionProof"]["checkpoint"]["envelope"].startswith("rekor.sigstore-test-double.invalid")
    parsed = parse_bundle(bundle)
    assert parsed.tlog_entries == (entry,)
    verify_log_entry(entry, parsed.envelope, key.public_key(), double.trusted_root())

    trust = KeyTrust(key.public_key(), trusted_root=double.trusted_root(), require_tlog=True)
    verified, signer = verify_bundle(bundle, trust, statement.subjects[0].digest)
    assert verified.predicate_type == SLSA_PROVENANCE_V1
    assert signer.startswith("key ")


@pytest.mark.parametrize(
    ("forgery", "reason"),
    [
        (
            lambda e: e["inclusionPromise"].update(
                signedEntryTimestamp=flip(e["inclusionPromise"]["signedEntryTimestamp"])
            ),
            "SET",
        ),
        (lambda e: e.update(integratedTime=str(int(e["integratedTime"]) - 3600)), "SET"),
        (lambda e: e.update(logIndex=str(int(e["logIndex"]) + 1)), "SET"),
        (lambda e: e["inclusionProof"].update(rootHash=flip(e["inclusionProof"]["rootHash"])), "root hash"),
        (
            lambda e: e["inclusionProof"]["checkpoint"].update(
                envelope=e["inclusionProof"]["checkpoint"]["envelope"].replace("\n1\n", "\n7\n", 1)
            ),
            "checkpoint",
        ),
        (lambda e: e.pop("inclusionPromise"), "signed entry timestamp"),
        (lambda e: e.update(kindVersion={"kind": "hashedrekord", "version": "0.0.1"}), "kind"),
        (
            lambda e: edit_body(e, lambda b: b["spec"]["payloadHash"].update(value="0" * 64)),
            "payload digest",
        ),
        (
            lambda e: edit_body(
                e,
                lambda b: b["spec"]["signatures"][0].update(
                    signature=flip(b["spec"]["signatures"][0]["signature"])
                ),
            ),
            "signature",
        ),
    ],
)
def test_a_changed_log_entry_is_refused(double: LocalSigstore, forgery: Any, reason: str) -> None:
    key = generate_key()
    statement = statement_for(Digest.of(b"image"), SLSA_PROVENANCE_V1)
    # A fresh double per case would be slow; a one-entry tree keeps the checkpoint's size "1".
    fresh = LocalSigstore() if reason == "checkpoint" else double
    bundle = edit_entry(logged_bundle(fresh, key, statement.to_bytes()), forgery)
    trust = KeyTrust(key.public_key(), trusted_root=fresh.trusted_root())
    with pytest.raises(TransparencyLogError) as caught:
        verify_bundle(bundle, trust, statement.subjects[0].digest)
    assert caught.value.exit_code == EXIT_TLOG_INVALID
    assert reason.lower() in str(caught.value).lower() or "does not verify" in str(caught.value)


def test_a_body_logged_for_another_key_is_refused(double: LocalSigstore) -> None:
    key, other = generate_key(), generate_key()
    envelope = dsse.sign(b"{}", IN_TOTO_PAYLOAD_TYPE, key)
    entry = bundle_entry(double.rekor.append(proposed_dsse_entry(envelope, key.public_key())))
    with pytest.raises(TransparencyLogError, match="verifier is not the signing key"):
        check_body(entry, envelope, other.public_key())


def test_an_entry_of_a_log_the_root_does_not_name_is_refused(double: LocalSigstore) -> None:
    key = generate_key()
    statement = statement_for(Digest.of(b"image"), SLSA_PROVENANCE_V1)
    bundle = logged_bundle(LocalSigstore(), key, statement.to_bytes())
    trust = KeyTrust(key.public_key(), trusted_root=double.trusted_root())
    with pytest.raises(TransparencyLogError):
        verify_bundle(bundle, trust, statement.subjects[0].digest)


def test_log_urls_are_checked() -> None:
    assert log_url("https://rekor.example/") == "https://rekor.example"
    for bad in ("rekor.example", "ftp://rekor.example", "https://", "https://r.example/?x=1"):
        with pytest.raises(UsageError):
            log_url(bad)


def test_verify_image_requires_and_checks_log_entries(
    double: LocalSigstore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = generate_key()
    pub = tmp_path / "signing.pub"
    pub.write_bytes(public_pem(key.public_key()))
    root = double.write_trusted_root(tmp_path / "trusted_root.json")

    logged_layout, logged_image = make_image(tmp_path / "logged")
    statement = statement_for(logged_image.digest, SLSA_PROVENANCE_V1)
    attach(logged_layout, logged_image, logged_bundle(double, key, statement.to_bytes()), SLSA_PROVENANCE_V1)
    logged = f"oci:{tmp_path / 'logged'}:latest"
    args = ["--key", str(pub), "--trusted-root", str(root), "--require-tlog"]
    assert main(["verify-image", logged, *args]) == EXIT_OK

    unlogged_layout, unlogged_image = make_image(tmp_path / "unlogged")
    envelope = dsse.sign(
        statement_for(unlogged_image.digest, SLSA_PROVENANCE_V1).to_bytes(), IN_TOTO_PAYLOAD_TYPE, key
    )
    attach(unlogged_layout, unlogged_image, key_bundle(envelope, key.public_key()), SLSA_PROVENANCE_V1)
    unlogged = f"oci:{tmp_path / 'unlogged'}:latest"
    # Without --require-tlog a bundle without an entry verifies on its signature alone ...
    assert main(["verify-image", unlogged, "--key", str(pub), "--trusted-root", str(root)]) == EXIT_OK
    capsys.readouterr()
    # ... with it, it is refused.
    assert main(["verify-image", unlogged, *args, "--json"]) == EXIT_TLOG_INVALID
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] is False
    assert result["rejected"][0]["exitCode"] == EXIT_TLOG_INVALID

    forged_layout, forged_image = make_image(tmp_path / "forged")
    forged_statement = statement_for(forged_image.digest, SLSA_PROVENANCE_V1)
    forged = edit_entry(
        logged_bundle(double, key, forged_statement.to_bytes()),
        lambda e: e["inclusionPromise"].update(
            signedEntryTimestamp=flip(e["inclusionPromise"]["signedEntryTimestamp"])
        ),
    )
    attach(forged_layout, forged_image, forged, SLSA_PROVENANCE_V1)
    forged_ref = f"oci:{tmp_path / 'forged'}:latest"
    # A forged entry is refused whenever a trusted root is given, required or not ...
    assert (
        main(["verify-image", forged_ref, "--key", str(pub), "--trusted-root", str(root)])
        == EXIT_TLOG_INVALID
    )
    # ... and not looked at without one (no log key to check it with).
    assert main(["verify-image", forged_ref, "--key", str(pub)]) == EXIT_OK


def test_the_log_is_a_config_key_and_goes_with_key_signing_only(tmp_path: Path) -> None:
    from repro.build import BuildSpec
    from repro.config import Config, from_mapping
    from repro.errors import ConfigError
    from repro.release import ReleaseOptions, release

    assert from_mapping({"tlog": "https://rekor.example"}, base_dir=tmp_path, where="t").tlog == (
        "https://rekor.example"
    )
    with pytest.raises(ConfigError, match="tlog"):
        from_mapping({"tlog": "rekor.example"}, base_dir=tmp_path, where="t")
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    options = ReleaseOptions(
        BuildSpec(tmp_path), image="app:1", sign="keyless", tlog="https://rekor.example", workdir=tmp_path
    )
    with pytest.raises(UsageError, match="--tlog go with --sign key"):
        release(options, config=Config())
