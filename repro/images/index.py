"""Multi-platform images: combine single-platform layouts into one OCI image index.

A multi-platform build builds each platform into a layout of its own (one plain image
manifest each, normalised as a single-platform build is) and then combines them::

    combine_platforms([Path("amd64"), Path("arm64")], Path("out"), tag="latest")

``out`` then holds one image index tagged ``latest`` whose entries are the two manifests,
each with the platform its config states. The index bytes depend only on the images and
their order, so two builds of the same images give the same index digest.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from repro.digest import Digest
from repro.errors import ImageError, UsageError
from repro.oci import media
from repro.oci.layout import ImageLayout
from repro.oci.models import Descriptor, Index, Manifest, index_json
from repro.platform import Platform

_CHUNK = 1024 * 1024


def combine_platforms(images: Sequence[Path], output: Path, *, tag: str) -> Descriptor:
    """Write one OCI image index into the layout ``output`` (created if missing) whose
    manifests are the single images of the layouts ``images`` (each tagged image read with
    its platform from its config: os, architecture, variant), in the given order, blobs
    copied/hard-linked, and tag it ``tag``. Returns the index's descriptor.
    Refuses two images of the same platform. Deterministic bytes."""
    if not images:
        raise ImageError("no images to combine into an index")
    if not tag:
        raise UsageError("an index needs a tag to be found by in its layout")
    entries: list[tuple[ImageLayout, Descriptor, Manifest, Platform]] = []
    for path in images:
        layout = ImageLayout.open(path)
        descriptor = layout.find()
        document = layout.manifest(descriptor)
        if isinstance(document, Index):
            raise ImageError(f"{path}: holds an image index, not a single-platform image")
        platform = _config_platform(layout, path, layout.config(document))
        for *_, seen in entries:
            if seen == platform:
                raise ImageError(f"{path}: a second image for platform {platform}; each platform once")
        entries.append((layout, descriptor, document, platform))

    target = ImageLayout.create(output)
    manifests: list[dict[str, object]] = []
    for layout, descriptor, manifest, platform in entries:
        for blob in (manifest.config, *manifest.layers):
            _link_blob(layout, target, blob)
        _link_blob(layout, target, descriptor)
        entry = Descriptor(
            media_type=manifest.media_type,
            digest=manifest.digest,
            size=manifest.size,
            platform=platform,
        )
        manifests.append(entry.to_json())
    index = target.write_blob(index_json(manifests), media.OCI_INDEX)
    target.set_tag(tag, index)
    return index


def _config_platform(layout: ImageLayout, path: Path, config: dict[str, object]) -> Platform:
    """The platform an image's config states; an image that states none is refused."""
    try:
        return Platform.from_oci(config)
    except UsageError as exc:
        raise ImageError(f"{path}: the image config does not say its platform ({exc})") from exc


def _link_blob(source: ImageLayout, target: ImageLayout, descriptor: Descriptor) -> None:
    """Put blob ``descriptor`` of ``source`` into ``target``: a hard link where both are on
    one file system, a copy otherwise; either way its bytes are checked against the digest."""
    if target.has_blob(descriptor.digest):
        return
    origin = source.blob_path(descriptor.digest)
    if not origin.is_file():
        raise ImageError(f"{source.path}: blob {descriptor.digest} is missing")
    if origin.stat().st_size != descriptor.size:
        raise ImageError(
            f"{origin}: blob is {origin.stat().st_size} bytes, its descriptor says {descriptor.size}"
        )
    destination = target.blob_path(descriptor.digest)
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=destination.parent, prefix=".link.")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        tmp.unlink()
        try:
            os.link(origin, tmp)
        except OSError:
            target.import_blob(origin, descriptor.digest)
            return
        _check_digest(tmp, descriptor.digest)
        tmp.replace(destination)
    finally:
        tmp.unlink(missing_ok=True)


def _check_digest(path: Path, digest: Digest) -> None:
    hasher = Digest.hasher(digest.algorithm)
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            hasher.update(chunk)
    if hasher.digest() != digest:
        raise ImageError(f"{path}: content does not match {digest} (corrupted layout)")


def index_platforms(layout: ImageLayout, descriptor: Descriptor) -> list[tuple[Platform, Descriptor]]:
    """The platform manifests of the index at ``descriptor``, in index order."""
    document = layout.manifest(descriptor)
    if not isinstance(document, Index):
        raise ImageError(f"{layout.path}: {descriptor.digest} is not an image index")
    return [(d.platform, d) for d in document.platform_manifests() if d.platform is not None]


__all__ = ["combine_platforms", "index_platforms"]
