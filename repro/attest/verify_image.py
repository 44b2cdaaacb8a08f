"""``repro verify-image``: find an image's signed attestations and verify them.

The image is a registry reference (its referrers come from the OCI 1.1 referrers API, or
the ``sha256-<hex>`` tag index where the registry has none) or an ``oci:DIR[:TAG]`` layout
(its referrers are the manifests in the layout whose ``subject`` is the image). For each
Sigstore bundle referrer:

1. the referrer manifest must name the image as its subject, and its layer must hash to
   its digest (both checked on fetch);
2. the bundle's signature must verify: with ``--key``, the DSSE signature must verify
   with the key, and with a trusted root (``--trusted-root``) every transparency log entry
   of the bundle must verify against the logs it names (``--require-tlog``: at least one
   must be there); keyless, sigstore's ``Verifier``
   checks the certificate chain against the trusted root, the SCT, the transparency log
   inclusion proof and promise, the identity and issuer, and the DSSE signature;
3. the payload must be an in-toto statement whose subjects include the image digest.

Attestations that fail are reported, not trusted. The image verifies when every
``require``-d predicate (or, without ``require``, at least one) has a verified attestation;
otherwise the most telling failure is raised, each with its own exit code.

One module, though long: trust policies, the attestation source and the per-bundle checks
are read together when auditing what "verified" means; keeping them in one file keeps
that audit in one place.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
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
    TransparencyLogError,
    UncoveredPlatformError,
    UntrustedSignerError,
    UsageError,
    VerificationError,
)
from repro.oci.media import DOCKER_REFERENCE_TYPE
from repro.oci.models import Descriptor, Index, Manifest
from repro.platform import Platform

if TYPE_CHECKING:
    from sigstore.models import TrustedRoot

    from repro.images.store import ImageStore
    from repro.registry import RegistryClient

logger = logging.getLogger(__name__)

#: Image configs larger than this are refused (read only to match ``--platform``).
MAX_CONFIG_SIZE = 16 * 1024 * 1024

# OIDC issuer extensions of Fulcio certificates: the legacy raw-string one and the v2
# DER UTF8String one (https://github.com/sigstore/fulcio/blob/main/docs/oid-info.md).
_ISSUER_V1 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
_ISSUER_V2 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
_OTHERNAME = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.7")


# -- trust policies ----------------------------------------------------------------------


@dataclass(frozen=True)
class KeyTrust:
    """Trust bundles signed with this public key (``--key``).

    With ``trusted_root``, every transparency log entry a bundle carries must verify
    against the logs it names; ``require_tlog`` also requires at least one. Without a
    trusted root the entries are not checked (there is no log key to check them with).
    """

    public_key: ec.EllipticCurvePublicKey
    trusted_root: TrustedRoot | None = None
    require_tlog: bool = False

    def __post_init__(self) -> None:
        if self.require_tlog and self.trusted_root is None:
            raise UsageError("requiring a transparency log entry needs a trusted root naming the log")

    @property
    def hint(self) -> str:
        return keys.key_hint(self.public_key)

    def describe(self) -> str:
        if self.trusted_root is None:
            return f"key {self.hint}"
        return f"key {self.hint}, log entries {'required and ' if self.require_tlog else ''}checked"


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
    #: The digest the referrer is attached to and the statement names.
    subject: Digest

    def to_json(self) -> dict[str, Any]:
        return {
            "predicateType": self.predicate_type,
            "referrer": str(self.referrer),
            "signer": self.signer,
            "subject": str(self.subject),
        }


@dataclass(frozen=True)
class RejectedAttestation:
    """An attestation that did not verify, and why (nothing in it was trusted)."""

    referrer: Digest
    claimed_predicate_type: str | None
    error: VerificationError
    #: The digest whose referrers listed it.
    subject: Digest | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "referrer": str(self.referrer),
            "subject": str(self.subject) if self.subject is not None else None,
            "claimedPredicateType": self.claimed_predicate_type,
            "error": str(self.error),
            "errorType": type(self.error).__name__,
            "exitCode": self.error.exit_code,
        }


@dataclass(frozen=True)
class ImageEntry:
    """One image of an index that verification must cover: its digest and platform."""

    digest: Digest
    #: ``os/arch[/variant]``, or None when the index entry names no platform.
    platform: str | None

    def describe(self) -> str:
        return f"{self.platform or 'platform-less'} image {self.digest}"


@dataclass(frozen=True)
class Coverage:
    """Which required predicates verified for one image (an index entry, or the image itself)."""

    entry: ImageEntry
    #: Predicate types verified by statements about this image or about its index.
    verified: tuple[str, ...]
    #: Required predicate types that did not; ``("any",)`` when nothing at all verified.
    missing: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "digest": str(self.entry.digest),
            "platform": self.entry.platform,
            "verified": list(self.verified),
            "missing": list(self.missing),
        }


@dataclass(frozen=True)
class ImageVerification:
    """The outcome of verifying an image: what verified, what was rejected, and whether it passed.

    ``error`` is None when the image verified; otherwise it is the error
    :func:`verify_source` raises (its exit code says why).
    """

    image: str
    digest: Digest
    trust: str
    verified: tuple[VerifiedAttestation, ...]
    rejected: tuple[RejectedAttestation, ...]
    required: tuple[str, ...]
    index: bool = False
    coverage: tuple[Coverage, ...] = ()
    error: VerificationError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "digest": str(self.digest),
            "ok": self.ok,
            "trust": self.trust,
            "index": self.index,
            "required": list(self.required),
            "verified": [v.to_json() for v in self.verified],
            "rejected": [r.to_json() for r in self.rejected],
            "coverage": [c.to_json() for c in self.coverage],
            "error": error_json(self.error) if self.error is not None else None,
        }


def error_json(error: Error) -> dict[str, Any]:
    """An error as ``verify-image --json`` reports it."""
    return {
        "message": str(error),
        "type": type(error).__name__,
        "exitCode": error.exit_code,
        "hint": error.hint or None,
    }


# -- where attestations come from ------------------------------------------------------------


class AttestationSource(Protocol):
    """An image and the bundles attached to it.

    ``entries`` are the images of an index that verification must cover (after
    ``--platform`` selection); empty for a single-platform image.
    """

    name: str
    digest: Digest
    is_index: bool
    entries: tuple[ImageEntry, ...]

    def referrers(self, subject: Digest) -> list[Descriptor]: ...

    def manifest(self, descriptor: Descriptor) -> Manifest: ...

    def blob(self, descriptor: Descriptor) -> bytes: ...


def index_entries(
    index: Index, platforms: Sequence[Platform] = (), *, name: str = ""
) -> tuple[ImageEntry, ...]:
    """The images of ``index`` that must be covered, narrowed to ``platforms`` if given.

    Every entry counts except BuildKit's attestation manifests (``unknown`` platform,
    ``vnd.docker.reference.type: attestation-manifest``), which no runtime pulls. An entry
    without a platform is kept for any ``platforms``: a runtime picks it by its config.
    A platform asked for that the index does not have is a usage error.
    """
    candidates = [
        d
        for d in index.manifests
        if not (
            d.annotations.get(DOCKER_REFERENCE_TYPE) == "attestation-manifest"
            and d.platform is not None
            and d.platform.os == "unknown"
        )
    ]
    if platforms:
        for wanted in platforms:
            if not any(d.platform is not None and d.platform.matches(wanted) for d in candidates):
                offered = ", ".join(sorted({str(d.platform) for d in candidates if d.platform})) or "none"
                raise UsageError(f"{name}: the index has no image for platform {wanted} (it has: {offered})")
        candidates = [
            d for d in candidates if d.platform is None or any(d.platform.matches(p) for p in platforms)
        ]
    entries = [ImageEntry(d.digest, str(d.platform) if d.platform is not None else None) for d in candidates]
    return tuple(dict.fromkeys(entries))


def _check_single_platform(name: str, config: bytes, platforms: Sequence[Platform]) -> None:
    """A one-platform image matches ``--platform`` only if its config says so."""
    try:
        obj = json.loads(config)
        platform = Platform.from_oci(obj) if isinstance(obj, dict) else None
    except (UnicodeDecodeError, json.JSONDecodeError, UsageError):
        platform = None
    if platform is None:
        raise VerificationError(f"{name}: the image config names no platform to match --platform against")
    for wanted in platforms:
        if not platform.matches(wanted):
            raise UsageError(
                f"{name}: the image is {platform}, not {wanted} (it is not a multi-platform index)"
            )


class StoreSource:
    """An image in any :class:`~repro.images.store.ImageStore` (a registry repository, an
    OCI layout) and the bundle referrers the store lists for it.

    ``platforms`` narrows an index to those platforms (each must be in it).
    """

    def __init__(
        self, store: ImageStore, reference: str | None, label: str, platforms: Sequence[Platform] = ()
    ) -> None:
        self.store = store
        document = store.get_manifest(reference)
        self.digest = document.digest
        self.name = f"{label}@{self.digest}"
        self.is_index = isinstance(document, Index)
        if isinstance(document, Index):
            self.entries = index_entries(document, platforms, name=self.name)
        else:
            self.entries = ()
            if platforms:
                _check_single_platform(self.name, self._blob(document.config, MAX_CONFIG_SIZE), platforms)

    def referrers(self, subject: Digest) -> list[Descriptor]:
        found: dict[Digest, Descriptor] = {}
        for entry in self.store.referrers(subject, BUNDLE_ARTIFACT_TYPE):
            found.setdefault(entry.digest, entry)
        return list(found.values())

    def manifest(self, descriptor: Descriptor) -> Manifest:
        document = self.store.get_manifest(str(descriptor.digest))
        if not isinstance(document, Manifest):
            raise VerificationError(f"referrer {descriptor.digest} is an index, not an artifact manifest")
        return document

    def blob(self, descriptor: Descriptor) -> bytes:
        return self._blob(descriptor, MAX_BUNDLE_SIZE)

    def _blob(self, descriptor: Descriptor, limit: int) -> bytes:
        if descriptor.size > limit:
            raise VerificationError(f"blob {descriptor.digest}: {descriptor.size} bytes is too large")
        data = self.store.read_blob(descriptor.digest, max_size=limit)
        if len(data) != descriptor.size:
            raise VerificationError(f"blob {descriptor.digest}: {len(data)} bytes, not {descriptor.size}")
        return data


def open_source(
    text: str, client: RegistryClient | None = None, *, platforms: Sequence[Platform] = ()
) -> AttestationSource:
    """The image ``text`` names (see :mod:`repro.images.location`); a registry needs ``client``.

    ``platforms`` narrows an index to those platforms (each must be in it).
    """
    from repro.images.location import RegistryLocation, parse_location
    from repro.images.store import open_store

    location = parse_location(text)
    store = open_store(location, client=client)
    if isinstance(location, RegistryLocation):
        ref = location.ref
        label = ref.written_name + (f":{ref.tag}" if ref.tag else "")
        return StoreSource(store, None, label, platforms)
    return StoreSource(store, None, location.display, platforms)


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
    """The payload if the signature verifies with ``--key``.

    The bundle's ``publicKey.hint`` is not authenticated, so it decides nothing, as with
    cosign (which ignores it when given a key): a valid signature by the key verifies
    whatever the hint says. The hint only explains a failure: a signature that does not
    verify, from a bundle naming another key, was made by that other key (a wrong key),
    while one that names this key was changed after signing.
    """
    if parsed.hint is None:
        raise UntrustedSignerError(
            "wrong signer: the bundle is signed keyless (a certificate), not with --key"
        )
    try:
        payload = dsse.verify(parsed.envelope, trust.public_key)
    except SignatureError as exc:
        if parsed.hint != trust.hint:
            raise UntrustedSignerError(
                f"wrong key: the bundle is signed by key {parsed.hint}, not by --key {trust.hint}"
            ) from exc
        raise
    if parsed.hint != trust.hint:
        logger.info(
            "the bundle's key hint %s is not --key's %s; ignored (it is unauthenticated, the signature verified)",
            parsed.hint,
            trust.hint,
        )
    _check_log_entries(parsed, trust)
    return payload, f"key {trust.hint}"


def _check_log_entries(parsed: ParsedBundle, trust: KeyTrust) -> None:
    """Every log entry of a key-signed bundle verifies (with a trusted root); one is there
    when required."""
    if trust.require_tlog and not parsed.tlog_entries:
        raise TransparencyLogError(
            "no transparency log entry in the bundle, and one is required (--require-tlog)",
            hint="sign with --tlog URL so that each signature is logged",
        )
    if trust.trusted_root is None:
        if parsed.tlog_entries:
            logger.info("%d log entr(ies) not checked: no trusted root given", len(parsed.tlog_entries))
        return
    from repro.attest.tlog import verify_log_entry

    for number, entry in enumerate(parsed.tlog_entries, 1):
        try:
            verify_log_entry(entry, parsed.envelope, trust.public_key, trust.trusted_root)
        except TransparencyLogError as exc:
            raise TransparencyLogError(
                f"transparency log entry {number} of {len(parsed.tlog_entries)}: {exc.message}"
            ) from exc


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
    TransparencyLogError,
    UntrustedSignerError,
    UncoveredPlatformError,
    MissingAttestationError,
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


def _check_referrer(
    source: AttestationSource, descriptor: Descriptor, subject: Digest, trust: TrustPolicy
) -> VerifiedAttestation | RejectedAttestation:
    """Verify one referrer listed for ``subject``: it counts only for ``subject``."""
    manifest: Manifest | None = None
    bundle_bytes: bytes | None = None
    try:
        manifest = source.manifest(descriptor)
        if manifest.subject is None or manifest.subject.digest != subject:
            raise SubjectMismatchError(
                f"referrer {descriptor.digest} is attached to "
                f"{manifest.subject.digest if manifest.subject else 'nothing'}, not {subject}"
            )
        if len(manifest.layers) != 1:
            raise VerificationError(f"referrer {descriptor.digest} has {len(manifest.layers)} layers, not 1")
        bundle_bytes = source.blob(manifest.layers[0])
        statement, signer = verify_bundle(bundle_bytes, trust, subject)
    except VerificationError as exc:
        claimed = _claimed_predicate_type(manifest, bundle_bytes)
        logger.warning("%s: attestation %s rejected: %s", source.name, descriptor.digest.short, exc)
        return RejectedAttestation(descriptor.digest, claimed, exc, subject)
    logger.info("%s: verified %s about %s (%s)", source.name, statement.predicate_type, subject.short, signer)
    return VerifiedAttestation(statement.predicate_type, descriptor.digest, signer, statement, subject)


def evaluate_source(
    source: AttestationSource, trust: TrustPolicy, *, require: Sequence[str] = ()
) -> ImageVerification:
    """Verify the attestations of ``source`` and say whether the requirements are met.

    Nothing is raised for attestations that fail: the result lists them and its
    ``error`` says why the image did not verify (None when it did). For an index, every
    entry (of the selected platforms) must have each required predicate verified by a
    statement about that entry's digest, attached to it, or by one about the index's
    digest, attached to the index.
    """
    subjects = list(dict.fromkeys([source.digest, *(e.digest for e in source.entries)]))
    verified: list[VerifiedAttestation] = []
    rejected: list[RejectedAttestation] = []
    for subject in subjects:
        for descriptor in source.referrers(subject):
            outcome = _check_referrer(source, descriptor, subject, trust)
            (verified if isinstance(outcome, VerifiedAttestation) else rejected).append(outcome)  # type: ignore[arg-type]

    units = source.entries if source.is_index and source.entries else (ImageEntry(source.digest, None),)
    by_subject: dict[Digest, set[str]] = {}
    for attestation in verified:
        by_subject.setdefault(attestation.subject, set()).add(attestation.predicate_type)
    about_index = by_subject.get(source.digest, set()) if source.is_index else set()
    coverage = []
    for unit in units:
        have = by_subject.get(unit.digest, set()) | about_index
        missing = tuple(p for p in require if p not in have) if require else (() if have else ("any",))
        coverage.append(Coverage(unit, tuple(sorted(have)), missing))

    result = ImageVerification(
        image=source.name,
        digest=source.digest,
        trust=trust.describe(),
        verified=tuple(verified),
        rejected=tuple(rejected),
        required=tuple(require),
        index=source.is_index,
        coverage=tuple(coverage),
    )
    error = _failure(result)
    return result if error is None else replace(result, error=error)


def _failure(result: ImageVerification) -> VerificationError | None:
    """The most telling reason the image did not verify, or None."""
    if not any(c.missing for c in result.coverage):
        return None
    if not result.index:
        return _single_failure(result)
    errors: list[VerificationError] = []
    verified_anywhere = {v.predicate_type for v in result.verified}
    for unit in result.coverage:
        relevant = [r for r in result.rejected if r.subject in (unit.entry.digest, result.digest)]
        for predicate_type in unit.missing:
            name = "any" if predicate_type == "any" else _predicate_name(predicate_type)
            worst = _worst(
                r.error
                for r in relevant
                if predicate_type == "any" or r.claimed_predicate_type in (predicate_type, None)
            )
            where = f"{result.image}: the index's {unit.entry.describe()}"
            if worst is not None:
                errors.append(_prefixed(worst, f"{where}: {name} attestation did not verify"))
            elif predicate_type in verified_anywhere or (predicate_type == "any" and verified_anywhere):
                errors.append(
                    UncoveredPlatformError(
                        f"{where} is not covered: no verified {name} attestation names it "
                        "(other images of the index have one; none names the index itself)"
                    )
                )
            else:
                errors.append(
                    MissingAttestationError(
                        f"{where} has no verified {name} attestation, and none names the index"
                    )
                )
    return _worst(errors)


def _single_failure(result: ImageVerification) -> VerificationError | None:
    verified_types = {v.predicate_type for v in result.verified}
    if not result.required:
        worst = _worst(r.error for r in result.rejected)
        if worst is not None:
            return _prefixed(worst, f"{result.image}: no attestation verified")
        return MissingAttestationError(f"{result.image}: no signed attestations are attached to the image")
    for predicate_type in result.required:
        if predicate_type in verified_types:
            continue
        name = _predicate_name(predicate_type)
        worst = _worst(r.error for r in result.rejected if r.claimed_predicate_type == predicate_type)
        if worst is None:
            worst = _worst(r.error for r in result.rejected if r.claimed_predicate_type is None)
        if worst is not None:
            return _prefixed(worst, f"{result.image}: {name} attestation did not verify")
        return MissingAttestationError(
            f"{result.image}: required {name} attestation ({predicate_type}) is missing"
            + (
                f"; verified: {', '.join(sorted(map(_predicate_name, verified_types)))}"
                if verified_types
                else ""
            )
        )
    return None


def verify_source(
    source: AttestationSource, trust: TrustPolicy, *, require: Sequence[str] = ()
) -> ImageVerification:
    """Verify the attestations of ``source``; raise unless the requirements are met."""
    result = evaluate_source(source, trust, require=require)
    if result.error is not None:
        raise result.error
    return result


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
    platforms: Sequence[Platform] = (),
) -> ImageVerification:
    """Verify the image ``ref`` (registry reference or ``oci:DIR[:TAG]``) against ``trust``.

    ``require`` lists predicate types (see :data:`~repro.attest.statements.PREDICATE_NAMES`)
    that must each have a verified attestation; for an index, for every image in it (of
    ``platforms``, when given) or for the index itself.
    """
    return verify_source(open_source(ref, client, platforms=platforms), trust, require=require)


__all__ = [
    "AttestationSource",
    "Coverage",
    "IdentityTrust",
    "ImageEntry",
    "ImageVerification",
    "KeyTrust",
    "RejectedAttestation",
    "StoreSource",
    "TrustPolicy",
    "VerifiedAttestation",
    "error_json",
    "evaluate_source",
    "index_entries",
    "load_trusted_root",
    "open_source",
    "verify_bundle",
    "verify_image",
    "verify_source",
]
