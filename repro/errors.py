"""The one error hierarchy of repro.

Every error a user can meet is an :class:`Error`. Each class carries the process exit
code the CLI returns for it and a one-line hint telling the user what to do next. Library
code raises these; only :func:`repro.cli.main` catches them.

    >>> try:
    ...     raise ReferenceFormatError("'Debian' must be lower case")
    ... except Error as err:
    ...     (err.exit_code, str(err))
    (64, "'Debian' must be lower case")
"""

from __future__ import annotations

from typing import ClassVar

# Exit codes: documented in README.md ("Exit codes"); tests/unit/test_errors.py keeps the
# two in step.
EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_TAG_MOVED = 2
EXIT_REGISTRY = 3
EXIT_DOCKERFILE = 4
EXIT_BUILD = 5
EXIT_NOT_REPRODUCIBLE = 6
EXIT_IMAGE = 7
EXIT_PARTIAL = 8
EXIT_NOTHING_CHECKED = 9
EXIT_CHANGED = 10
EXIT_USAGE = 64
EXIT_CONFIG = 78
EXIT_INTERNAL = 70
EXIT_FILE_ACCESS = 74
EXIT_INTERRUPTED = 130


class Error(Exception):
    """Base of every error repro reports to a user."""

    exit_code: ClassVar[int] = EXIT_INTERNAL
    default_hint: ClassVar[str] = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint

    def __str__(self) -> str:
        return self.message


class InternalError(Error):
    """Something repro did not expect happened: a bug (the traceback shows where, with -v)."""

    exit_code = EXIT_INTERNAL
    default_hint = "this is a bug in repro: run again with -v and report the traceback"


class FileAccessError(Error):
    """The operating system refused a file or directory (permissions, missing directory, full disk)."""

    exit_code = EXIT_FILE_ACCESS
    default_hint = "check that the path exists and that you may read (or write) it"


def as_error(exc: BaseException) -> Error:
    """``exc`` as a repro :class:`Error`: itself, a :class:`FileAccessError` for an OS
    error about a named file, else an :class:`InternalError` (the original is its cause).

        >>> as_error(PermissionError(13, "Permission denied", "/ro/Dockerfile")).exit_code
        74
        >>> as_error(KeyError("x")).exit_code
        70
    """
    if isinstance(exc, Error):
        return exc
    error: Error
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        target = f"{exc.filename} -> {exc.filename2}" if exc.filename2 is not None else str(exc.filename)
        error = FileAccessError(f"{target}: {exc.strerror}")
    elif isinstance(exc, MemoryError):
        error = InternalError("out of memory", hint="an input may be larger than it claims; -v shows where")
    elif isinstance(exc, RecursionError):
        error = InternalError(
            "input nested too deeply to process", hint="-v shows which input; please report it"
        )
    else:
        detail = str(exc).splitlines()[0] if str(exc) else ""
        error = InternalError(f"internal error: {type(exc).__name__}{': ' + detail if detail else ''}")
    error.__cause__ = exc
    error.__traceback__ = exc.__traceback__
    return error


class UsageError(Error):
    """The command line or its arguments are wrong."""

    exit_code = EXIT_USAGE
    default_hint = "run 'repro --help' or 'repro COMMAND --help'"


class ReferenceFormatError(UsageError):
    """An image reference does not follow the distribution reference grammar."""

    default_hint = "write references as [HOST[:PORT]/]NAME[:TAG][@sha256:DIGEST], lower case"


class ConfigError(Error):
    """A configuration file or REPRO_* variable is invalid."""

    exit_code = EXIT_CONFIG
    default_hint = "see the 'Configuration' section of the README"


class ProcessError(Error):
    """An external program failed or could not be started."""

    exit_code = EXIT_INTERNAL
    default_hint = "run again with -v to see the program's full output"


class RegistryError(Error):
    """Talking to an OCI registry failed."""

    exit_code = EXIT_REGISTRY
    default_hint = "check the registry address, network and credentials; -v shows each request"


class RegistryUnreachableError(RegistryError):
    """The registry did not answer (DNS, refused connection, timeout, TLS)."""

    default_hint = "check the registry host and port, or mark it insecure if it speaks plain http"


class AuthenticationError(RegistryError):
    """The registry refused the credentials (or there were none)."""

    default_hint = "log in with 'docker login HOST' or set DOCKER_CONFIG to a config.json with credentials"


