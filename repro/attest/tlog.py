"""Transparency log entries for key-signed bundles: logged in a Rekor v1 log, and verified.

``repro release --tlog URL`` uploads each signed DSSE envelope to the log at ``URL`` as
Rekor v1's API takes it (``POST /api/v1/log/entries`` with a ``dsse`` 0.0.1 entry whose
verifier is the signing public key, PEM then base64, as sigstore-python and cosign send
them), and puts the entry the log returns into the bundle's
``verificationMaterial.tlogEntries``: ``logIndex``, ``logId``, ``kindVersion``,
``integratedTime``, ``inclusionPromise`` (the signed entry timestamp), ``inclusionProof``
(with the signed checkpoint) and ``canonicalizedBody``. Consumers that demand a log entry
(sigstore-js and cosign by default) then accept the key-signed bundle.

Before it is used, the answer is checked: the logged body must be the envelope's
(payload digest, signature, verifier) and its proofs must verify under the log's own
public key (``GET /api/v1/log/publicKey``), so a broken or lying log fails the signing,
not the consumer.

Verification (:func:`verify_log_entry`) is sigstore-python's for the proofs (Merkle
inclusion, the checkpoint's signature, the signed entry timestamp, all with the keys of a
trusted root) plus the body check above, which sigstore-python does only for
certificates.

    log = RekorLog("https://rekor.example")
    entry = log.upload(envelope, public_key)        # the bundle's tlogEntries[] item
    verify_log_entry(entry, envelope, public_key, trusted_root)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from repro.attest import keys
from repro.attest.dsse import Envelope
from repro.errors import AttestationError, TransparencyLogError, UsageError

if TYPE_CHECKING:
    from sigstore._internal.trust import RekorKeyring
    from sigstore.models import TrustedRoot

logger = logging.getLogger(__name__)

ENTRIES_PATH: Final = "/api/v1/log/entries"
PUBLIC_KEY_PATH: Final = "/api/v1/log/publicKey"
DSSE_KIND: Final = "dsse"
DSSE_VERSION: Final = "0.0.1"
#: Seconds to wait for the log to connect or answer.
DEFAULT_TIMEOUT: Final = 30.0
#: Larger answers from a log are refused.
MAX_ANSWER: Final = 4 * 1024 * 1024


def log_url(text: str) -> str:
    """A ``--tlog`` URL checked: ``http(s)://HOST[:PORT][/PATH]``, without a trailing ``/``."""
    parts = urlsplit(text.strip())
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
        raise UsageError(
            f"--tlog {text!r}: expected the base URL of a Rekor log, https://HOST[:PORT][/PATH]",
            hint="for example --tlog https://rekor.sigstore.dev",
        )
    return text.strip().rstrip("/")


def _verifier(public_key: ec.EllipticCurvePublicKey) -> str:
    """How Rekor's dsse type names a verifier: the PEM, base64-encoded."""
    return base64.b64encode(keys.public_pem(public_key)).decode()


def proposed_dsse_entry(envelope: Envelope, public_key: ec.EllipticCurvePublicKey) -> dict[str, Any]:
    """The body of ``POST /api/v1/log/entries`` for a DSSE envelope signed by ``public_key``."""
    return {
        "apiVersion": DSSE_VERSION,
        "kind": DSSE_KIND,
        "spec": {
            "proposedContent": {
                "envelope": json.dumps(envelope.to_json(), separators=(",", ":")),
                "verifiers": [_verifier(public_key)],
            }
        },
    }


