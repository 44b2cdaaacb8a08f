"""TEST DOUBLE of a Sigstore deployment, for tests only: never a trust anchor.

Keyless signing needs an OIDC provider, Fulcio (a CA that issues a 10-minute certificate
for an identity token, with an embedded SCT from a CT log) and Rekor (a transparency
log). None of the public ones is reachable from the test machines, so
:class:`LocalSigstore` plays all of them in-process, with keys made at start-up:

- an OIDC issuer that signs JWT identity tokens (ES256);
- a Fulcio stand-in (:class:`DoubleFulcio`): checks the token's signature, audience and
  expiry and the CSR's proof of possession, and issues a certificate shaped like
  Fulcio's (empty subject, SAN = the identity, code-signing EKU, OIDC issuer extensions
  1.3.6.1.4.1.57264.1.1 and .1.8) with a precertificate SCT signed by its CT log key;
- a Rekor v1 stand-in (:class:`DoubleRekor`): checks the DSSE signature against the
  certificate, appends the ``dsse/0.0.1`` entry to an RFC 6962 Merkle tree, and answers
  with an inclusion proof, a signed checkpoint and a signed entry timestamp.

It is injected through ``sigstore.sign.SigningContext(fulcio=..., rekor=...,
trusted_root=...)`` and trusted through the ``trusted_root.json`` it writes; what it
signs is then checked by sigstore's real ``Verifier``, unmodified. No sockets are opened.

    double = LocalSigstore()
    token = double.identity_token("dev@example.com")
    with double.signing_context().signer(IdentityToken(token)) as signer: ...
    double.write_trusted_root(tmp_path / "trusted_root.json")
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import struct
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Final

import jwt
import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sigstore._internal.fulcio.client import (
    FulcioCertificateSigningResponse,
    FulcioClient,
    FulcioClientError,
    FulcioSigningCert,
)
from sigstore._internal.rekor import EntryRequestBody
from sigstore._internal.rekor.client import RekorClient
from sigstore.models import TransparencyLogEntry, TrustedRoot
from sigstore.oidc import IdentityToken
from sigstore.sign import SigningContext

from devtools.attest_double import merkle

#: Every name the double uses says it is a test double; .invalid never resolves.
ISSUER: Final = "https://oidc.sigstore-test-double.invalid"
FULCIO_URL: Final = "https://fulcio.sigstore-test-double.invalid"
REKOR_URL: Final = "https://rekor.sigstore-test-double.invalid"
LOG_ORIGIN: Final = "rekor.sigstore-test-double.invalid - 1"
AUDIENCE: Final = "sigstore"
CERT_LIFETIME: Final = datetime.timedelta(minutes=10)

_OIDC_ISSUER_V1 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
_OIDC_ISSUER_V2 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
_SCT_LIST = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der_utf8(text: str) -> bytes:
    data = text.encode()
    return b"\x0c" + _der_length(len(data)) + data


def _der_octet_string(data: bytes) -> bytes:
    return b"\x04" + _der_length(len(data)) + data


def _spki(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _key_id(key: ec.EllipticCurvePublicKey) -> bytes:
    return hashlib.sha256(_spki(key)).digest()


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class LocalSigstore:
    """An OIDC issuer, a CA with a CT log, and a transparency log, all for tests."""

    def __init__(self) -> None:
        self.oidc_key = ec.generate_private_key(ec.SECP256R1())
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ct_key = ec.generate_private_key(ec.SECP256R1())
        self.log_key = ec.generate_private_key(ec.SECP256R1())
        self.created = _now() - datetime.timedelta(days=1)
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sigstore test double"),
                x509.NameAttribute(NameOID.COMMON_NAME, "repro tests: Fulcio test double root (not trusted)"),
            ]
        )
        self.ca_cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.created)
            .not_valid_after(self.created + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.ca_key.public_key()), critical=False
            )
            .sign(self.ca_key, hashes.SHA256())
        )
        self.fulcio = DoubleFulcio(self)
        self.rekor = DoubleRekor(self)

    # -- OIDC -------------------------------------------------------------------------

    def identity_token(
        self, identity: str, *, issuer: str = ISSUER, lifetime: int = 300, audience: str = AUDIENCE
    ) -> str:
        """A signed JWT for ``identity`` (the ``sub`` and, for an address, ``email`` claim)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": issuer,
            "sub": identity,
            "aud": audience,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
        }
        if "@" in identity:
            claims.update(email=identity, email_verified=True)
        return jwt.encode(claims, self.oidc_key, algorithm="ES256")

    def check_token(self, token: IdentityToken) -> dict[str, Any]:
        """What Fulcio does with a token: verify it was issued by the (double's) provider."""
        try:
            claims: dict[str, Any] = jwt.decode(
                str(token), self.oidc_key.public_key(), algorithms=["ES256"], audience=AUDIENCE, issuer=ISSUER
            )
        except jwt.PyJWTError as exc:
            raise FulcioClientError(f"identity token refused by the Fulcio test double: {exc}") from exc
        return claims

    # -- trust ------------------------------------------------------------------------

    def _tlog(self, key: ec.EllipticCurvePrivateKey, url: str) -> dict[str, Any]:
        public = key.public_key()
        return {
            "baseUrl": url,
            "hashAlgorithm": "SHA2_256",
            "publicKey": {
                "rawBytes": base64.b64encode(_spki(public)).decode(),
                "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                "validFor": {"start": self.created.strftime("%Y-%m-%dT%H:%M:%SZ")},
            },
            "logId": {"keyId": base64.b64encode(_key_id(public)).decode()},
        }

    def trusted_root_json(self) -> dict[str, Any]:
        """The ``trusted_root.json`` that makes sigstore's Verifier trust this double."""
        return {
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [self._tlog(self.log_key, REKOR_URL)],
            "certificateAuthorities": [
                {
                    "subject": {"organization": "sigstore test double", "commonName": "Fulcio test double"},
                    "uri": FULCIO_URL,
                    "certChain": {
                        "certificates": [
                            {
                                "rawBytes": base64.b64encode(
                                    self.ca_cert.public_bytes(serialization.Encoding.DER)
                                ).decode()
                            }
                        ]
                    },
                    "validFor": {"start": self.created.strftime("%Y-%m-%dT%H:%M:%SZ")},
                }
            ],
            "ctlogs": [self._tlog(self.ct_key, "https://ctfe.sigstore-test-double.invalid")],
            "timestampAuthorities": [],
        }

    def write_trusted_root(self, path: Path) -> Path:
        path.write_text(json.dumps(self.trusted_root_json(), indent=2))
        return path

    def trusted_root(self) -> TrustedRoot:
        from sigstore_models.trustroot import v1 as trustroot_v1

        return TrustedRoot(trustroot_v1.TrustedRoot.from_json(json.dumps(self.trusted_root_json())))

    def signing_context(self) -> SigningContext:
        """A SigningContext that signs with this double (inject it into KeylessSigner)."""
        return SigningContext(fulcio=self.fulcio, rekor=self.rekor, trusted_root=self.trusted_root())

    # -- certificates -------------------------------------------------------------------

    def issue(self, csr: x509.CertificateSigningRequest, claims: dict[str, Any]) -> x509.Certificate:
        """A Fulcio-shaped leaf certificate for the CSR's key, with an embedded SCT."""
        if not csr.is_signature_valid:
            raise FulcioClientError("CSR signature invalid: no proof of possession")
        public_key = csr.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise FulcioClientError("the Fulcio test double only issues for ECDSA keys")
        identity = str(claims.get("email") or claims["sub"])
        san: x509.GeneralName = (
            x509.RFC822Name(identity) if "@" in identity else x509.UniformResourceIdentifier(identity)
        )
        # Whole seconds: X.509 times and the SCT's millisecond time stay exact.
        now = _now().replace(microsecond=0)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.ca_cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + CERT_LIFETIME)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca_key.public_key()), critical=False
            )
            .add_extension(x509.SubjectAlternativeName([san]), critical=True)
            .add_extension(
                x509.UnrecognizedExtension(_OIDC_ISSUER_V1, str(claims["iss"]).encode()), critical=False
            )
            .add_extension(
                x509.UnrecognizedExtension(_OIDC_ISSUER_V2, _der_utf8(str(claims["iss"]))), critical=False
            )
        )
        precert = builder.sign(self.ca_key, hashes.SHA256())
        sct = self._sct(precert.tbs_certificate_bytes, timestamp_ms=int(now.timestamp()) * 1000)
        certificate = builder.add_extension(
            x509.UnrecognizedExtension(_SCT_LIST, _der_octet_string(sct)), critical=False
        ).sign(self.ca_key, hashes.SHA256())
        if certificate.tbs_precertificate_bytes != precert.tbs_certificate_bytes:
            raise AssertionError("test double bug: the SCT does not cover the certificate's TBS")
        return certificate

    def _sct(self, tbs: bytes, *, timestamp_ms: int) -> bytes:
        """A TLS-encoded SignedCertificateTimestampList with one precert SCT (RFC 6962 3.2)."""
        issuer_key_hash = _key_id(self.ca_key.public_key())
        signed_entry = issuer_key_hash + struct.pack("!I", len(tbs))[1:] + tbs
        extensions = b""
        signed = (
            struct.pack("!BBQH", 0, 0, timestamp_ms, 1)
            + signed_entry
            + struct.pack("!H", len(extensions))
            + extensions
        )
        signature = self.ct_key.sign(signed, ec.ECDSA(hashes.SHA256()))
        sct = (
            struct.pack("!B", 0)
            + _key_id(self.ct_key.public_key())
            + struct.pack("!Q", timestamp_ms)
            + struct.pack("!H", len(extensions))
            + extensions
            + struct.pack("!BBH", 4, 3, len(signature))  # sha256, ecdsa
            + signature
        )
        entry = struct.pack("!H", len(sct)) + sct
        return struct.pack("!H", len(entry)) + entry