class NotFoundError(RegistryError):
    """The repository, tag, manifest or blob does not exist."""

    default_hint = "check the repository name and tag"


class DigestMismatchError(RegistryError):
    """Bytes fetched from a registry do not hash to the digest they should have."""

    default_hint = "the registry (or something between) served wrong content; nothing was trusted"


class ManifestTooLargeError(RegistryError):
    """A manifest exceeded the size limit."""

    default_hint = "manifests over 4 MiB are refused; the registry may be hostile"


class UnsupportedMediaTypeError(RegistryError):
    """The registry answered with a manifest type repro does not understand."""


class PlatformNotFoundError(RegistryError):
    """An index does not contain a platform that was asked for."""

    default_hint = "check the platforms the image is published for with 'repro resolve REF'"


class DockerfileError(Error):
    """A Dockerfile cannot be parsed; the message starts with file:line."""

    exit_code = EXIT_DOCKERFILE
    default_hint = "fix the Dockerfile at the line shown; nothing was written"


class ImageError(Error):
    """An OCI image or image layout is missing, malformed, corrupted or hostile."""

    exit_code = EXIT_IMAGE
    default_hint = "check the image path or reference; -v shows the details"


class CheckFailedError(Error):
    """A check ran and found problems (unpinned refs, policy denials)."""

    exit_code = EXIT_CHECK_FAILED


class PartialError(Error):
    """Some files or references were handled and others not (``pin``, ``refresh``, ``pin --check``).

    Each one left undone is reported as ``file:line: reason``; ``--fail-fast`` stops at the
    first instead and writes nothing.
    """

    exit_code = EXIT_PARTIAL
    default_hint = "fix what is reported and run again; --fail-fast makes it all or nothing"


class NothingCheckedError(Error):
    """A gate found nothing to check (no Dockerfile under the paths given)."""

    exit_code = EXIT_NOTHING_CHECKED
    default_hint = "name the Dockerfiles to check, or pass --allow-empty if nothing is expected"


class BuildError(Error):
    """The container build failed."""

    exit_code = EXIT_BUILD
    default_hint = "run again with -v to see the build engine's output"


class NotReproducibleError(Error):
    """Two builds of the same input produced different images."""

    exit_code = EXIT_NOT_REPRODUCIBLE


# -- attestations: signing (repro attest) and verification (repro verify-image) ---------

EXIT_ATTESTATION = 20
EXIT_VERIFICATION = 21
EXIT_SIGNATURE_INVALID = 22
EXIT_UNTRUSTED_SIGNER = 23
EXIT_SUBJECT_MISMATCH = 24
EXIT_MISSING_ATTESTATION = 25
EXIT_UNCOVERED_PLATFORM = 26
EXIT_TLOG_INVALID = 27


class AttestationError(Error):
    """An attestation could not be made or signed (statement, key file, password, OIDC token)."""

    exit_code = EXIT_ATTESTATION
    default_hint = "see 'Signing' in the README; -v shows the details"


class VerificationError(Error):
    """An image's signed attestations could not be verified (malformed bundle, no trust root).

    This is signature verification (``repro verify-image``), not build reproducibility.
    """

    exit_code = EXIT_VERIFICATION
    default_hint = "nothing about this image was trusted; -v shows each attestation checked"


class SignatureError(VerificationError):
    """A signature does not verify: the attestation was changed after it was signed."""

    exit_code = EXIT_SIGNATURE_INVALID
    default_hint = "the bundle or its statement was tampered with; do not use this image"


class UntrustedSignerError(VerificationError):
    """A valid signature, but by another key or identity than the one trusted."""

    exit_code = EXIT_UNTRUSTED_SIGNER
    default_hint = "check --key, or --certificate-identity and --certificate-oidc-issuer"


class SubjectMismatchError(VerificationError):
    """A signed statement is about another image than the one verified."""

    exit_code = EXIT_SUBJECT_MISMATCH
    default_hint = "the image was replaced, or an attestation was attached to the wrong image"


class MissingAttestationError(VerificationError):
    """A required attestation (provenance, SBOM, reproducibility) is not attached to the image."""

    exit_code = EXIT_MISSING_ATTESTATION
    default_hint = "sign and push the attestation (repro release does both), or relax --require"


class UncoveredPlatformError(VerificationError):
    """An index holds an image that no verified attestation covers, while others are covered."""

    exit_code = EXIT_UNCOVERED_PLATFORM
    default_hint = "sign every platform image of the index, or the index itself; --platform narrows the check"


