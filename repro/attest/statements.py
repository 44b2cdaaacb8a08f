"""in-toto Statement v1 documents about an image: SLSA provenance v1, a CycloneDX SBOM, and
repro's own reproducibility predicate.

A statement names its subjects (the image manifest digest, and the index digest for a
multi-platform image) and carries one predicate. Its bytes are deterministic: JSON with
sorted keys and no insignificant white space, so the same inputs always sign the same
payload.

    >>> subject = Subject("registry.example/app", Digest.of(b"manifest"))
    >>> statement = Statement((subject,), "https://example.com/p/v1", {"ok": True})
    >>> statement.to_bytes()[:44]
    b'{"_type":"https://in-toto.io/Statement/v1",'
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final

from repro import __version__, redact
from repro.digest import Digest
from repro.errors import AttestationError, ReferenceFormatError, UsageError

STATEMENT_TYPE: Final = "https://in-toto.io/Statement/v1"
#: The DSSE payload type of an in-toto statement.
IN_TOTO_PAYLOAD_TYPE: Final = "application/vnd.in-toto+json"

SLSA_PROVENANCE_V1: Final = "https://slsa.dev/provenance/v1"
CYCLONEDX_BOM: Final = "https://cyclonedx.org/bom"
#: repro's reproducibility predicate: two independent builds gave one digest.
REPRODUCIBLE_V1: Final = "https://repro.dev/attestations/reproducible/v1"
#: The predicate of cosign's own image signature (``cosign sign`` with the bundle format):
#: a statement that only names the image, with an empty predicate.
COSIGN_SIGN_V1: Final = "https://sigstore.dev/cosign/sign/v1"
#: The SLSA buildType of a repro build with buildah (normalised, built twice); every engine
#: names its own (:func:`build_type`).
BUILD_TYPE: Final = "https://repro.dev/buildtypes/buildah/v1"
_BUILD_TYPE_FORMAT: Final = "https://repro.dev/buildtypes/{}/v1"
#: builder.id when no builder is configured and the build does not run under GitHub Actions.
DEFAULT_BUILDER_ID: Final = "https://repro.dev/builders/local/v1"
BUILDER_ID_ENV: Final = "REPRO_BUILDER_ID"

#: The value a secret-looking build argument is replaced with.
REDACTED: Final = redact.REDACTED

#: What ``--require`` names map to.
PREDICATE_NAMES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "provenance": SLSA_PROVENANCE_V1,
        "sbom": CYCLONEDX_BOM,
        "reproducible": REPRODUCIBLE_V1,
        "signature": COSIGN_SIGN_V1,
    }
)


def canonical_json(obj: object) -> bytes:
    """Deterministic JSON: sorted keys, compact separators, UTF-8, no NaN."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def rfc3339(moment: datetime) -> str:
    """``2024-05-01T12:00:00Z`` (UTC, whole seconds)."""
    if moment.tzinfo is None:
        raise AttestationError(f"timestamp {moment.isoformat()} has no time zone")
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Subject:
    """What a statement is about: a name and a digest."""

    name: str
    digest: Digest

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "digest": {self.digest.algorithm: self.digest.hex}}


def image_subjects(name: str, manifest: Digest, index: Digest | None = None) -> tuple[Subject, ...]:
    """The subjects of a statement about one image: its manifest, and its index if any."""
    subjects = [Subject(name, manifest)]
    if index is not None and index != manifest:
        subjects.append(Subject(name, index))
    return tuple(subjects)


@dataclass(frozen=True)
class Statement:
    """An in-toto Statement v1."""

    subjects: tuple[Subject, ...]
    predicate_type: str
    predicate: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.subjects:
            raise AttestationError("an in-toto statement needs at least one subject")

    def to_json(self) -> dict[str, Any]:
        return {
            "_type": STATEMENT_TYPE,
            "subject": [s.to_json() for s in self.subjects],
            "predicateType": self.predicate_type,
            "predicate": dict(self.predicate),
        }

    def to_bytes(self) -> bytes:
        """The canonical bytes that get signed."""
        return canonical_json(self.to_json())

    def names(self, digest: Digest) -> bool:
        """Whether ``digest`` is one of the subjects."""
        return any(s.digest == digest for s in self.subjects)

    @classmethod
    def from_bytes(cls, data: bytes) -> Statement:
        """Parse and validate a statement; raises AttestationError when it is not one."""
        try:
            obj = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise AttestationError(f"in-toto statement is not JSON: {exc}") from exc
        if not isinstance(obj, dict) or obj.get("_type") != STATEMENT_TYPE:
            raise AttestationError(f"not an in-toto statement (expected _type {STATEMENT_TYPE})")
        predicate_type = obj.get("predicateType")
        predicate = obj.get("predicate", {})
        raw_subjects = obj.get("subject")
        if not isinstance(predicate_type, str) or not predicate_type:
            raise AttestationError("in-toto statement: 'predicateType' must be a non-empty string")
        if not isinstance(predicate, dict):
            raise AttestationError("in-toto statement: 'predicate' must be an object")
        if not isinstance(raw_subjects, list) or not raw_subjects:
            raise AttestationError("in-toto statement: 'subject' must be a non-empty list")
        subjects = []
        for raw in raw_subjects:
            subjects.extend(_parse_subject(raw))
        if not subjects:
            raise AttestationError("in-toto statement: no subject has a sha256 or sha512 digest")
        return cls(tuple(subjects), predicate_type, predicate)


