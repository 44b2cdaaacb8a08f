"""What a release signs: the statements about each image it built, and about its index.

Each image's statements (:func:`repro.attest.provenance.release_statements`) have that
image's manifest as their subject; for a platform of a multi-platform release, the
provenance names that platform only. The index of a multi-platform release gets its own
provenance and signature (:func:`repro.attest.provenance.index_release_statements`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from repro.errors import UsageError

if TYPE_CHECKING:
    from repro.attest.provenance import ReleaseBuild, SourceState
    from repro.attest.statements import Statement
    from repro.build.engine import BuildResult
    from repro.digest import Digest
    from repro.oci.layout import Image
    from repro.oci.models import Descriptor
    from repro.reference import ImageRef
    from repro.release.images import BuiltRelease, ReleasedImage
    from repro.release.pipeline import ReleaseOptions

__all__ = ["build_statements", "image_descriptor", "index_statements"]


def image_descriptor(built_image: Image) -> Descriptor:
    """The descriptor a referrer names as its subject."""
    from repro.oci.models import Descriptor

    manifest = built_image.manifest
    return Descriptor(manifest.media_type, manifest.digest, manifest.size)


def build_statements(
    options: ReleaseOptions,
    *,
    image: ImageRef,
    built: BuiltRelease,
    one: ReleasedImage,
    source: SourceState | None = None,
) -> list[Statement]:
    """The statements a release signs about one image (see
    :func:`repro.attest.provenance.release_statements`): for a platform of an index, that
    platform's manifest is the subject and the platform the only one its provenance names."""
    from repro.attest.provenance import release_statements

    platform = one.platform or options.build.platform
    return release_statements(
        _release_build(
            options,
            image,
            built,
            digest=one.image.digest,
            builds=one.built.result.builds,
            source=source,
            platforms=platform,
        ),
        one.sbom,
    )


def index_statements(
    options: ReleaseOptions, *, image: ImageRef, built: BuiltRelease, source: SourceState | None = None
) -> list[Statement]:
    """The statements a multi-platform release signs about its index (see
    :func:`repro.attest.provenance.index_release_statements`)."""
    from repro.attest.provenance import index_release_statements

    if built.index is None:
        raise UsageError("index_statements(): the release built one image, not an index")
    first = built.images[0].result.builds
    return index_release_statements(
        _release_build(
            options,
            image,
            built,
            digest=built.index.digest,
            builds=first,
            source=source,
            platforms=options.build.platform,
        ),
        {str(one.platform): one.digest for one in built.images},
        engines=[b for one in built.images for b in one.result.builds],
    )


def _release_build(
    options: ReleaseOptions,
    image: ImageRef,
    built: BuiltRelease,
    *,
    digest: Digest,
    builds: tuple[BuildResult, BuildResult],
    source: SourceState | None,
    platforms: str | None,
) -> ReleaseBuild:
    from repro.attest.provenance import ReleaseBuild, base_images

    return ReleaseBuild(
        name=image.name,
        digest=digest,
        builds=builds,
        started=built.started,
        finished=built.finished,
        dockerfile=options.dockerfile_name or _relative(options.dockerfile_path, options.build.context),
        source=source,
        base_images=base_images(options.dockerfile_path, options.build.build_args),
        target=options.build.target,
        platforms=tuple(p.strip() for p in platforms.split(",")) if platforms else (),
        build_args=options.build.build_args,
    )


def _relative(path: Path, base: Path) -> str:
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return path.as_posix()
