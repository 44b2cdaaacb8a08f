"""``repro verify-image``: find an image's signed attestations and verify them.

The image is a registry reference (its referrers come from the OCI 1.1 referrers API, or
the ``sha256-<hex>`` tag index where the registry has none) or an ``oci:DIR[:TAG]`` layout
(its referrers are the manifests in the layout whose ``subject`` is the image). For each
Sigstore bundle referrer:

1. the referrer manifest must name the image as its subject, and its layer must hash to
   its digest (both checked on fetch);
2. the bundle's signature must verify: with ``--key``, the bundle's key hint must be the
   key's and the DSSE signature must verify with it; keyless, sigstore's ``Verifier``
   checks the certificate chain against the trusted root, the SCT, the transparency log
   inclusion proof and promise, the identity and issuer, and the DSSE signature;
3. the payload must be an in-toto statement whose subjects include the image digest.

Attestations that fail are reported, not trusted. The image verifies when every
``require``-d predicate (or, without ``require``, at least one) has a verified attestation;
otherwise the most telling failure is raised, each with its own exit code.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from repro.attest import dsse, keys
from repro.attest.bundle import MAX_BUNDLE_SIZE, ParsedBundle, parse_bundle
from repro.attest.referrers import ANNOTATION_PREDICATE_TYPE, BUNDLE_ARTIFACT_TYPE
from repro.attest.statements import IN_TOTO_PAYLOAD_TYPE, PREDICATE_NAMES, Statement
from repro.digest import Digest
from repro.errors import (
    AttestationError,
    Error,
    MissingAttestationError,
    SignatureError,
    SubjectMismatchError,
    UntrustedSignerError,
    UsageError,
    VerificationError,
)
from repro.oci.models import Descriptor, Index, Manifest

if TYPE_CHECKING:
    from sigstore.models import TrustedRoot

    from repro.oci.layout import ImageLayout
    from repro.reference import ImageRef
    from repro.registry import RegistryClient

logger = logging.getLogger(__name__)

# OIDC issuer extensions of Fulcio certificates: the legacy raw-string one and the v2
# DER UTF8String one (https://github.com/sigstore/fulcio/blob/main/docs/oid-info.md).
_ISSUER_V1 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
_ISSUER_V2 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
_OTHERNAME = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.7")


# -- trust policies ----------------------------------------------------------------------


@dataclass(frozen=True)
class KeyTrust:
    """Trust bundles signed with this public key (``--key``)."""

    public_key: ec.EllipticCurvePublicKey

    @property
    def hint(self) -> str:
        return keys.key_hint(self.public_key)

    def describe(self) -> str:
        return f"key {self.hint}"


@dataclass(frozen=True)
class IdentityTrust:
    """Trust keyless bundles whose certificate names this identity and OIDC issuer."""

    issuer: str
    trusted_root: TrustedRoot
    identity: str | None = None
    identity_regexp: str | None = None

    def __post_init__(self) -> None:
        if (self.identity is None) == (self.identity_regexp is None):
            raise UsageError("give exactly one of --certificate-identity and --certificate-identity-regexp")
        if self.identity_regexp is not None:
            try:
                re.compile(self.identity_regexp)
            except re.error as exc:
                raise UsageError(f"--certificate-identity-regexp: invalid expression: {exc}") from exc

    def describe(self) -> str:
        who = self.identity if self.identity is not None else f"/{self.identity_regexp}/"
        return f"identity {who} from {self.issuer}"


TrustPolicy = KeyTrust | IdentityTrust


def load_trusted_root(path: Path | None = None, *, staging: bool = False) -> TrustedRoot:
    """A trusted root from a ``trusted_root.json`` file, else Sigstore's (via TUF, online)."""
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import ClientTrustConfig, TrustedRoot

    try:
        if path is not None:
            return TrustedRoot.from_file(str(path))
        config = ClientTrustConfig.staging() if staging else ClientTrustConfig.production()
        return config.trusted_root
    except OSError as exc:
        raise VerificationError(f"{path}: cannot read the trusted root: {exc.strerror}") from exc
    except (SigstoreError, ValueError) as exc:
        raise VerificationError(f"cannot load the Sigstore trusted root: {exc}") from exc


