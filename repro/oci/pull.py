"""Copy an image from a registry into a local OCI image layout.

Used by ``repro diff`` for images named by a registry reference. Every byte is checked:
the manifest against its digest by the registry client, each blob while it streams.

    >>> with RegistryClient(config) as client:                          # doctest: +SKIP
    ...     pull_image(client, parse_reference("debian:bookworm"), Path("out"))
    Descriptor(media_type='application/vnd.oci.image.manifest.v1+json', digest=…)
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from repro.errors import PlatformNotFoundError
from repro.oci.layout import ImageLayout
from repro.oci.models import Descriptor, Index, Manifest
from repro.platform import Platform
from repro.reference import ImageRef

if TYPE_CHECKING:
    from repro.registry.client import RegistryClient

#: Blobs fetched at once; the registry client bounds requests per registry as well.
PULL_WORKERS = 4


def _pick(index: Index, ref: ImageRef, platform: Platform) -> Descriptor:
    for descriptor in index.platform_manifests():
        if descriptor.platform is not None and descriptor.platform.matches(platform):
            return descriptor
    available = ", ".join(str(d.platform) for d in index.platform_manifests()) or "none"
    raise PlatformNotFoundError(f"{ref.text}: no image for platform {platform} (has: {available})")


def pull_image(
    client: RegistryClient,
    ref: ImageRef,
    destination: Path,
    *,
    tag: str = "latest",
    platform: Platform | None = None,
) -> Descriptor:
    """Pull ``ref`` (for an index: the ``platform`` image, default the host's) into the
    layout at ``destination`` tagged ``tag``; return the descriptor of its manifest."""
    document = client.get_manifest(ref)
    if isinstance(document, Index):
        chosen = _pick(document, ref, platform or Platform.host())
        document = client.get_manifest(dataclasses.replace(ref, digest=chosen.digest))
        if not isinstance(document, Manifest):
            raise PlatformNotFoundError(f"{ref.text}: {chosen.digest} is a nested index")
    layout = ImageLayout.create(destination)
    wanted = [d for d in (document.config, *document.layers) if not layout.has_blob(d.digest)]

    def fetch(descriptor: Descriptor) -> None:
        client.fetch_blob(
            ref.domain, ref.path, descriptor.digest, layout.blob_path(descriptor.digest), size=descriptor.size
        )

    with ThreadPoolExecutor(max_workers=PULL_WORKERS, thread_name_prefix="repro-pull") as pool:
        for _ in pool.map(fetch, wanted):
            pass
    descriptor = layout.write_blob(document.data, document.media_type)
    layout.set_tag(tag, descriptor)
    return descriptor