def bundle_entry(answer: Mapping[str, Any]) -> dict[str, Any]:
    """Rekor v1's answer (``{uuid: entry}``) as a bundle's ``tlogEntries[]`` item (protobuf JSON)."""
    if len(answer) != 1:
        raise ValueError(f"expected one entry in the log's answer, got {len(answer)}")
    [entry] = answer.values()
    body = base64.b64decode(entry["body"], validate=True)
    document = json.loads(body)
    proof = entry["verification"]["inclusionProof"]
    return {
        "logIndex": str(int(entry["logIndex"])),
        "logId": {"keyId": base64.b64encode(bytes.fromhex(entry["logID"])).decode()},
        "kindVersion": {"kind": str(document["kind"]), "version": str(document["apiVersion"])},
        "integratedTime": str(int(entry["integratedTime"])),
        "inclusionPromise": {"signedEntryTimestamp": str(entry["verification"]["signedEntryTimestamp"])},
        "inclusionProof": {
            "logIndex": str(int(proof["logIndex"])),
            "rootHash": base64.b64encode(bytes.fromhex(proof["rootHash"])).decode(),
            "treeSize": str(int(proof["treeSize"])),
            "hashes": [base64.b64encode(bytes.fromhex(h)).decode() for h in proof["hashes"]],
            "checkpoint": {"envelope": str(proof["checkpoint"])},
        },
        "canonicalizedBody": base64.b64encode(body).decode(),
    }


class RekorLog:
    """A Rekor v1 transparency log at ``url`` that key-signed envelopes are logged in."""

    def __init__(
        self, url: str, *, timeout: float = DEFAULT_TIMEOUT, session: requests.Session | None = None
    ) -> None:
        self.url = log_url(url)
        self._timeout = timeout
        self._session = session or requests.Session()
        self._keyring: RekorKeyring | None = None

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            response = self._session.request(method, self.url + path, timeout=self._timeout, **kwargs)
        except requests.RequestException as exc:
            raise AttestationError(
                f"transparency log {self.url}: cannot reach it: {exc}",
                hint="check --tlog (the log's base URL) and the network; or sign without --tlog",
            ) from exc
        if len(response.content) > MAX_ANSWER:
            raise AttestationError(
                f"transparency log {self.url}: answer of {len(response.content)} bytes refused"
            )
        return response

    def keyring(self) -> RekorKeyring:
        """The log's own public key (``GET /api/v1/log/publicKey``), to check its answers with."""
        if self._keyring is None:
            from sigstore._internal.trust import Keyring, RekorKeyring
            from sigstore_models.common import v1 as common_v1

            response = self._request("GET", PUBLIC_KEY_PATH)
            try:
                response.raise_for_status()
                key = serialization.load_pem_public_key(response.content)
            except (requests.HTTPError, ValueError) as exc:
                raise AttestationError(f"transparency log {self.url}: no usable public key: {exc}") from exc
            if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
                raise AttestationError(
                    f"transparency log {self.url}: only ECDSA P-256 log keys are supported"
                )
            public = common_v1.PublicKey(
                raw_bytes=base64.b64encode(keys.public_der(key)),
                key_details=common_v1.PublicKeyDetails.PKIX_ECDSA_P256_SHA_256,
            )
            self._keyring = RekorKeyring(Keyring([public]))
        return self._keyring

    def upload(self, envelope: Envelope, public_key: ec.EllipticCurvePublicKey) -> dict[str, Any]:
        """Log ``envelope``; the bundle's ``tlogEntries[]`` item for it, checked (see the module)."""
        response = self._request("POST", ENTRIES_PATH, json=proposed_dsse_entry(envelope, public_key))
        if response.status_code != 201:
            raise AttestationError(
                f"transparency log {self.url}: the entry was refused: HTTP {response.status_code} "
                f"{response.text[:300].strip()}"
            )
        try:
            entry = bundle_entry(response.json())
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise AttestationError(f"transparency log {self.url}: unexpected answer: {exc}") from exc
        try:
            check_entry(entry, envelope, public_key, self.keyring())
        except TransparencyLogError as exc:
            raise AttestationError(
                f"transparency log {self.url}: its answer does not check out: {exc.message}",
                hint="the log is broken or not a Rekor v1 log; nothing was signed with it",
            ) from exc
        logger.info("logged in %s at index %s", self.url, entry["logIndex"])
        return entry