class _IdentityPolicy:
    """A sigstore VerificationPolicy: issuer exact, identity exact or a full regexp match.

    It remembers whether it failed, so that a wrong identity is told apart from a
    broken signature.
    """

    def __init__(self, trust: IdentityTrust) -> None:
        self.trust = trust
        self.failure: str | None = None
        self.identities: list[str] = []

    def verify(self, cert: x509.Certificate) -> None:
        from sigstore.errors import VerificationError as SigstoreVerificationError

        issuer = _certificate_issuer(cert)
        self.identities = _certificate_identities(cert)
        if issuer != self.trust.issuer:
            self.failure = f"certificate issuer is {issuer!r}, not {self.trust.issuer!r}"
        elif self.trust.identity is not None and self.trust.identity not in self.identities:
            self.failure = (
                f"certificate identity is {', '.join(self.identities) or 'empty'}, not {self.trust.identity}"
            )
        elif self.trust.identity_regexp is not None and not any(
            re.fullmatch(self.trust.identity_regexp, identity) for identity in self.identities
        ):
            self.failure = (
                f"certificate identity {', '.join(self.identities) or 'empty'} does not match "
                f"/{self.trust.identity_regexp}/"
            )
        if self.failure is not None:
            raise SigstoreVerificationError(self.failure)


def _certificate_issuer(cert: x509.Certificate) -> str | None:
    from cryptography.hazmat import asn1

    for oid, v2 in ((_ISSUER_V2, True), (_ISSUER_V1, False)):
        try:
            value = cert.extensions.get_extension_for_oid(oid).value
        except x509.ExtensionNotFound:
            continue
        raw = value.value if isinstance(value, x509.UnrecognizedExtension) else b""
        try:
            return asn1.decode_der(str, raw) if v2 else raw.decode()
        except (ValueError, UnicodeDecodeError):
            return None
    return None


def _certificate_identities(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    found: list[str] = [*san.get_values_for_type(x509.RFC822Name)]
    found += san.get_values_for_type(x509.UniformResourceIdentifier)
    for other in san.get_values_for_type(x509.OtherName):
        if other.type_id == _OTHERNAME:
            found.append(other.value.decode(errors="replace"))
    return found


# -- results ----------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifiedAttestation:
    """An attestation whose signature, signer and subject all checked out."""

    predicate_type: str
    referrer: Digest
    signer: str
    statement: Statement

    def to_json(self) -> dict[str, Any]:
        return {"predicateType": self.predicate_type, "referrer": str(self.referrer), "signer": self.signer}


@dataclass(frozen=True)
class RejectedAttestation:
    """An attestation that did not verify, and why (nothing in it was trusted)."""

    referrer: Digest
    claimed_predicate_type: str | None
    error: VerificationError

    def to_json(self) -> dict[str, Any]:
        return {
            "referrer": str(self.referrer),
            "claimedPredicateType": self.claimed_predicate_type,
            "error": str(self.error),
            "errorType": type(self.error).__name__,
            "exitCode": self.error.exit_code,
        }


@dataclass(frozen=True)
class ImageVerification:
    """The outcome of :func:`verify_image` for an image that verified."""

    image: str
    digest: Digest
    trust: str
    verified: tuple[VerifiedAttestation, ...]
    rejected: tuple[RejectedAttestation, ...]
    required: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "digest": str(self.digest),
            "trust": self.trust,
            "verified": [v.to_json() for v in self.verified],
            "rejected": [r.to_json() for r in self.rejected],
            "required": list(self.required),
        }


# -- where attestations come from ------------------------------------------------------------


class AttestationSource(Protocol):
    """An image and the bundles attached to it.

    ``subjects`` are the digests attestations may be attached to: the image's digest and,
    for a multi-platform index, each platform's manifest digest.
    """

    name: str
    digest: Digest
    subjects: tuple[Digest, ...]

    def referrers(self) -> list[Descriptor]: ...

    def manifest(self, descriptor: Descriptor) -> Manifest: ...

    def blob(self, descriptor: Descriptor) -> bytes: ...