class _DoubleSigningCert(FulcioSigningCert):
    def __init__(self, double: LocalSigstore) -> None:
        super().__init__(f"{FULCIO_URL}/api/v2/signingCert", session=double.fulcio.session)
        self._double = double

    def post(
        self, req: x509.CertificateSigningRequest, identity: IdentityToken
    ) -> FulcioCertificateSigningResponse:
        claims = self._double.check_token(identity)
        return FulcioCertificateSigningResponse(self._double.issue(req, claims), [self._double.ca_cert])


class DoubleFulcio(FulcioClient):
    """Fulcio TEST DOUBLE: certificates from :class:`LocalSigstore`, no HTTP."""

    def __init__(self, double: LocalSigstore) -> None:
        super().__init__(FULCIO_URL)
        self._double = double

    @property
    def signing_cert(self) -> FulcioSigningCert:
        return _DoubleSigningCert(self._double)


class DoubleRekor(RekorClient):
    """Rekor v1 TEST DOUBLE: an in-memory Merkle tree of ``dsse/0.0.1`` entries, no HTTP."""

    def __init__(self, double: LocalSigstore) -> None:
        super().__init__(REKOR_URL)
        self._double = double
        self._leaves: list[bytes] = []
        self.bodies: list[bytes] = []
        self._lock = threading.Lock()

    @property
    def log_id(self) -> bytes:
        return _key_id(self._double.log_key.public_key())

    def create_entry(self, request: EntryRequestBody) -> TransparencyLogEntry:
        return TransparencyLogEntry._from_v1_response(self.append(dict(request)))

    def append(self, proposed: dict[str, Any]) -> dict[str, Any]:
        """Log a proposed ``dsse`` entry; Rekor v1's answer to ``POST /api/v1/log/entries``.

        Raises ValueError for an entry it refuses (unsupported kind, bad signature).
        """
        body = self._canonical_body(proposed)
        integrated_time = int(time.time())
        with self._lock:
            index = len(self._leaves)
            self._leaves.append(merkle.leaf_hash(body))
            self.bodies.append(body)
            leaves = list(self._leaves)
        tree_root = merkle.root(leaves)
        proof = merkle.inclusion_proof(index, leaves)
        log_key = self._double.log_key
        body_b64 = base64.b64encode(body).decode()
        set_payload = rfc8785.dumps(
            {
                "body": body_b64,
                "integratedTime": integrated_time,
                "logID": self.log_id.hex(),
                "logIndex": index,
            }
        )
        signed_entry_timestamp = log_key.sign(set_payload, ec.ECDSA(hashes.SHA256()))
        return {
            uuid.uuid4().hex: {
                "body": body_b64,
                "integratedTime": integrated_time,
                "logID": self.log_id.hex(),
                "logIndex": index,
                "verification": {
                    "inclusionProof": {
                        "logIndex": index,
                        "rootHash": tree_root.hex(),
                        "treeSize": len(leaves),
                        "hashes": [h.hex() for h in proof],
                        "checkpoint": self._checkpoint(len(leaves), tree_root),
                    },
                    "signedEntryTimestamp": base64.b64encode(signed_entry_timestamp).decode(),
                },
            }
        }

    def _checkpoint(self, size: int, tree_root: bytes) -> str:
        """A signed note: origin, size, root hash; signed by the log key."""
        note = f"{LOG_ORIGIN}\n{size}\n{base64.b64encode(tree_root).decode()}\n"
        signature = self._double.log_key.sign(note.encode(), ec.ECDSA(hashes.SHA256()))
        stamp = base64.b64encode(self.log_id[:4] + signature).decode()
        return f"{note}\n\u2014 {LOG_ORIGIN.split()[0]} {stamp}\n"

    def _canonical_body(self, request: dict[str, Any]) -> bytes:
        """What Rekor stores for a proposed DSSE entry, after checking its signature.

        The verifier is a certificate (keyless) or a public key (key-based signing), each
        PEM, base64-encoded, as Rekor's ``dsse`` type takes them.
        """
        if request.get("kind") != "dsse" or request.get("apiVersion", "0.0.1") != "0.0.1":
            raise ValueError("the Rekor test double only accepts dsse 0.0.1 entries")
        content = request["spec"]["proposedContent"]
        envelope = json.loads(content["envelope"])
        verifiers = content["verifiers"]
        if not isinstance(verifiers, list) or len(verifiers) != 1:
            raise ValueError("the Rekor test double takes exactly one verifier")
        verifier_b64 = verifiers[0]
        pem = base64.b64decode(verifier_b64)
        public_key: object
        if b"CERTIFICATE" in pem:
            public_key = x509.load_pem_x509_certificate(pem).public_key()
        else:
            public_key = serialization.load_pem_public_key(pem)
        payload = base64.b64decode(envelope["payload"])
        payload_type = envelope["payloadType"]
        pae = b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type.encode(), len(payload), payload)
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise ValueError("the Rekor test double only accepts ECDSA verifiers")
        signatures = []
        for signature in envelope["signatures"]:
            public_key.verify(base64.b64decode(signature["sig"]), pae, ec.ECDSA(hashes.SHA256()))
            signatures.append({"signature": signature["sig"], "verifier": verifier_b64})
        body = {
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {
                "envelopeHash": {
                    "algorithm": "sha256",
                    "value": hashlib.sha256(content["envelope"].encode()).hexdigest(),
                },
                "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
                "signatures": sorted(signatures, key=lambda s: s["signature"]),
            },
        }
        return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
