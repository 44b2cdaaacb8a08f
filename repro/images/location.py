"""Where an image is: the one parser of the image-location forms a user can write.

    registry reference        registry.example/app:1.0, debian@sha256:…
    oci:DIR[:TAG]             an OCI image layout directory
    oci-archive:FILE[:TAG]    an OCI image layout in a tar file
    docker-archive:FILE[:NAME:TAG]   what ``docker save`` writes

Every command that takes an image (``build -o``, ``push``, ``diff``, ``sbom``,
``verify-image``, ``release --push``, ``--previous-sbom``) parses it here, so the forms
mean the same everywhere; :func:`repro.images.store.open_store` turns a location into an
:class:`~repro.images.store.ImageStore`.

    >>> parse_location("oci:out:v1")
    LayoutLocation(text='oci:out:v1', directory=PosixPath('out'), tag='v1')
    >>> parse_location("docker-archive:app.tar:app:1.0").reference
    'app:1.0'
    >>> parse_location("registry.example/app:1.0").ref.tag
    '1.0'
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from repro.errors import UsageError
from repro.reference import ImageRef, parse_reference

#: The prefixes of the local forms; anything else is a registry reference.
LAYOUT_PREFIX: Final = "oci:"
OCI_ARCHIVE_PREFIX: Final = "oci-archive:"
DOCKER_ARCHIVE_PREFIX: Final = "docker-archive:"

ArchiveFormat = Literal["oci-archive", "docker-archive"]


@dataclass(frozen=True)
class RegistryLocation:
    """An image in a registry repository, by tag or digest."""

    text: str
    ref: ImageRef

    @property
    def display(self) -> str:
        return self.ref.text


@dataclass(frozen=True)
class LayoutLocation:
    """``oci:DIR[:TAG]``: an image in an OCI image layout (no tag: the layout's only image)."""

    text: str
    directory: Path
    tag: str | None = None

    @property
    def display(self) -> str:
        return f"oci:{self.directory}" + (f":{self.tag}" if self.tag else "")

    def with_tag(self, tag: str) -> LayoutLocation:
        return LayoutLocation(f"oci:{self.directory}:{tag}", self.directory, tag)


@dataclass(frozen=True)
class ArchiveLocation:
    """``oci-archive:FILE[:TAG]`` or ``docker-archive:FILE[:NAME:TAG]``: an image in a tar file.

    ``reference`` is the TAG of an OCI archive or the ``NAME:TAG`` of a docker archive.
    """

    text: str
    format: ArchiveFormat
    file: Path
    reference: str | None = None

    @property
    def display(self) -> str:
        return f"{self.format}:{self.file}" + (f":{self.reference}" if self.reference else "")


ImageLocation = RegistryLocation | LayoutLocation | ArchiveLocation


def _split_tag(body: str) -> tuple[str, str | None]:
    """``PATH[:TAG]``: the last ``:`` starts a tag unless what follows it is a path."""
    path, sep, tag = body.rpartition(":")
    if sep and path and "/" not in tag:
        return path, tag or None
    return body, None


def parse_location(text: str, *, what: str = "image") -> ImageLocation:
    """Parse one of the forms in the module docstring; ``what`` names the argument in errors.

    Raises :class:`~repro.errors.UsageError` (a :class:`~repro.errors.ReferenceFormatError`
    for a malformed reference) naming ``what`` and the forms that would work.
    """
    if text.startswith(LAYOUT_PREFIX):
        directory, tag = _split_tag(text.removeprefix(LAYOUT_PREFIX))
        if not directory:
            raise UsageError(f"{what} {text!r}: no directory after 'oci:'", hint="write oci:DIR[:TAG]")
        return LayoutLocation(text, Path(directory), tag)
    if text.startswith(OCI_ARCHIVE_PREFIX):
        file, tag = _split_tag(text.removeprefix(OCI_ARCHIVE_PREFIX))
        if not file:
            raise UsageError(
                f"{what} {text!r}: no file after 'oci-archive:'", hint="write oci-archive:FILE[:TAG]"
            )
        return ArchiveLocation(text, "oci-archive", Path(file), tag)
    if text.startswith(DOCKER_ARCHIVE_PREFIX):
        # As skopeo reads it: the file ends at the first ':', the rest is NAME:TAG.
        file, sep, name = text.removeprefix(DOCKER_ARCHIVE_PREFIX).partition(":")
        if not file:
            raise UsageError(
                f"{what} {text!r}: no file after 'docker-archive:'",
                hint="write docker-archive:FILE[:NAME:TAG]",
            )
        if sep and name:
            parse_reference(name)  # a malformed NAME:TAG is refused here, not at use
        return ArchiveLocation(text, "docker-archive", Path(file), name or None)
    return RegistryLocation(text, parse_reference(text))


def is_local(text: str) -> bool:
    """Whether ``text`` is written as a local image (a layout or an archive), not a reference.

    Lets a caller tell an image from a file name (``--previous-sbom``) and skip loading
    registry settings for local images, without parsing a reference.
    """
    return text.startswith((LAYOUT_PREFIX, OCI_ARCHIVE_PREFIX, DOCKER_ARCHIVE_PREFIX))


def parse_layout_location(text: str, *, what: str = "image") -> LayoutLocation:
    """``oci:DIR[:TAG]`` parsed; any other form is a :class:`~repro.errors.UsageError`."""
    if text.startswith(LAYOUT_PREFIX):
        location = parse_location(text, what=what)
        assert isinstance(location, LayoutLocation)  # noqa: S101 (the prefix says so)
        return location
    if text.startswith((OCI_ARCHIVE_PREFIX, DOCKER_ARCHIVE_PREFIX)):
        archive = parse_location(text, what=what)
        assert isinstance(archive, ArchiveLocation)  # noqa: S101 (the prefix says so)
        raise unsupported(archive, what=what)
    raise UsageError(f"{what} {text}: give an OCI layout, oci:DIR[:TAG]")


def unsupported(location: ArchiveLocation, *, what: str = "image") -> UsageError:
    """The error for an archive location where an argument takes no archive."""
    return UsageError(
        f"{what} {location.text}: {what} takes no {location.format}",
        hint=f"give oci:DIR[:TAG] here; repro push converts between layouts and archives "
        f"(repro push {location.text} oci:DIR:TAG, or from a layout to {location.format}:FILE)",
    )


__all__ = [
    "ArchiveLocation",
    "ImageLocation",
    "LayoutLocation",
    "RegistryLocation",
    "is_local",
    "parse_layout_location",
    "parse_location",
    "unsupported",
]