class RegistrySource:
    """An image in a registry; referrers through the API or the fallback tag index."""

    def __init__(self, client: RegistryClient, ref: ImageRef) -> None:
        self.client = client
        self.ref = ref
        resolved = client.resolve(ref)
        self.digest = resolved.digest
        self.subjects = tuple(dict.fromkeys([resolved.digest, *(p.digest for p in resolved.platforms)]))
        self.name = ref.with_digest(self.digest)

    def referrers(self) -> list[Descriptor]:
        found: dict[Digest, Descriptor] = {}
        for subject in self.subjects:
            for entry in self.client.referrers(self.ref.domain, self.ref.path, subject, BUNDLE_ARTIFACT_TYPE):
                found.setdefault(entry.digest, entry)
        return list(found.values())

    def manifest(self, descriptor: Descriptor) -> Manifest:
        from repro.reference import parse_reference

        document = self.client.get_manifest(parse_reference(f"{self.ref.name}@{descriptor.digest}"))
        if not isinstance(document, Manifest):
            raise VerificationError(f"referrer {descriptor.digest} is an index, not an artifact manifest")
        return document

    def blob(self, descriptor: Descriptor) -> bytes:
        if descriptor.size > MAX_BUNDLE_SIZE:
            raise VerificationError(f"bundle {descriptor.digest}: {descriptor.size} bytes is too large")
        buffer = io.BytesIO()
        self.client.fetch_blob(
            self.ref.domain, self.ref.path, descriptor.digest, buffer, size=descriptor.size
        )
        return buffer.getvalue()


class LayoutSource:
    """An image in an OCI layout; referrers are the layout's manifests whose subject it is."""

    def __init__(self, layout: ImageLayout, tag: str | None) -> None:
        self.layout = layout
        self.descriptor = _find_image(layout, tag)
        self.digest = self.descriptor.digest
        subjects = [self.digest]
        document = layout.manifest(self.descriptor)
        if isinstance(document, Index):
            subjects += [d.digest for d in document.platform_manifests()]
        self.subjects = tuple(dict.fromkeys(subjects))
        self.name = f"oci:{layout.path}" + (f":{tag}" if tag else "") + f"@{self.digest}"

    def referrers(self) -> list[Descriptor]:
        from repro.oci import media
        from repro.oci.layout import REF_NAME

        fallback_tags = {f"{d.algorithm}-{d.hex}" for d in self.subjects}
        candidates: list[Descriptor] = []
        for entry in self.layout.index().manifests:
            if entry.digest in self.subjects or not self.layout.has_blob(entry.digest):
                continue
            if entry.media_type == media.OCI_INDEX and entry.annotations.get(REF_NAME) in fallback_tags:
                # The tag-schema index other tools write into layouts lists referrers too.
                fallback = self.layout.manifest(entry)
                if isinstance(fallback, Index):
                    candidates += [d for d in fallback.manifests if self.layout.has_blob(d.digest)]
                continue
            candidates.append(entry)
        found: dict[Digest, Descriptor] = {}
        for entry in candidates:
            if entry.digest in found or entry.media_type != media.OCI_MANIFEST:
                continue
            if entry.artifact_type not in (None, BUNDLE_ARTIFACT_TYPE):
                continue
            document = self.layout.manifest(entry)
            if (
                isinstance(document, Manifest)
                and document.subject is not None
                and document.subject.digest in self.subjects
                and document.effective_artifact_type == BUNDLE_ARTIFACT_TYPE
            ):
                found[document.digest] = document.descriptor()
        return list(found.values())

    def manifest(self, descriptor: Descriptor) -> Manifest:
        document = self.layout.manifest(descriptor)
        if not isinstance(document, Manifest):
            raise VerificationError(f"referrer {descriptor.digest} is an index, not an artifact manifest")
        return document

    def blob(self, descriptor: Descriptor) -> bytes:
        data = self.layout.read_blob(descriptor.digest, max_size=MAX_BUNDLE_SIZE)
        if len(data) != descriptor.size:
            raise VerificationError(f"bundle {descriptor.digest}: {len(data)} bytes, not {descriptor.size}")
        return data


def _find_image(layout: ImageLayout, tag: str | None) -> Descriptor:
    """The tagged image; without a tag, the layout's only image that is not an artifact."""
    if tag is not None:
        return layout.find(tag)
    from repro.oci.layout import REF_NAME

    images = [
        d
        for d in layout.index().manifests
        if d.artifact_type is None
        and not re.fullmatch(r"sha(256|512)-[0-9a-f]+", d.annotations.get(REF_NAME, ""))
    ]
    return images[0] if len(images) == 1 else layout.find(None)


