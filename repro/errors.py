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
EXIT_CHANGED = 10
EXIT_USAGE = 64
EXIT_CONFIG = 78
EXIT_INTERNAL = 70
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


class BuildError(Error):
    """The container build failed."""

    exit_code = EXIT_BUILD
    default_hint = "run again with -v to see the build engine's output"


class NotReproducibleError(Error):
    """Two builds of the same input produced different images."""

    exit_code = EXIT_NOT_REPRODUCIBLE