def _parse_subject(raw: object) -> list[Subject]:
    if not isinstance(raw, dict) or not isinstance(raw.get("digest"), dict):
        raise AttestationError("in-toto statement: each subject needs a 'digest' object")
    name = raw.get("name", "")
    if not isinstance(name, str):
        raise AttestationError("in-toto statement: a subject's 'name' must be a string")
    found = []
    for algorithm, value in raw["digest"].items():
        if algorithm not in ("sha256", "sha512"):
            continue  # other algorithms of a digest set are allowed, and ignored
        try:
            found.append(Subject(name, Digest(algorithm, str(value))))
        except ReferenceFormatError as exc:
            raise AttestationError(f"in-toto statement: invalid subject digest: {exc}") from exc
    return found


# -- SLSA provenance v1 ------------------------------------------------------------------


def redact_build_args(build_args: Mapping[str, str]) -> dict[str, str]:
    """The build arguments with every secret-looking value replaced (by name and by shape)."""
    return redact.redact_mapping(build_args)


def builder_id(configured: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """The builder identity: configured, else the GitHub Actions workflow, else a default.

    Under GitHub Actions it is the workflow file at its ref,
    ``https://github.com/OWNER/REPO/.github/workflows/FILE@REF`` (what Sigstore's
    certificates for that workflow say too).
    """
    env = os.environ if env is None else env
    if configured:
        return configured
    if env.get(BUILDER_ID_ENV):
        return env[BUILDER_ID_ENV]
    workflow_ref = env.get("GITHUB_WORKFLOW_REF")
    if env.get("GITHUB_ACTIONS") == "true" and workflow_ref:
        server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        return f"{server}/{workflow_ref}"
    return DEFAULT_BUILDER_ID


def invocation_id(env: Mapping[str, str] | None = None) -> str | None:
    """Under GitHub Actions, the URL of this run attempt; otherwise None."""
    env = os.environ if env is None else env
    if (
        env.get("GITHUB_ACTIONS") != "true"
        or not env.get("GITHUB_RUN_ID")
        or not env.get("GITHUB_REPOSITORY")
    ):
        return None
    server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    run = f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    attempt = env.get("GITHUB_RUN_ATTEMPT")
    return f"{run}/attempts/{attempt}" if attempt else run


@dataclass(frozen=True)
class SourceContext:
    """The build context as a git checkout: commit, remote URL and ref when known, and
    whether the work tree differed from the commit (``changed``: those paths, relative to
    the repository root)."""

    repository: str | None
    commit: str
    ref: str | None = None
    dirty: bool = False
    changed: tuple[str, ...] = ()

    @property
    def uri(self) -> str | None:
        if self.repository is None:
            return None
        base = self.repository if self.repository.startswith("git+") else f"git+{self.repository}"
        return f"{base}@{self.ref}" if self.ref else base

    def descriptor(self) -> dict[str, Any]:
        """A SLSA ResourceDescriptor: the remote as ``uri`` (or the name ``source``), the commit."""
        found: dict[str, Any] = {"uri": self.uri} if self.uri is not None else {"name": "source"}
        found["digest"] = {"gitCommit": self.commit}
        return found


#: How many changed paths provenance lists (it always says how many there were).
MAX_CHANGED_LISTED: Final = 100


@dataclass(frozen=True)
class BuildContext:
    """The build context directory as it was built: its in-toto ``dirHash`` and file count."""

    dir_hash: str
    files: int

    def descriptor(self) -> dict[str, Any]:
        return {"name": "build-context", "digest": {"dirHash": self.dir_hash}}


@dataclass(frozen=True)
class BaseImage:
    """An image the build used (FROM, COPY --from), by the reference written and its digest."""

    reference: str
    digest: Digest

    @property
    def uri(self) -> str:
        """``pkg:docker/NAMESPACE/NAME@sha256%3A…?repository_url=HOST`` (a package URL)."""
        from packageurl import PackageURL

        from repro.reference import parse_reference

        ref = parse_reference(self.reference)
        namespace, _, name = ref.path.rpartition("/")
        purl = PackageURL(
            type="docker", namespace=namespace or None, name=name, qualifiers={"repository_url": ref.domain}
        )
        # The version is the digest, its colon percent-encoded as the purl spec's examples
        # spell it (packageurl-python leaves it bare).
        text = str(purl.to_string())
        head, _, qualifiers = text.partition("?")
        return f"{head}@{self.digest.algorithm}%3A{self.digest.hex}?{qualifiers}"

    def descriptor(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "digest": {self.digest.algorithm: self.digest.hex},
            "annotations": {"reference": self.reference},
        }


@dataclass(frozen=True)
class ProvenanceInputs:
    """Everything SLSA provenance says about one build (two builds, for ``repro verify``)."""

    dockerfile: str
    started_on: datetime
    finished_on: datetime
    target: str | None = None
    platforms: tuple[str, ...] = ()
    build_args: Mapping[str, str] = field(default_factory=dict)
    context: SourceContext | None = None
    build_context: BuildContext | None = None
    base_images: tuple[BaseImage, ...] = ()
    source_date_epoch: int | None = None
    #: Digests of the independent builds (two when verified by building twice).
    build_digests: tuple[Digest, ...] = ()
    scrubbed: tuple[str, ...] = ()
    builder_id: str | None = None
    #: The engine(s) that built it, each part's version by name, as the engines reported
    #: them (``{"buildah": "1.28.2"}``; ``{"docker": "20.10.24", "buildkit": "v0.8.2"}``).
    engines: Mapping[str, str] = field(default_factory=dict)
    invocation_id: str | None = None
    #: The names of the engines of the builds (``("docker", "docker")``; two names for a
    #: cross-engine verification): they name the buildType.
    engine_names: tuple[str, ...] = ("buildah",)
    #: For an image index: the image manifest of each platform it lists (platform -> digest).
    images: Mapping[str, Digest] = field(default_factory=dict)


def build_type(engine_names: Sequence[str]) -> str:
    """The SLSA buildType of a build by ``engine_names``: each engine has its own, and
    builds by two engines that agreed name both, in the order they ran.

    >>> build_type(["docker", "docker"])
    'https://repro.dev/buildtypes/docker/v1'
    >>> build_type(["buildah", "docker"])
    'https://repro.dev/buildtypes/buildah+docker/v1'
    """
    names = list(dict.fromkeys(engine_names))
    if not names or not all(re.fullmatch(r"[a-z0-9][a-z0-9-]*", name) for name in names):
        raise ValueError(f"engine names must be lower-case words, got {list(engine_names)!r}")
    return _BUILD_TYPE_FORMAT.format("+".join(names))


def slsa_provenance(
    subjects: Sequence[Subject], inputs: ProvenanceInputs, *, env: Mapping[str, str] | None = None
) -> Statement:
    """A SLSA provenance v1 statement for an image built by repro."""
    external: dict[str, Any] = {"dockerfile": inputs.dockerfile}
    if inputs.target:
        external["target"] = inputs.target
    if inputs.platforms:
        external["platforms"] = list(inputs.platforms)
    if inputs.build_args:
        external["buildArgs"] = redact_build_args(inputs.build_args)
    if inputs.context is not None:
        external["source"] = inputs.context.descriptor()
    internal: dict[str, Any] = {}
    if inputs.source_date_epoch is not None:
        internal["sourceDateEpoch"] = inputs.source_date_epoch
    if inputs.build_context is not None or inputs.context is not None:
        internal["buildContext"] = _context_parameters(inputs.context, inputs.build_context)
    dependencies = [image.descriptor() for image in inputs.base_images]
    if inputs.context is not None:
        dependencies.append(inputs.context.descriptor())
    if inputs.build_context is not None:
        dependencies.append(inputs.build_context.descriptor())
    build_definition: dict[str, Any] = {
        "buildType": build_type(inputs.engine_names),
        "externalParameters": external,
        "resolvedDependencies": dependencies,
    }
    if internal:
        build_definition["internalParameters"] = internal
    version = {"repro": __version__}
    version.update(inputs.engines)
    metadata: dict[str, Any] = {
        "startedOn": rfc3339(inputs.started_on),
        "finishedOn": rfc3339(inputs.finished_on),
    }
    invocation = inputs.invocation_id or invocation_id(env)
    if invocation:
        metadata["invocationId"] = invocation
    byproducts: list[dict[str, Any]] = [
        {"name": f"build-{i}", "digest": {d.algorithm: d.hex}} for i, d in enumerate(inputs.build_digests, 1)
    ]
    byproducts += [
        {
            "name": f"image-{platform}",
            "digest": {d.algorithm: d.hex},
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "annotations": {"platform": platform},
        }
        for platform, d in inputs.images.items()
    ]
    if inputs.scrubbed:
        byproducts.append({"name": "scrubbed-paths", "annotations": {"paths": sorted(inputs.scrubbed)}})
    run_details: dict[str, Any] = {
        "builder": {"id": builder_id(inputs.builder_id, env), "version": version},
        "metadata": metadata,
    }
    if byproducts:
        run_details["byproducts"] = byproducts
    predicate = {"buildDefinition": build_definition, "runDetails": run_details}
    return Statement(tuple(subjects), SLSA_PROVENANCE_V1, predicate)


def _context_parameters(source: SourceContext | None, built: BuildContext | None) -> dict[str, Any]:
    """What was built, against what the source names: the context's digest, whether the
    git work tree was dirty and which paths differed from the commit."""
    found: dict[str, Any] = {}
    if built is not None:
        found["digest"] = {"dirHash": built.dir_hash}
        found["files"] = built.files
    if source is None:
        found["git"] = False
        return found
    found["git"] = True
    found["gitCommit"] = source.commit
    found["dirty"] = source.dirty
    if source.changed:
        found["changed"] = sorted(source.changed)[:MAX_CHANGED_LISTED]
        found["changedCount"] = len(source.changed)
    return found


# -- CycloneDX and reproducibility ---------------------------------------------------------


def cyclonedx_statement(subjects: Sequence[Subject], sbom: bytes | Mapping[str, Any]) -> Statement:
    """A statement whose predicate is the CycloneDX BOM itself."""
    if isinstance(sbom, bytes):
        try:
            parsed = json.loads(sbom)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise AttestationError(f"SBOM is not JSON: {exc}") from exc
    else:
        parsed = dict(sbom)
    if not isinstance(parsed, dict) or parsed.get("bomFormat") != "CycloneDX":
        raise AttestationError("SBOM is not a CycloneDX JSON document (no bomFormat: CycloneDX)")
    return Statement(tuple(subjects), CYCLONEDX_BOM, parsed)


@dataclass(frozen=True)
class ReproducibilityInputs:
    """What the reproducibility predicate records about a ``repro verify`` run."""

    digests: tuple[Digest, ...]
    variations: Mapping[str, Any]
    source_date_epoch: int
    normalizer: Mapping[str, str] = field(default_factory=dict)


def reproducibility_statement(subjects: Sequence[Subject], inputs: ReproducibilityInputs) -> Statement:
    """A statement that independent builds, varied as recorded, gave the same digest."""
    if len(inputs.digests) < 2:
        raise AttestationError("a reproducibility attestation needs the digests of two builds")
    if len(set(inputs.digests)) != 1:
        raise AttestationError(
            "refusing to attest reproducibility: the builds gave different digests "
            + ", ".join(str(d) for d in inputs.digests)
        )
    predicate = {
        "reproducible": True,
        "builds": [{"digest": {d.algorithm: d.hex}} for d in inputs.digests],
        "variations": dict(inputs.variations),
        "sourceDateEpoch": inputs.source_date_epoch,
        "normalizer": dict(inputs.normalizer),
        "verifier": {"id": "https://repro.dev/verifiers/repro", "version": __version__},
    }
    return Statement(tuple(subjects), REPRODUCIBLE_V1, predicate)


def cosign_signature_statement(subjects: Sequence[Subject]) -> Statement:
    """The statement cosign signs for ``cosign sign``: the image, and an empty predicate.

    ``cosign verify --key`` (not only ``verify-attestation``) then finds a signature.
    """
    return Statement(tuple(subjects), COSIGN_SIGN_V1, {})


def predicate_types(names: Iterable[str]) -> tuple[str, ...]:
    """Map ``--require`` names (provenance, sbom, reproducible) to predicate types."""
    types = []
    for name in names:
        key = name.strip().lower()
        if not key:
            continue
        if key not in PREDICATE_NAMES:
            raise UsageError(f"unknown attestation {name!r}: choose from {', '.join(PREDICATE_NAMES)}")
        types.append(PREDICATE_NAMES[key])
    return tuple(dict.fromkeys(types))