def check_body(entry: Mapping[str, Any], envelope: Envelope, public_key: ec.EllipticCurvePublicKey) -> None:
    """The entry's logged body is this envelope, signed by this key (``dsse`` 0.0.1)."""
    kind_version = entry.get("kindVersion") or {}
    if (kind_version.get("kind"), kind_version.get("version")) != (DSSE_KIND, DSSE_VERSION):
        raise TransparencyLogError(
            f"log entry of kind {kind_version.get('kind')}/{kind_version.get('version')}; "
            f"only {DSSE_KIND}/{DSSE_VERSION} entries are accepted for key-signed bundles"
        )
    try:
        body = json.loads(base64.b64decode(str(entry.get("canonicalizedBody", "")), validate=True))
        spec = body["spec"]
        payload_hash = spec["payloadHash"]
        signatures = spec["signatures"]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise TransparencyLogError(f"log entry body unreadable: {exc}") from exc
    if (body.get("kind"), body.get("apiVersion")) != (DSSE_KIND, DSSE_VERSION):
        raise TransparencyLogError("log entry body: its kind/version is not the entry's")
    if payload_hash != {"algorithm": "sha256", "value": hashlib.sha256(envelope.payload).hexdigest()}:
        raise TransparencyLogError("log entry body: the logged payload digest is not this statement's")
    if not isinstance(signatures, list) or len(signatures) != 1 or len(envelope.signatures) != 1:
        raise TransparencyLogError("log entry body: expected exactly one signature")
    logged = signatures[0]
    if (
        not isinstance(logged, Mapping)
        or logged.get("signature") != base64.b64encode(envelope.signatures[0].sig).decode()
    ):
        raise TransparencyLogError("log entry body: the logged signature is not this bundle's")
    try:
        verifier = serialization.load_pem_public_key(
            base64.b64decode(str(logged.get("verifier")), validate=True)
        )
    except (ValueError, binascii.Error) as exc:
        raise TransparencyLogError(f"log entry body: the logged verifier is not a public key: {exc}") from exc
    if not isinstance(verifier, ec.EllipticCurvePublicKey) or keys.public_der(verifier) != keys.public_der(
        public_key
    ):
        raise TransparencyLogError("log entry body: the logged verifier is not the signing key")


def check_entry(
    entry: Mapping[str, Any],
    envelope: Envelope,
    public_key: ec.EllipticCurvePublicKey,
    keyring: RekorKeyring,
) -> None:
    """The body (:func:`check_body`) and the proofs, with sigstore-python's checks: the
    Merkle inclusion proof, the checkpoint signed by a key of ``keyring``, and the signed
    entry timestamp (required here: repro's entries always carry one)."""
    from pydantic import ValidationError
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import InvalidBundle, TransparencyLogEntry
    from sigstore_models.rekor.v1 import TransparencyLogEntry as EntryModel

    check_body(entry, envelope, public_key)
    if not (entry.get("inclusionPromise") or {}).get("signedEntryTimestamp"):
        raise TransparencyLogError("log entry has no signed entry timestamp (inclusionPromise)")
    try:
        parsed = TransparencyLogEntry(EntryModel.from_dict(dict(entry)))
        parsed._verify(keyring)
    except (InvalidBundle, ValidationError, ValueError) as exc:
        raise TransparencyLogError(f"log entry malformed: {exc}") from exc
    except SigstoreError as exc:
        raise TransparencyLogError(f"log entry does not verify: {exc}") from exc


def verify_log_entry(
    entry: Mapping[str, Any],
    envelope: Envelope,
    public_key: ec.EllipticCurvePublicKey,
    trusted_root: TrustedRoot,
) -> None:
    """Verify one ``tlogEntries[]`` item of a key-signed bundle against the logs of ``trusted_root``."""
    from sigstore._internal.trust import KeyringPurpose
    from sigstore.errors import Error as SigstoreError

    try:
        keyring = trusted_root.rekor_keyring(KeyringPurpose.VERIFY)
    except SigstoreError as exc:
        raise TransparencyLogError(f"the trusted root names no transparency log: {exc}") from exc
    check_entry(entry, envelope, public_key, keyring)


__all__ = [
    "DSSE_KIND",
    "DSSE_VERSION",
    "RekorLog",
    "bundle_entry",
    "check_body",
    "check_entry",
    "log_url",
    "proposed_dsse_entry",
    "verify_log_entry",
]
