"""Sigstore bundles v0.3 (``application/vnd.dev.sigstore.bundle.v0.3+json``) holding one
DSSE envelope.

Two kinds exist. A *keyless* bundle carries a short-lived certificate and a transparency
log entry; sigstore's own :class:`sigstore.models.Bundle` reads and verifies it. A
*key-based* bundle carries ``verificationMaterial.publicKey.hint`` (base64 of the
SHA-256 of the key's DER SubjectPublicKeyInfo), as cosign writes them for ``--key``, and
the transparency log entries of :mod:`repro.attest.tlog` when it was signed with
``--tlog`` (none otherwise).
sigstore-python cannot load those (its Bundle requires a certificate), so they are written
and parsed here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric import ec

from repro.attest import keys
from repro.attest.dsse import Envelope
from repro.attest.statements import canonical_json
from repro.errors import VerificationError

BUNDLE_V03: Final = "application/vnd.dev.sigstore.bundle.v0.3+json"
#: Media types a v0.3 bundle may declare (the second is the older spelling).
BUNDLE_V03_TYPES: Final = frozenset({BUNDLE_V03, "application/vnd.dev.sigstore.bundle+json;version=0.3"})
#: Bundles larger than this are refused before they are parsed.
MAX_BUNDLE_SIZE: Final = 64 * 1024 * 1024


def key_bundle(
    envelope: Envelope, public_key: ec.EllipticCurvePublicKey, tlog_entries: Sequence[Mapping[str, Any]] = ()
) -> bytes:
    """A key-based v0.3 bundle: the envelope, the key's hint and its log entries (if any)."""
    document = {
        "mediaType": BUNDLE_V03,
        "verificationMaterial": {
            "publicKey": {"hint": keys.key_hint(public_key)},
            "tlogEntries": [dict(entry) for entry in tlog_entries],
        },
        "dsseEnvelope": envelope.to_json(),
    }
    return canonical_json(document)


@dataclass(frozen=True)
class ParsedBundle:
    """A bundle read without verifying anything: which kind it is and its envelope."""

    data: bytes
    envelope: Envelope
    #: The key hint of a key-based bundle; None for a keyless one.
    hint: str | None
    #: ``verificationMaterial.tlogEntries`` as written (not verified).
    tlog_entries: tuple[Mapping[str, Any], ...] = field(default=())

    @property
    def keyless(self) -> bool:
        return self.hint is None


def parse_bundle(data: bytes) -> ParsedBundle:
    """Read a v0.3 bundle with a DSSE envelope; raises VerificationError when malformed."""
    if len(data) > MAX_BUNDLE_SIZE:
        raise VerificationError(f"bundle of {len(data)} bytes is larger than {MAX_BUNDLE_SIZE}")
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VerificationError(f"bundle is not JSON: {exc}") from exc
    if not isinstance(document, Mapping):
        raise VerificationError("bundle: expected a JSON object")
    media_type = document.get("mediaType")
    if media_type not in BUNDLE_V03_TYPES:
        raise VerificationError(f"bundle: unsupported media type {media_type!r} (expected {BUNDLE_V03})")
    material = document.get("verificationMaterial")
    if not isinstance(material, Mapping):
        raise VerificationError("bundle: missing 'verificationMaterial'")
    if "dsseEnvelope" not in document:
        raise VerificationError("bundle: no 'dsseEnvelope' (only DSSE attestations are accepted)")
    envelope = Envelope.from_json(document["dsseEnvelope"])
    entries = material.get("tlogEntries", [])
    if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
        raise VerificationError("bundle: 'tlogEntries' must be a list of objects")
    public_key = material.get("publicKey")
    if public_key is not None:
        hint = public_key.get("hint") if isinstance(public_key, Mapping) else None
        if not isinstance(hint, str) or not hint:
            raise VerificationError("bundle: 'publicKey.hint' must be a non-empty string")
        return ParsedBundle(data, envelope, hint, tuple(entries))
    if "certificate" in material or "x509CertificateChain" in material:
        return ParsedBundle(data, envelope, None, tuple(entries))
    raise VerificationError("bundle: neither a public key hint nor a certificate in 'verificationMaterial'")
