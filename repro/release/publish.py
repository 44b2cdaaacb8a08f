"""Publishing a release: push by digest, the consumer's check from the destination, tag last.

The destination is any :class:`~repro.images.store.ImageStore` (a registry repository, an
OCI layout), written the same way: the image and its referrers by digest, verified from
the store as a consumer would (``repro verify-image``), and only then tagged, so no tag
ever points at an image whose attestations did not verify.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from repro.errors import ImageError, LostTagRaceError, UsageError, VerificationError
from repro.images.location import LayoutLocation, RegistryLocation, parse_location, unsupported
from repro.release.report import ReleaseReport
from repro.release.stages import StageRunner

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

    from repro.attest.verify_image import TrustPolicy
    from repro.config import Config
    from repro.digest import Digest
    from repro.images.push import Artifact
    from repro.images.store import ImageStore
    from repro.oci.layout import ImageLayout
    from repro.oci.models import AnyManifest
    from repro.reference import ImageRef
    from repro.registry import RegistryClient

#: Where a release goes without ``--push``: an OCI layout, relative to the working directory.
DEFAULT_DIST: Final = Path("dist")
#: The JSON report written next to the default layout.
DEFAULT_REPORT_NAME: Final = "release.json"


@dataclass(frozen=True)
class Destination:
    """Where the release goes (a registry repository or an OCI layout) and the tag written last."""

    location: RegistryLocation | LayoutLocation
    tag: str
    default: bool = False  # the default ./dist

    @property
    def text(self) -> str:
        """``NAME:TAG`` or ``oci:DIR:TAG``."""
        if isinstance(self.location, RegistryLocation):
            return f"{self.location.ref.name}:{self.tag}"
        return f"oci:{self.location.directory}:{self.tag}"

    @property
    def report_path(self) -> Path | None:
        """Where the JSON report goes when ``--report`` is not given: only into ./dist."""
        if self.default and isinstance(self.location, LayoutLocation):
            return self.location.directory / DEFAULT_REPORT_NAME
        return None


def destination_for(push: str | None, image: ImageRef, workdir: Path = Path()) -> Destination:
    """The destination of ``--push`` (default: ``workdir/dist`` with the image's tag)."""
    tag = image.effective_tag
    if push is None:
        directory = workdir / DEFAULT_DIST
        return Destination(LayoutLocation(f"oci:{directory}", directory), tag, default=True)
    location = parse_location(push, what="--push")
    if isinstance(location, LayoutLocation):
        return Destination(location, location.tag or tag)
    if not isinstance(location, RegistryLocation):
        raise unsupported(location, what="--push")
    if location.ref.digest is not None:
        raise UsageError(f"--push {push}: give REGISTRY/NAME[:TAG]; a release is pushed by tag")
    return Destination(location, location.ref.tag or tag)


def consumer_trust(
    public_key: ec.EllipticCurvePublicKey | None, bundle: bytes | None, *, staging: bool = False
) -> TrustPolicy:
    """Whom the consumer's check trusts: the key's public half, or the signer's identity."""
    from repro.attest.verify_image import KeyTrust

    if public_key is not None:
        return KeyTrust(public_key)
    if bundle is None:
        raise VerificationError("no signed bundle to take the signer's identity from")
    return keyless_identity(bundle, staging=staging)


def keyless_identity(bundle: bytes, *, staging: bool = False) -> TrustPolicy:
    """The identity and OIDC issuer of a keyless bundle's certificate, as a trust policy.

    The consumer's check then verifies what a consumer who trusts that identity would: the
    chain to Sigstore's trusted root (``staging``: the staging instance's), the
    transparency log entry and the signature.
    """
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import Bundle, InvalidBundle

    from repro.attest.verify_image import (
        IdentityTrust,
        _certificate_identities,
        _certificate_issuer,
        load_trusted_root,
    )

    try:
        certificate = Bundle.from_json(bundle).signing_certificate
    except (InvalidBundle, SigstoreError, ValueError) as exc:
        raise VerificationError(f"the keyless bundle cannot be read: {exc}") from exc
    identities = _certificate_identities(certificate)
    issuer = _certificate_issuer(certificate)
    if not identities or issuer is None:
        raise VerificationError("the signing certificate names no identity or no OIDC issuer")
    return IdentityTrust(
        issuer=issuer, trusted_root=load_trusted_root(staging=staging), identity=identities[0]
    )


_REQUIRED: Final = ("provenance", "sbom", "reproducible")


@dataclass(frozen=True)
class TagObservation:
    """Where the destination's tag pointed when the release began (None: nowhere)."""

    digest: Digest | None


def observe_tag(destination: Destination, *, config: Config, client: RegistryClient | None) -> TagObservation:
    """Read where ``destination.tag`` points now, so that the final tag write can refuse
    to overwrite a tag another release moved in the meantime."""
    from repro.errors import NotFoundError
    from repro.images.store import LayoutStore, RegistryStore

    location = destination.location
    if isinstance(location, LayoutLocation):
        try:
            store = LayoutStore.open(location.directory, None)
            if destination.tag not in store.layout.tags():
                return TagObservation(None)
            return TagObservation(store.get_manifest(destination.tag).digest)
        except ImageError:
            # No layout there yet (or not one repro can read: the push says so).
            return TagObservation(None)
    if not isinstance(location, RegistryLocation):
        return TagObservation(None)
    with ExitStack() as stack:
        if client is None:
            from repro.registry import RegistryClient

            client = stack.enter_context(RegistryClient(config))
        try:
            return TagObservation(RegistryStore(client, location.ref).get_manifest(destination.tag).digest)
        except NotFoundError:
            return TagObservation(None)


def publish(
    stages: StageRunner,
    destination: Destination,
    *,
    layout: ImageLayout,
    root: AnyManifest,
    artifacts: list[Artifact],
    trust: Callable[[bytes | None], TrustPolicy],
    config: Config,
    client: RegistryClient | None,
    report: ReleaseReport,
    observed: TagObservation | None = None,
) -> None:
    """Push by digest, verify from the destination as a consumer would, and only then tag.

    ``trust`` gives the consumer's trust policy, from the first signed bundle pushed.
    With ``observed`` (:func:`observe_tag` when the release began), the tag is written
    only if it still points where it did then.
    """
    with ExitStack() as stack:
        if client is None and isinstance(destination.location, RegistryLocation):
            from repro.registry import RegistryClient

            client = stack.enter_context(RegistryClient(config))
        store = _push_stage(
            stages, destination, client, layout=layout, root=root, artifacts=artifacts, report=report
        )
        _verify_image_stage(
            stages,
            store,
            root.digest,
            policy=lambda: trust(_first_bundle(artifacts)),
            report=report,
        )
        _tag_stage(stages, store, destination, root=root, report=report, observed=observed)


def _push_stage(
    stages: StageRunner,
    destination: Destination,
    client: RegistryClient | None,
    *,
    layout: ImageLayout,
    root: AnyManifest,
    artifacts: list[Artifact],
    report: ReleaseReport,
) -> ImageStore:
    from repro.images.push import PushEvent, push_image
    from repro.images.store import open_store

    with stages.stage("push") as st:
        store = open_store(destination.location, client=client, create=True, what="--push")

        def on_push(event: PushEvent) -> None:
            if event.kind != "blob" or event.outcome == "uploaded":
                st.step(f"{event.kind} {event.digest.short}: {event.outcome}")

        # By digest: no tag yet. The tag is written once the consumer's check has passed.
        result = push_image(layout, root.descriptor(), store, tag=None, referrers=artifacts, progress=on_push)
        report.referrers = [str(d) for d in result.referrers]
        st.summary = (
            f"{result.pinned}: {result.blobs_pushed} blob(s) pushed "
            f"({result.bytes_pushed / 1e6:.1f} MB), {result.blobs_reused} reused, "
            f"{len(result.referrers)} referrer(s)"
        )
        st.details = result.to_json()
        return store


def _verify_image_stage(
    stages: StageRunner,
    store: ImageStore,
    digest: Digest,
    *,
    policy: Callable[[], TrustPolicy],
    report: ReleaseReport,
) -> None:
    from repro.attest.statements import predicate_types
    from repro.attest.verify_image import StoreSource, verify_source

    with stages.stage("verify-image") as st:
        st.step(f"verifying {store.name}@{digest} from the destination")
        verification = verify_source(
            StoreSource(store, str(digest), store.name), policy(), require=predicate_types(_REQUIRED)
        )
        report.verified = [
            {"predicateType": v.predicate_type, "referrer": str(v.referrer), "signer": v.signer}
            for v in verification.verified
        ]
        if verification.digest != digest:
            raise VerificationError(
                f"{verification.image} is {verification.digest}, not the image built ({digest})"
            )
        st.summary = f"{len(verification.verified)} attestation(s) verified ({verification.trust})"
        st.details = verification.to_json()


def _tag_stage(
    stages: StageRunner,
    store: ImageStore,
    destination: Destination,
    *,
    root: AnyManifest,
    report: ReleaseReport,
    observed: TagObservation | None,
) -> None:
    with stages.stage("tag") as st:
        if observed is not None:
            # Registries have no compare-and-swap: re-read just before the write, and again
            # after it, so that of two releases racing for one tag at most one says so.
            now = _tag_digest(store, destination.tag)
            if now not in (observed.digest, root.digest):
                raise LostTagRaceError(
                    f"{destination.text} moved to {now or 'nothing'} since this release began "
                    f"(it was {observed.digest or 'not there'}); another release won the race: not "
                    f"overwriting it. This image is pushed by digest: {root.digest}",
                    hint="check which release should win, then run it again",
                )
        store.tag(destination.tag, root)
        tagged = store.get_manifest(destination.tag)
        if tagged.digest != root.digest:
            raise LostTagRaceError(
                f"{destination.text} resolves to {tagged.digest}, not {root.digest}: another release "
                "wrote the tag at the same time and won the race",
                hint="check which release should win, then run it again",
            )
        report.pinned = f"{destination.text}@{root.digest}"
        st.summary = report.pinned


def _tag_digest(store: ImageStore, tag: str) -> Digest | None:
    from repro.errors import NotFoundError

    try:
        return store.get_manifest(tag).digest
    except (NotFoundError, ImageError):
        return None


def _first_bundle(artifacts: list[Artifact]) -> bytes | None:
    """The bundle bytes of the first signed referrer (they all share one signer)."""
    from repro.attest.referrers import BUNDLE_ARTIFACT_TYPE
    from repro.oci.models import Manifest

    for artifact in artifacts:
        document = artifact.document
        if isinstance(document, Manifest) and document.artifact_type == BUNDLE_ARTIFACT_TYPE:
            source = artifact.blobs.get(document.layers[0].digest)
            if isinstance(source, bytes):
                return source
    return None