class TransparencyLogError(VerificationError):
    """A bundle's transparency log entry is missing where required, or does not verify."""

    exit_code = EXIT_TLOG_INVALID
    default_hint = (
        "the log entry was changed, forged or is from a log the trusted root does not name; "
        "check --trusted-root, or sign with --tlog"
    )


class PolicyError(ConfigError):
    """A policy cannot be loaded or evaluated (Rego v0 or syntax errors name file:line)."""

    default_hint = "fix the policy at the place shown; 'repro policy test DIR' runs its tests"


# -- repro release: the stage that stopped the pipeline ----------------------------------

EXIT_RELEASE_PIN = 30
EXIT_RELEASE_BUILD = 31
EXIT_RELEASE_SBOM = 32
EXIT_RELEASE_POLICY = 33
EXIT_RELEASE_SIGN = 34
EXIT_RELEASE_PUSH = 35
EXIT_RELEASE_VERIFY = 36
EXIT_RELEASE_SOURCE = 37


class ReleaseError(Error):
    """``repro release`` stopped at a stage; nothing after it ran (nothing pushed or signed).

    Raise it with :meth:`at`, which picks the subclass (and so the exit code) of the stage
    and keeps the cause's hint. ``report`` is the release report up to the failure, when
    the pipeline had one.
    """

    exit_code = EXIT_INTERNAL
    stage: ClassVar[str] = "release"

    def __init__(self, message: str, *, hint: str | None = None, cause: BaseException | None = None) -> None:
        super().__init__(message, hint=hint)
        self.cause = cause
        self.report: object | None = None

    @classmethod
    def at(cls, stage: str, cause: BaseException) -> ReleaseError:
        """The error for ``stage`` failing with ``cause``: message and hint name both."""
        kind = _RELEASE_ERRORS.get(stage, ReleaseError)
        detail = cause.message if isinstance(cause, Error) else str(cause) or type(cause).__name__
        hint = cause.hint if isinstance(cause, Error) else None
        error = kind(f"release stopped at the {stage} stage: {detail}", hint=hint, cause=cause)
        error.__cause__ = cause
        return error


class ReleasePinError(ReleaseError):
    """An image of the Dockerfile is not pinned to a digest (release stage ``pin``)."""

    exit_code = EXIT_RELEASE_PIN
    stage = "pin"


class ReleaseBuildError(ReleaseError):
    """The build failed, or two builds gave different images (release stage ``build``)."""

    exit_code = EXIT_RELEASE_BUILD
    stage = "build"


class ReleaseSbomError(ReleaseError):
    """The SBOM (or the previous SBOM to compare with) could not be made (stage ``sbom``)."""

    exit_code = EXIT_RELEASE_SBOM
    stage = "sbom"


class ReleasePolicyError(ReleaseError):
    """The policy gate denied the release, or could not run (release stage ``policy``)."""

    exit_code = EXIT_RELEASE_POLICY
    stage = "policy"


class ReleaseSignError(ReleaseError):
    """The attestations could not be made or signed (release stage ``sign``)."""

    exit_code = EXIT_RELEASE_SIGN
    stage = "sign"


class ReleasePushError(ReleaseError):
    """Pushing the image, its referrers or finally its tag failed (stages ``push``, ``tag``)."""

    exit_code = EXIT_RELEASE_PUSH
    stage = "push"


class LostTagRaceError(RegistryError):
    """The release's tag moved (another release wrote it) between the start and the tag write."""

    default_hint = "check which release should win, then run it again"


class ReleaseVerifyError(ReleaseError):
    """The consumer's check of what was pushed failed (release stage ``verify-image``)."""

    exit_code = EXIT_RELEASE_VERIFY
    stage = "verify-image"


class ReleaseSourceError(ReleaseError):
    """The work tree differs from the commit provenance would name (release stage ``source``)."""

    exit_code = EXIT_RELEASE_SOURCE
    stage = "source"


_RELEASE_ERRORS: dict[str, type[ReleaseError]] = {
    "source": ReleaseSourceError,
    "pin": ReleasePinError,
    "build": ReleaseBuildError,
    "sbom": ReleaseSbomError,
    "policy": ReleasePolicyError,
    "sign": ReleaseSignError,
    "push": ReleasePushError,
    "verify-image": ReleaseVerifyError,
    "tag": ReleasePushError,
}
