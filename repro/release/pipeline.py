"""``repro release``: the whole pipeline, fail-closed.

    pin check → build twice + verify → SBOM → policy gate → attest + sign
              → push (image and referrers, by digest) → verify-image → tag

With several platforms (``--platform linux/amd64,linux/arm64``) each platform is built
twice and verified on its own, the platform images are combined into one OCI image index
(:mod:`repro.release.images`), and every stage after the build works per platform image:
its SBOM, its policy check, its signed statements attached to its manifest; the index
gets its own provenance and signature. The consumer's check covers every platform, and
the tag names the index.

Each stage is a small function, timed and recorded in a
:class:`~repro.release.report.ReleaseReport`. The first stage that fails stops the run
with a :class:`~repro.errors.ReleaseError` whose exit code names the stage; nothing after
it runs, so a failed gate never signs and never pushes. The destination is any
:class:`~repro.images.store.ImageStore` (a registry repository, an OCI layout), written
the same way: the image and its referrers by digest, verified from the store as a
consumer would (``repro verify-image``), and only then tagged, so no tag ever points at
an image whose attestations did not verify.

    >>> options = ReleaseOptions(BuildSpec(Path("app")), image="registry.example/app:1.0",
    ...                          push="registry.example/app:1.0")          # doctest: +SKIP
    >>> report = release(options, config=load_config(Path("app")))         # doctest: +SKIP
    >>> report.pinned                                                      # doctest: +SKIP
    'registry.example/app:1.0@sha256:…'

Without ``push`` the release goes to ``./dist`` (an OCI layout with its referrers), and
without ``key`` a local key pair under ``./.repro`` signs it (see
:func:`repro.attest.keys.local_key`).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from repro.attest.keys import KEY_DIR, LocalKey, local_key
from repro.build.pipeline import BuildSpec
from repro.errors import (
    AttestationError,
    CheckFailedError,
    ImageError,
    NotReproducibleError,
    UsageError,
)
from repro.fsutil import check_writable
from repro.images.location import LayoutLocation, is_local
from repro.process import Runner, run
from repro.release.images import BuiltImage, BuiltRelease, ReleasedImage, release_platforms
from repro.release.progress import StageProgress
from repro.release.publish import (
    DEFAULT_DIST,
    Destination,
    consumer_trust,
    destination_for,
    observe_tag,
    publish,
)
from repro.release.report import ReleaseReport
from repro.release.stages import Stage, StageRunner

if TYPE_CHECKING:
    from collections.abc import Callable

    from cryptography.hazmat.primitives.asymmetric import ec

    from repro.attest.provenance import SourceState
    from repro.attest.sign import Signer
    from repro.attest.statements import Statement
    from repro.attest.verify_image import TrustPolicy
    from repro.build.engine import BuildEvent, Engine
    from repro.config import Config
    from repro.dockerfile import Dockerfile
    from repro.images.push import Artifact
    from repro.oci.layout import ImageLayout
    from repro.oci.models import Descriptor
    from repro.policy import Report as PolicyReport
    from repro.reference import ImageRef
    from repro.registry import RegistryClient
    from repro.reproduce.verify import VerifyResult

__all__ = [
    "DEFAULT_DIST",
    "KEY_DIR",
    "BuildSpec",
    "Destination",
    "LocalKey",
    "ReleaseOptions",
    "destination_for",
    "local_key",
    "release",
]

logger = logging.getLogger(__name__)


SignMode = Literal["key", "keyless"]


@dataclass(frozen=True)
class ReleaseOptions:
    """The ``repro release`` command line, as a value.

    ``build`` is what to build, as for ``repro build`` (its ``output`` and ``tag`` are
    the release's own: a work directory, and the tag of ``image``). ``image`` is
    ``NAME:TAG``: the name statements and the SBOM give the image. ``push`` is an image
    location (a registry reference or ``oci:DIR[:TAG]``), or None for ``workdir/dist``.
    ``previous_sbom`` is an SBOM file or an image location to compare the new SBOM with.
    ``workdir`` holds ``dist/`` and ``.repro/``. ``dockerfile_name`` is how the provenance
    names the Dockerfile when it is not a file of the context (``-f -``: stdin).
    """

    build: BuildSpec
    image: str
    sign: SignMode = "key"
    key: Path | None = None
    #: Key signing: the Rekor log each signature is uploaded to (its entry goes in the bundle).
    tlog: str | None = None
    identity_token: str | None = None
    staging: bool = False
    policy_dirs: tuple[Path, ...] = ()
    push: str | None = None
    previous_sbom: str | None = None
    workdir: Path = Path()
    allow_dirty: bool = False
    dockerfile_name: str | None = None

    @property
    def dockerfile_path(self) -> Path:
        return self.build.dockerfile_path


def image_name(text: str) -> ImageRef:
    """``--image NAME[:TAG]`` parsed; a digest is refused (the digest is what gets built)."""
    from repro.reference import parse_reference

    ref = parse_reference(text)
    if ref.digest is not None:
        raise UsageError(f"--image {text}: give NAME:TAG; the digest is the one the build produces")
    return ref


# -- signing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Signing:
    """How this release signs: a ready key signer, or keyless (made at the sign stage)."""

    mode: SignMode
    signer: Signer | None = None
    public_key: ec.EllipticCurvePublicKey | None = None
    description: str = ""
    staging: bool = False


def _prepare_signing(options: ReleaseOptions, report: ReleaseReport, env: Mapping[str, str]) -> _Signing:
    """Load (or make) the signing key before anything is built: a wrong passphrase should
    not cost a build. Keyless tokens are fetched at the sign stage: they expire quickly."""
    if options.sign == "keyless":
        if options.key is not None or options.tlog is not None:
            raise UsageError(
                "--key and --tlog go with --sign key, not --sign keyless (keyless signatures are "
                "always logged in Sigstore's log)"
            )
        return _Signing("keyless", description="keyless", staging=options.staging)
    if options.identity_token is not None or options.staging:
        raise UsageError("--identity-token and --staging go with --sign keyless")
    from repro.attest.keys import signing_key
    from repro.attest.sign import KeySigner

    key = signing_key(options.key, workdir=options.workdir, env=env)
    report.notes.extend(key.notes)
    from repro.attest.tlog import RekorLog

    signer = KeySigner(key.private_key, tlog=RekorLog(options.tlog) if options.tlog else None)
    return _Signing("key", signer=signer, public_key=key.public_key, description=signer.description)


# -- stages --------------------------------------------------------------------------------


def release(
    options: ReleaseOptions,
    *,
    config: Config,
    engines: Sequence[Engine] | None = None,
    client: RegistryClient | None = None,
    progress: StageProgress | None = None,
    signer: Signer | None = None,
    trust: TrustPolicy | None = None,
    env: Mapping[str, str] | None = None,
    runner: Runner = run,
) -> ReleaseReport:
    """Run the release pipeline (see the module documentation) and return its report.

    Raises :class:`~repro.errors.ReleaseError` (a subclass per stage, with ``.report``)
    when a stage fails, and :class:`~repro.errors.UsageError` for options that cannot work
    before anything runs. ``signer`` and ``trust`` replace the signer the options describe
    and the trust policy of the consumer check (a private Sigstore deployment, tests);
    ``client`` is the registry client to push with (one is opened when needed).
    """
    env = os.environ if env is None else env
    notify = progress or (lambda event: None)
    image = image_name(options.image)
    destination = destination_for(options.push, image, options.workdir)
    dockerfile = options.dockerfile_path
    if not options.build.context.is_dir():
        raise UsageError(f"{options.build.context}: build context is not a directory")
    if options.build.allow_unpinned:
        raise UsageError("a release builds only from pinned images (allow_unpinned is for 'repro build')")
    if not dockerfile.is_file():
        raise UsageError(f"{dockerfile}: Dockerfile not found", hint="name it with -f FILE")
    if (signer is None) != (trust is None):
        raise UsageError("release(): give both signer and trust, or neither")
    if len(release_platforms(options.build)) > 1 and options.previous_sbom is not None:
        raise UsageError(
            f"--previous-sbom with --platform {options.build.platform}: one previous SBOM cannot be "
            "compared with the SBOM of each platform",
            hint="compare each platform after the release: repro sbom diff OLD NEW --platform P",
        )
    # dist/ and .repro/ live there (and a layout destination): unwritable fails now, not
    # after two builds.
    check_writable(options.workdir)
    if isinstance(destination.location, LayoutLocation):
        check_writable(destination.location.directory)
    report = ReleaseReport(image=image.text, destination=destination.text)
    stages = StageRunner(report, notify)
    # Where the tag points now: the final tag write refuses to overwrite a tag that
    # another release moved while this one was building.
    observed = observe_tag(destination, config=config, client=client)

    if signer is not None:
        signing = _Signing(options.sign, signer=signer, description=signer.description)
    else:
        started = time.monotonic()
        try:
            signing = _prepare_signing(options, report, env)
        except AttestationError as exc:
            raise stages.fail(Stage("sign", notify, started), started, exc) from exc

    from repro.build.pipeline import work_directory

    with work_directory("repro-release-") as work:
        source = _source_stage(stages, options, destination, runner)
        _pin_stage(stages, options, config)
        built = _build_stage(
            stages, options, config=config, image=image, engines=engines, work=work, report=report
        )
        layout, released = _sbom_stage(
            stages, options, config=config, image=image, built=built, report=report
        )
        _policy_stage(
            stages,
            options,
            config=config,
            layout=layout,
            released=released,
            signing=signing,
            report=report,
        )
        artifacts = _sign_stage(
            stages,
            options,
            image=image,
            built=built,
            released=released,
            signing=signing,
            report=report,
            source=source,
        )
        publish(
            stages,
            destination,
            layout=layout,
            root=layout.manifest(layout.find(built.tag)),
            artifacts=artifacts,
            trust=lambda bundle: trust or consumer_trust(signing.public_key, bundle, staging=signing.staging),
            config=config,
            client=client,
            report=report,
            observed=observed,
        )
    return report


def _source_stage(
    stages: StageRunner, options: ReleaseOptions, destination: Destination, runner: Runner
) -> SourceState:
    from repro.attest.provenance import dirty_summary, inspect_source

    with stages.stage("source") as st:
        st.step(f"reading the git state and digest of {options.build.context}")
        # repro's own outputs in the context are not changes to the source.
        outputs = [options.workdir / DEFAULT_DIST, options.workdir / KEY_DIR]
        if isinstance(destination.location, LayoutLocation):
            outputs.append(destination.location.directory)
        source = inspect_source(options.build.context, runner, exclude=outputs)
        git = source.git
        st.details = {
            "dirHash": source.context.dir_hash,
            "files": source.context.files,
            "gitCommit": git.commit if git else None,
            "dirty": git.dirty if git else None,
            "changed": list(git.changed[:100]) if git else [],
        }
        if git is not None and git.dirty:
            if not options.allow_dirty:
                raise CheckFailedError(
                    f"{options.build.context}: the work tree differs from commit {git.commit[:12]} "
                    f"({dirty_summary(git)}); provenance would name a commit that was not built",
                    hint="commit or stash the changes, or pass --allow-dirty (the provenance then says dirty: true)",
                )
            stages.report.notes.append(
                f"released from a dirty work tree ({dirty_summary(git)}); the provenance says so"
            )
        where = f"commit {git.commit[:12]}{' (dirty)' if git.dirty else ''}" if git else "no git checkout"
        st.summary = f"{where}, context dirHash {source.context.dir_hash[:12]} ({source.context.files} files)"
        return source


def _pin_stage(stages: StageRunner, options: ReleaseOptions, config: Config) -> None:
    from repro.pin import check_paths

    with stages.stage("pin") as st:
        st.step(f"checking {options.dockerfile_path}")
        check = check_paths(
            [options.dockerfile_path], lockfile=config.lockfile, build_args=options.build.build_args
        )
        st.details = check.to_json()
        if check.exit_code != 0:
            problems = "; ".join(f.message for f in check.errors) or "see the report"
            raise CheckFailedError(
                f"{len(check.errors)} image reference(s) not pinned: {problems}",
                hint="run 'repro pin' and commit the result",
            )
        st.summary = f"{check.checked} image reference(s) pinned to a digest"


def _build_stage(
    stages: StageRunner,
    options: ReleaseOptions,
    *,
    config: Config,
    image: ImageRef,
    engines: Sequence[Engine] | None,
    work: Path,
    report: ReleaseReport,
) -> BuiltRelease:
    from repro.release.images import PlatformNotReproducibleError, build_release

    with stages.stage("build") as st:

        def forward(event: BuildEvent) -> None:
            if event.kind == "output":
                return
            who = f"[{event.build}] " if event.build else ""
            if event.kind == "step":
                st.step(f"{who}step {event.step}/{event.steps}: {event.instruction}")
            else:
                st.step(f"{who}{event.text}")

        try:
            built = build_release(
                options.build,
                work=work,
                tag=image.effective_tag,
                config=config,
                engines=engines,
                progress=forward,
                note=st.step,
                clock=lambda: datetime.now(UTC),
            )
        except PlatformNotReproducibleError as exc:
            if exc.result is not None:
                _not_reproducible(exc.result, report)
                st.details = {"platform": exc.platform, **exc.result.to_json()}
            raise
        if built.index is None:
            (one,) = built.images
            result = one.result
            st.details = result.to_json()
            _not_reproducible(result, report)
            if not result.reproducible:
                first, second = result.builds
                raise NotReproducibleError(
                    f"not reproducible: two builds gave {first.digest} and {second.digest}",
                    hint="the report shows what differs and how to fix it; 'repro verify' does the same alone",
                )
            if result.output is None:
                raise ImageError("the build wrote no image")  # verify() writes it when reproducible
            report.digest = str(result.digest)
            mode = "concurrently" if result.concurrent else "one after the other"
            st.summary = f"reproducible {result.digest} (two builds {mode})"
            return built
        report.reproducible = True
        report.digest = str(built.index.digest)
        report.platforms = [
            {
                "platform": b.platform,
                "digest": str(b.digest),
                "digests": [str(r.digest) for r in b.result.builds],
                "reproducible": b.result.reproducible,
            }
            for b in built.images
        ]
        st.details = {
            "index": str(built.index.digest),
            "platforms": {b.label: b.result.to_json() for b in built.images},
        }
        st.summary = (
            f"index {built.index.digest}: {len(built.images)} platform(s) reproducible "
            f"({', '.join(b.label for b in built.images)}), each built twice"
        )
        return built


def _not_reproducible(result: VerifyResult, report: ReleaseReport) -> None:
    """Record a verify run's digests (and its diff, when the builds differ) in the report."""
    report.digests = tuple(str(b.digest) for b in result.builds)
    report.reproducible = result.reproducible
    if not result.reproducible and result.diff is not None:
        from repro.reproduce.diff import render_text

        report.diff_text = render_text(result.diff)


def _sbom_stage(
    stages: StageRunner,
    options: ReleaseOptions,
    *,
    config: Config,
    image: ImageRef,
    built: BuiltRelease,
    report: ReleaseReport,
) -> tuple[ImageLayout, list[ReleasedImage]]:
    from repro.oci.layout import ImageLayout
    from repro.sbom.generate import generate_sbom

    with stages.stage("sbom") as st:
        layout = ImageLayout.open(built.layout)
        released: list[ReleasedImage] = []
        for one in built.images:
            built_image = layout.image(descriptor=_manifest_descriptor(layout, built, one))
            st.step(f"reading the layers{f' of {one.platform}' if one.platform else ''}")
            sbom = generate_sbom(
                layout,
                built_image,
                name=image.path.rsplit("/", 1)[-1],
                repository_url=image.name,
                tag=built.tag,
                dockerfile=options.dockerfile_path,
            )
            released.append(ReleasedImage(one, built_image, sbom))
        counts = [sbom_counts(r.sbom) for r in released]
        if built.index is None:
            report.sbom_components = counts[0]
            total = sum(counts[0].values())
            st.summary = f"{total} component(s)"
            st.details = {"components": dict(counts[0]), "bytes": len(released[0].sbom)}
        else:
            for entry, count in zip(report.platforms, counts, strict=True):
                entry["sbomComponents"] = count
            st.summary = "; ".join(
                f"{r.platform}: {sum(c.values())} component(s)" for r, c in zip(released, counts, strict=True)
            )
            st.details = {
                str(r.platform): {"components": c, "bytes": len(r.sbom)}
                for r, c in zip(released, counts, strict=True)
            }
        if options.previous_sbom is not None:  # one image: refused for several up front
            from repro.sbom.diff import diff_sboms

            st.step(f"comparing with {options.previous_sbom}")
            previous = load_sbom(options.previous_sbom, config)
            report.previous_sbom = options.previous_sbom
            report.sbom_diff = diff_sboms(previous, released[0].sbom)
            d = report.sbom_diff
            st.summary += (
                f"; since the previous SBOM: {len(d.added)} added, {len(d.removed)} removed, "
                f"{len(d.upgraded)} upgraded, {len(d.downgraded)} downgraded"
            )
        return layout, released


def _manifest_descriptor(layout: ImageLayout, built: BuiltRelease, one: BuiltImage) -> Descriptor:
    """The descriptor of ``one``'s manifest in the release layout (an index entry, or the tag)."""
    if built.index is None:
        return layout.find(built.tag)
    from repro.oci.models import Index

    document = layout.manifest(built.index)
    for entry in document.manifests if isinstance(document, Index) else ():
        if entry.digest == one.digest:
            return entry
    raise ImageError(f"{layout.path}: the index does not list the {one.label} image {one.digest}")


def sbom_counts(sbom: bytes) -> dict[str, int]:
    """Components of a CycloneDX JSON SBOM by purl type (``deb``, ``pypi``…; else the type)."""
    document = json.loads(sbom)
    counts: dict[str, int] = {}
    for component in document.get("components") or []:
        if not isinstance(component, dict):
            continue
        purl = component.get("purl")
        kind = purl[4:].split("/", 1)[0] if isinstance(purl, str) and purl.startswith("pkg:") else None
        kind = kind or str(component.get("type", "unknown"))
        counts[kind] = counts.get(kind, 0) + 1
    return dict(sorted(counts.items()))


def load_sbom(source: str, config: Config) -> bytes:
    """An SBOM from a file, or made from an image (``oci:DIR[:TAG]`` or a reference)."""
    path = Path(source)
    if not is_local(source) and path.is_file():
        try:
            return path.read_bytes()
        except OSError as exc:
            raise UsageError(f"--previous-sbom {source}: cannot read: {exc.strerror}") from exc
    from repro.sbom.generate import sbom_for_reference

    return sbom_for_reference(source, config=None if is_local(source) else config)


def _policy_stage(
    stages: StageRunner,
    options: ReleaseOptions,
    *,
    config: Config,
    layout: ImageLayout,
    released: Sequence[ReleasedImage],
    signing: _Signing,
    report: ReleaseReport,
) -> None:
    from repro.dockerfile import parse
    from repro.release.images import merge_policy_reports

    with stages.stage("policy") as st:
        dockerfile = options.dockerfile_path
        parsed = parse(dockerfile.read_bytes(), filename=str(dockerfile))
        verdicts = []
        scanned = 0
        for one in released:
            where = f" of {one.platform}" if one.platform else ""
            st.step(f"scanning the image's files{where}")
            verdict, files_scanned = _check_image(
                options, config=config, parsed=parsed, layout=layout, one=one, signing=signing, step=st.step
            )
            verdicts.append(verdict)
            scanned += files_scanned
        verdict = verdicts[0] if len(verdicts) == 1 else merge_policy_reports(verdicts)
        report.policy = verdict
        st.summary = verdict.summary()
        st.details = {"files_scanned": scanned, "counts": verdict.counts()}
        if verdict.denied:
            denied = [f"{f.id} {f.message}" for f in verdict.findings if f.denies]
            raise CheckFailedError(
                f"policy denied the release: {'; '.join(denied)}",
                hint="fix the findings in the report, or except them in [tool.repro.policy]",
            )


def _check_image(
    options: ReleaseOptions,
    *,
    config: Config,
    parsed: Dockerfile,
    layout: ImageLayout,
    one: ReleasedImage,
    signing: _Signing,
    step: Callable[[str], None],
) -> tuple[PolicyReport, int]:
    """The release policies over one image: its facts, files and SBOM; and files scanned."""
    from repro.layers.filesystem import ImageFilesystem
    from repro.policy import LayerFacts, ReleaseFacts, SignatureFacts, check_release, scan_files
    from repro.reproduce.history import map_image

    built_image = one.image
    dockerfile = options.dockerfile_path
    origins = map_image(built_image, parsed, target=options.build.target, build_args=options.build.build_args)
    locations = {
        layer.index: location
        for layer in built_image.layers
        if (origin := origins.origin(layer.index)) is not None
        and origin.source == "instruction"
        and (location := origin.location) is not None
    }
    files = scan_files(ImageFilesystem.scan(layout, built_image), layer_locations=locations)
    first, second = one.built.result.builds
    # The signatures this release will make. They count as verified here because the
    # release fails closed: it ends only after the consumer's check of exactly these
    # signatures (the verify-image stage) has passed.
    kind = "key" if signing.mode == "key" else "sigstore"
    facts = ReleaseFacts(
        image_digest=str(built_image.digest),
        image_config=built_image.config,
        layers=[
            LayerFacts(
                digest=str(layer.digest),
                size=layer.descriptor.size,
                created_by=layer.history.created_by if layer.history is not None else None,
                location=locations.get(layer.index),
            )
            for layer in built_image.layers
        ],
        file_findings=files.findings,
        files_scanned=files.scanned,
        sbom=json.loads(one.sbom),
        reproducible=True,
        digests=(str(first.digest), str(second.digest)),
        signatures=[
            SignatureFacts(subject=subject, verified=True, kind=kind, identity=signing.description)
            for subject in ("provenance", "sbom", "image")
        ],
        source_date_epoch=first.source_date_epoch,
        engine=first.capabilities,
    )
    step(f"evaluating the policies{f' for {one.platform}' if one.platform else ''}")
    verdict = check_release(
        dockerfile,
        facts,
        config=config.policy,
        policy_dirs=options.policy_dirs,
        build_args=options.build.build_args,
        config_file=str(config.source) if config.source else None,
    )
    return verdict, files.scanned


def _sign_stage(
    stages: StageRunner,
    options: ReleaseOptions,
    *,
    image: ImageRef,
    built: BuiltRelease,
    released: Sequence[ReleasedImage],
    signing: _Signing,
    report: ReleaseReport,
    source: SourceState,
) -> list[Artifact]:
    from repro.attest.referrers import referrer_manifest
    from repro.attest.sign import keyless_signer, sign_statements
    from repro.images.push import Artifact, sbom_referrer
    from repro.release.attestations import build_statements, image_descriptor, index_statements

    with stages.stage("sign") as st:
        signer = signing.signer
        if signer is None:
            st.step("getting an identity token and a certificate")
            signer = keyless_signer(token=options.identity_token, staging=options.staging)
        report.signer = signer.description
        # Each image's statements are attached to its own manifest; an index's to the index.
        planned: list[tuple[Descriptor, str | None, list[Statement]]] = [
            (
                image_descriptor(one.image),
                one.platform,
                build_statements(options, image=image, built=built, one=one, source=source),
            )
            for one in released
        ]
        if built.index is not None:
            planned.append(
                (built.index, None, index_statements(options, image=image, built=built, source=source))
            )
        statements = [statement for _, _, group in planned for statement in group]
        st.step(f"signing {len(statements)} statement(s) ({signer.description})")
        bundles = iter(sign_statements(signer, statements))
        created = datetime.now(UTC)
        artifacts: list[Artifact] = []
        for subject, platform, group in planned:
            for statement in group:
                bundle = next(bundles)
                manifest, media_type = referrer_manifest(
                    bundle, subject=subject, predicate_type=statement.predicate_type, created=created
                )
                artifact = Artifact.of(manifest, media_type, bundle)
                artifacts.append(artifact)
                attestation = {"predicateType": statement.predicate_type, "referrer": str(artifact.digest)}
                if built.index is not None:
                    attestation["subject"] = str(subject.digest)
                    attestation["platform"] = platform or "index"
                report.attestations.append(attestation)
        for one in released:
            artifacts.append(sbom_referrer(one.sbom, image_descriptor(one.image), created=created))
        st.summary = f"{len(statements)} attestation(s) signed by {signer.description}"
        if built.index is not None:
            st.summary += f" ({len(released)} platform image(s) and the index)"
        st.details = {"signer": signer.description, "attestations": list(report.attestations)}
        return artifacts