def open_source(text: str, client: RegistryClient | None = None) -> AttestationSource:
    """``oci:DIR[:TAG]`` opens a layout; anything else is a registry reference (needs ``client``)."""
    if text.startswith("oci:"):
        from repro.oci.layout import ImageLayout, parse_layout_ref

        directory, tag = parse_layout_ref(text)
        return LayoutSource(ImageLayout.open(directory), tag)
    from repro.reference import parse_reference

    ref = parse_reference(text)
    if client is None:
        raise UsageError(f"{text}: a registry client is needed to verify a registry image")
    return RegistrySource(client, ref)


# -- verification ---------------------------------------------------------------------------


def verify_bundle(bundle_bytes: bytes, trust: TrustPolicy, image: Digest) -> tuple[Statement, str]:
    """Verify one bundle for ``image``: the statement and who signed it, or a VerificationError."""
    parsed = parse_bundle(bundle_bytes)
    if isinstance(trust, KeyTrust):
        payload, signer = _verify_with_key(parsed, trust)
        payload_type = parsed.envelope.payload_type
    else:
        payload_type, payload, signer = _verify_keyless(parsed, trust)
    if payload_type != IN_TOTO_PAYLOAD_TYPE:
        raise VerificationError(f"the signed payload is {payload_type!r}, not an in-toto statement")
    try:
        statement = Statement.from_bytes(payload)
    except AttestationError as exc:
        raise VerificationError(f"the signed payload is not a valid statement: {exc}") from exc
    if not statement.names(image):
        names = ", ".join(str(s.digest) for s in statement.subjects)
        raise SubjectMismatchError(
            f"subject mismatch: the {statement.predicate_type} statement is about {names}, not the image {image}"
        )
    return statement, signer


def _verify_with_key(parsed: ParsedBundle, trust: KeyTrust) -> tuple[bytes, str]:
    if parsed.hint is None:
        raise UntrustedSignerError(
            "wrong signer: the bundle is signed keyless (a certificate), not with --key"
        )
    if parsed.hint != trust.hint:
        raise UntrustedSignerError(
            f"wrong key: the bundle is signed by key {parsed.hint}, not by --key {trust.hint}"
        )
    return dsse.verify(parsed.envelope, trust.public_key), f"key {trust.hint}"


def _verify_keyless(parsed: ParsedBundle, trust: IdentityTrust) -> tuple[str, bytes, str]:
    from sigstore.errors import CertValidationError
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import Bundle, InvalidBundle
    from sigstore.verify import Verifier

    if parsed.hint is not None:
        raise UntrustedSignerError(
            f"wrong signer: the bundle is signed by key {parsed.hint}, not by a certificate for {trust.describe()}"
        )
    try:
        bundle = Bundle.from_json(parsed.data)
    except InvalidBundle as exc:
        raise VerificationError(f"invalid Sigstore bundle: {exc}") from exc
    policy = _IdentityPolicy(trust)
    try:
        payload_type, payload = Verifier(trusted_root=trust.trusted_root).verify_dsse(bundle, policy)
    except CertValidationError as exc:
        raise UntrustedSignerError(
            f"untrusted certificate: it does not chain to the trusted root: {exc}"
        ) from exc
    except SigstoreError as exc:
        if policy.failure is not None:
            raise UntrustedSignerError(f"wrong identity: {policy.failure}") from exc
        message = str(exc)
        if (
            "DSSE: invalid signature" in message
            or "inconsistent" in message
            or "does not match bundle" in message
        ):
            raise SignatureError(
                f"signature invalid: the signed statement or its envelope was changed after signing ({message})"
            ) from exc
        if message.startswith("invalid log entry"):
            raise SignatureError(
                f"transparency log proof invalid: the bundle's log entry was changed or forged ({message})"
            ) from exc
        raise VerificationError(f"keyless verification failed: {message}") from exc
    return payload_type, payload, f"keyless {', '.join(policy.identities)} ({trust.issuer})"


_SEVERITY: tuple[type[VerificationError], ...] = (
    SubjectMismatchError,
    SignatureError,
    UntrustedSignerError,
    VerificationError,
)


def _worst(errors: Iterable[VerificationError]) -> VerificationError | None:
    ordered = sorted(errors, key=lambda e: next(i for i, cls in enumerate(_SEVERITY) if isinstance(e, cls)))
    return ordered[0] if ordered else None


def _predicate_name(predicate_type: str) -> str:
    return next((name for name, value in PREDICATE_NAMES.items() if value == predicate_type), predicate_type)


