"""DSSE (Dead Simple Signing Envelope) v1: the pre-authentication encoding and envelopes
signed with ECDSA P-256 / SHA-256.

The signature is over ``PAE(payloadType, payload)``, never over the JSON of the
envelope, so the envelope's serialisation does not matter.

    >>> pae("http://example.com/HelloWorld", b"hello world")
    b'DSSEv1 29 http://example.com/HelloWorld 11 hello world'
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from repro.errors import SignatureError, VerificationError


def pae(payload_type: str, payload: bytes) -> bytes:
    """The DSSE v1 pre-authentication encoding (lengths are byte counts)."""
    type_bytes = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(type_bytes), type_bytes, len(payload), payload)


@dataclass(frozen=True)
class Signature:
    """One signature of an envelope; ``keyid`` is an unauthenticated hint, often empty."""

    sig: bytes
    keyid: str = ""


@dataclass(frozen=True)
class Envelope:
    """A DSSE envelope: the payload, its type and the signatures over their PAE."""

    payload: bytes
    payload_type: str
    signatures: tuple[Signature, ...]

    def to_json(self) -> dict[str, Any]:
        signatures = []
        for signature in self.signatures:
            entry = {"sig": base64.b64encode(signature.sig).decode()}
            if signature.keyid:
                entry["keyid"] = signature.keyid
            signatures.append(entry)
        return {
            "payload": base64.b64encode(self.payload).decode(),
            "payloadType": self.payload_type,
            "signatures": signatures,
        }

    @classmethod
    def from_json(cls, obj: object) -> Envelope:
        """Validate an envelope object; raises VerificationError when malformed."""
        if not isinstance(obj, Mapping):
            raise VerificationError("DSSE envelope: expected a JSON object")
        payload_type = obj.get("payloadType")
        if not isinstance(payload_type, str) or not payload_type:
            raise VerificationError("DSSE envelope: 'payloadType' must be a non-empty string")
        payload = _b64(obj.get("payload"), "payload")
        raw_signatures = obj.get("signatures")
        if not isinstance(raw_signatures, list) or not raw_signatures:
            raise VerificationError("DSSE envelope: 'signatures' must be a non-empty list")
        signatures = []
        for raw in raw_signatures:
            if not isinstance(raw, Mapping):
                raise VerificationError("DSSE envelope: each signature must be an object")
            keyid = raw.get("keyid", "")
            if not isinstance(keyid, str):
                raise VerificationError("DSSE envelope: 'keyid' must be a string")
            signatures.append(Signature(_b64(raw.get("sig"), "sig"), keyid))
        return cls(payload, payload_type, tuple(signatures))


def _b64(value: object, name: str) -> bytes:
    if not isinstance(value, str):
        raise VerificationError(f"DSSE envelope: {name!r} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise VerificationError(f"DSSE envelope: {name!r} is not valid base64") from exc


def sign(payload: bytes, payload_type: str, key: ec.EllipticCurvePrivateKey, *, keyid: str = "") -> Envelope:
    """Sign ``payload`` with ECDSA over SHA-256 of its PAE."""
    signature = key.sign(pae(payload_type, payload), ec.ECDSA(hashes.SHA256()))
    return Envelope(payload, payload_type, (Signature(signature, keyid),))


def verify(envelope: Envelope, key: ec.EllipticCurvePublicKey) -> bytes:
    """The payload, if the envelope's one signature verifies with ``key``.

    More than one signature is refused rather than half-checked: repro and Sigstore write
    exactly one.
    """
    if len(envelope.signatures) != 1:
        raise VerificationError(f"DSSE envelope has {len(envelope.signatures)} signatures; expected 1")
    try:
        key.verify(
            envelope.signatures[0].sig,
            pae(envelope.payload_type, envelope.payload),
            ec.ECDSA(hashes.SHA256()),
        )
    except InvalidSignature as exc:
        raise SignatureError(
            "signature invalid: the signed statement or its envelope was changed after signing"
        ) from exc
    return envelope.payload
