"""repro's bundles verified by sigstore-js (``@sigstore/verify``), a verifier nobody here
wrote: key-based bundles with trust material built from the public key, keyless bundles
against the Sigstore test double's trusted root. And the forgeries it must refuse.

The packages are installed by ``make test`` into ``tests/js/node_modules`` (``npm ci``
from the committed lock file); ``tests/js/verify.js`` is the consumer.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sigstore.oidc import IdentityToken

from devtools.attest_double import ISSUER, LocalSigstore
from devtools.attest_double.rekor_http import RekorServer
from repro.attest.keys import generate_key
from repro.attest.sign import KeylessSigner, KeySigner
from repro.attest.statements import SLSA_PROVENANCE_V1, Statement, Subject
from repro.attest.tlog import RekorLog
from repro.digest import Digest

JS = Path(__file__).resolve().parents[2] / "js"
STATEMENT = Statement(
    (Subject("registry.example/app", Digest.of(b"image manifest")),), SLSA_PROVENANCE_V1, {"ci": "test"}
)


@pytest.fixture(scope="module")
def node() -> str:
    found = shutil.which("node")
    if found is None or not (JS / "node_modules" / "@sigstore" / "verify").is_dir():
        reason = "sigstore-js is not installed: run 'make test' (npm ci in tests/js)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return found


def sigstore_js(node: str, tmp_path: Path, bundle: bytes, **request: Any) -> dict[str, Any]:
    (tmp_path / "bundle.json").write_bytes(bundle)
    (tmp_path / "request.json").write_text(json.dumps({"bundle": str(tmp_path / "bundle.json"), **request}))
    completed = subprocess.run(
        [node, str(JS / "verify.js"), str(tmp_path / "request.json")],
        cwd=JS,
        capture_output=True,
        timeout=60,
        check=False,
    )
    result: dict[str, Any] = json.loads(completed.stdout)
    assert completed.returncode == (0 if result["ok"] else 1), completed.stderr
    return result


def _pem(signer_key: ec.EllipticCurvePrivateKey) -> str:
    return (
        signer_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def test_key_based_bundles_verify_with_sigstore_js(node: str, tmp_path: Path) -> None:
    key = generate_key()
    signer = KeySigner(key)
    bundle = signer.sign(STATEMENT)
    # What a consumer passes: the public key under its hint, and no log or timestamp
    # thresholds (a key-based bundle without --tlog has neither).
    request = {"keys": {signer.hint: _pem(key)}, "tlogThreshold": 0, "ctlogThreshold": 0, "tsaThreshold": 0}
    assert sigstore_js(node, tmp_path, bundle, **request) == {"ok": True, "identity": None}

    # With sigstore-js's defaults (one transparency-log entry required) it is refused:
    # the README says which thresholds to pass.
    refused = sigstore_js(node, tmp_path, bundle, keys={signer.hint: _pem(key)})
    assert refused["ok"] is False
    assert "tlog" in refused["error"]

    # Another key under the bundle's hint: the signature does not verify.
    other = generate_key()
    forged_key = sigstore_js(node, tmp_path, bundle, **{**request, "keys": {signer.hint: _pem(other)}})
    assert forged_key["ok"] is False
    assert forged_key["code"] == "SIGNATURE_ERROR"

    # A changed statement: the signature does not verify.
    document = json.loads(bundle)
    payload = json.loads(base64.b64decode(document["dsseEnvelope"]["payload"]))
    payload["predicate"]["ci"] = "forged"
    document["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    tampered = sigstore_js(node, tmp_path, json.dumps(document).encode(), **request)
    assert tampered["ok"] is False
    assert tampered["code"] == "SIGNATURE_ERROR"


def test_key_based_bundles_logged_with_tlog_verify_with_sigstore_js_defaults(
    node: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    double = LocalSigstore()
    key = generate_key()
    with RekorServer(double) as rekor:
        signer = KeySigner(key, tlog=RekorLog(rekor.url))
        bundle = signer.sign(STATEMENT)
    assert len(double.rekor.bodies) == 1
    root = double.write_trusted_root(tmp_path / "trusted_root.json")
    # sigstore-js's defaults: tlogThreshold 1. The root names the log's key.
    request: dict[str, Any] = {"keys": {signer.hint: _pem(key)}, "trustedRoot": str(root)}
    assert sigstore_js(node, tmp_path, bundle, **request) == {"ok": True, "identity": None}
    assert sigstore_js(node, tmp_path, bundle, **request, tlogThreshold=1)["ok"] is True

    def forged(change: Any) -> bytes:
        document = json.loads(bundle)
        change(document["verificationMaterial"]["tlogEntries"][0])
        return json.dumps(document).encode()

    def flip(b64: str) -> str:
        raw = bytearray(base64.b64decode(b64))
        raw[-1] ^= 1
        return base64.b64encode(bytes(raw)).decode()

    # A changed signed entry timestamp, a changed logged body, a root without the log.
    bad_set = forged(
        lambda e: e["inclusionPromise"].update(
            signedEntryTimestamp=flip(e["inclusionPromise"]["signedEntryTimestamp"])
        )
    )
    assert sigstore_js(node, tmp_path, bad_set, **request)["code"] == "TLOG_INCLUSION_PROMISE_ERROR"

    def other_body(entry: dict[str, Any]) -> None:
        body = json.loads(base64.b64decode(entry["canonicalizedBody"]))
        body["spec"]["payloadHash"]["value"] = "0" * 64
        entry["canonicalizedBody"] = base64.b64encode(json.dumps(body).encode()).decode()

    assert sigstore_js(node, tmp_path, forged(other_body), **request)["ok"] is False
    other_root = LocalSigstore().write_trusted_root(tmp_path / "other_root.json")
    refused = sigstore_js(node, tmp_path, bundle, **{**request, "trustedRoot": str(other_root)})
    assert refused["ok"] is False


def test_keyless_bundles_verify_with_sigstore_js_against_the_test_double(
    node: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    double = LocalSigstore()
    token = IdentityToken(double.identity_token("release@example.com"))
    bundle = KeylessSigner(double.signing_context(), token).sign(STATEMENT)
    root = double.write_trusted_root(tmp_path / "trusted_root.json")
    policy = {"subjectAlternativeName": "release@example.com", "extensions": {"issuer": ISSUER}}
    # sigstore-js's defaults: one tlog entry and one SCT required.
    result = sigstore_js(node, tmp_path, bundle, trustedRoot=str(root), policy=policy)
    assert result["ok"] is True, result
    assert result["identity"]["subjectAlternativeName"] == "release@example.com"

    wrong = sigstore_js(
        node,
        tmp_path,
        bundle,
        trustedRoot=str(root),
        policy={**policy, "subjectAlternativeName": "mallory@example.com"},
    )
    assert wrong["ok"] is False
    # Another deployment's root does not vouch for this certificate.
    other = LocalSigstore().write_trusted_root(tmp_path / "other_root.json")
    untrusted = sigstore_js(node, tmp_path, bundle, trustedRoot=str(other), policy=policy)
    assert untrusted["ok"] is False