def _claimed_predicate_type(manifest: Manifest | None, bundle_bytes: bytes | None) -> str | None:
    """What an unverified attestation says it is (only for error messages)."""
    if manifest is not None and ANNOTATION_PREDICATE_TYPE in manifest.annotations:
        return manifest.annotations[ANNOTATION_PREDICATE_TYPE]
    if bundle_bytes is not None:
        try:
            return Statement.from_bytes(parse_bundle(bundle_bytes).envelope.payload).predicate_type
        except Error:
            return None
    return None


def verify_source(
    source: AttestationSource, trust: TrustPolicy, *, require: Sequence[str] = ()
) -> ImageVerification:
    """Verify the attestations of ``source``; raise unless the requirements are met."""
    verified: list[VerifiedAttestation] = []
    rejected: list[RejectedAttestation] = []
    for descriptor in source.referrers():
        manifest: Manifest | None = None
        bundle_bytes: bytes | None = None
        try:
            manifest = source.manifest(descriptor)
            if manifest.subject is None or manifest.subject.digest not in source.subjects:
                raise SubjectMismatchError(
                    f"referrer {descriptor.digest} is attached to "
                    f"{manifest.subject.digest if manifest.subject else 'nothing'}, not {source.digest}"
                )
            if len(manifest.layers) != 1:
                raise VerificationError(
                    f"referrer {descriptor.digest} has {len(manifest.layers)} layers, not 1"
                )
            bundle_bytes = source.blob(manifest.layers[0])
            statement, signer = verify_bundle(bundle_bytes, trust, manifest.subject.digest)
        except VerificationError as exc:
            claimed = _claimed_predicate_type(manifest, bundle_bytes)
            logger.warning("%s: attestation %s rejected: %s", source.name, descriptor.digest.short, exc)
            rejected.append(RejectedAttestation(descriptor.digest, claimed, exc))
            continue
        logger.info("%s: verified %s (%s)", source.name, statement.predicate_type, signer)
        verified.append(VerifiedAttestation(statement.predicate_type, descriptor.digest, signer, statement))

    result = ImageVerification(
        image=source.name,
        digest=source.digest,
        trust=trust.describe(),
        verified=tuple(verified),
        rejected=tuple(rejected),
        required=tuple(require),
    )
    _check_requirements(result)
    return result


def _check_requirements(result: ImageVerification) -> None:
    verified_types = {v.predicate_type for v in result.verified}
    if not result.required:
        if verified_types:
            return
        worst = _worst(r.error for r in result.rejected)
        if worst is not None:
            raise _prefixed(worst, f"{result.image}: no attestation verified")
        raise MissingAttestationError(f"{result.image}: no signed attestations are attached to the image")
    for predicate_type in result.required:
        if predicate_type in verified_types:
            continue
        name = _predicate_name(predicate_type)
        worst = _worst(r.error for r in result.rejected if r.claimed_predicate_type == predicate_type)
        if worst is None:
            worst = _worst(r.error for r in result.rejected if r.claimed_predicate_type is None)
        if worst is not None:
            raise _prefixed(worst, f"{result.image}: {name} attestation did not verify")
        raise MissingAttestationError(
            f"{result.image}: required {name} attestation ({predicate_type}) is missing"
            + (
                f"; verified: {', '.join(sorted(map(_predicate_name, verified_types)))}"
                if verified_types
                else ""
            )
        )


def _prefixed(error: VerificationError, prefix: str) -> VerificationError:
    new = type(error)(f"{prefix}: {error.message}", hint=error.hint)
    new.__cause__ = error
    return new


def verify_image(
    ref: str,
    trust: TrustPolicy,
    *,
    require: Sequence[str] = (),
    client: RegistryClient | None = None,
) -> ImageVerification:
    """Verify the image ``ref`` (registry reference or ``oci:DIR[:TAG]``) against ``trust``.

    ``require`` lists predicate types (see :data:`~repro.attest.statements.PREDICATE_NAMES`)
    that must each have a verified attestation.
    """
    return verify_source(open_source(ref, client), trust, require=require)


__all__ = [
    "AttestationSource",
    "IdentityTrust",
    "ImageVerification",
    "KeyTrust",
    "LayoutSource",
    "RegistrySource",
    "RejectedAttestation",
    "TrustPolicy",
    "VerifiedAttestation",
    "load_trusted_root",
    "open_source",
    "verify_bundle",
    "verify_image",
    "verify_source",
]
