"""Copy an image from any image store into a local OCI image layout.

Used by ``repro diff`` and ``repro sbom`` for images named by a registry reference.
Every byte is checked: the manifest against its digest by the store, each blob while
it streams.

    >>> with RegistryClient(config) as client:                          # doctest: +SKIP
    ...     store = RegistryStore(client, parse_reference("debian:bookworm"))
    ...     pull_image(store, Path("out"))
    Descriptor(media_type='application/vnd.oci.image.manifest.v1+json', digest=…)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from repro.errors import PlatformNotFoundError
from repro.images.store import ImageStore
from repro.oci.layout import ImageLayout
from repro.oci.models import Descriptor, Index, Manifest
from repro.platform import Platform
from repro.threads import worker_pool

#: Blobs fetched at once; the registry client bounds requests per registry as well.
PULL_WORKERS = 4


def _pick(index: Index, what: str, platform: Platform) -> Descriptor:
    return select_platforms(index, (platform,), what=what)[0]


def select_platforms(
    index: Index, platforms: Sequence[Platform] = (), *, what: str
) -> tuple[Descriptor, ...]:
    """The platform images of ``index``: all of them, or those of ``platforms`` in that order.

    BuildKit's attestation entries are never images. A platform asked for that the index
    does not have is a :class:`~repro.errors.PlatformNotFoundError` naming the ones it has.
    """
    entries = index.platform_manifests()
    if not platforms:
        if not entries:
            raise PlatformNotFoundError(f"{what}: the index lists no image for any platform")
        return entries
    chosen: list[Descriptor] = []
    for platform in platforms:
        found = [d for d in entries if d.platform is not None and d.platform.matches(platform)]
        if not found:
            available = ", ".join(str(d.platform) for d in entries) or "none"
            raise PlatformNotFoundError(f"{what}: no image for platform {platform} (has: {available})")
        if found[0] not in chosen:
            chosen.append(found[0])
    return tuple(chosen)


def pull_image(
    store: ImageStore,
    destination: Path,
    *,
    reference: str | None = None,
    tag: str = "latest",
    platform: Platform | None = None,
) -> Descriptor:
    """Copy the image ``reference`` of ``store`` (default: the one it was opened for; for
    an index, the ``platform`` image, default the host's) into the layout at
    ``destination`` tagged ``tag``; return the descriptor of its manifest."""
    document = store.get_manifest(reference)
    what = f"{store.name}:{reference}" if reference else store.name
    if isinstance(document, Index):
        chosen = _pick(document, what, platform or Platform.host())
        document = store.get_manifest(str(chosen.digest))
        if not isinstance(document, Manifest):
            raise PlatformNotFoundError(f"{what}: {chosen.digest} is a nested index")
    layout = ImageLayout.create(destination)
    wanted = [d for d in (document.config, *document.layers) if not layout.has_blob(d.digest)]

    def fetch(descriptor: Descriptor) -> None:
        store.fetch_blob(descriptor.digest, layout.blob_path(descriptor.digest), size=descriptor.size)

    with worker_pool(PULL_WORKERS, "repro-pull") as pool:
        for _ in pool.map(fetch, wanted):
            pass
    descriptor = layout.write_blob(document.data, document.media_type)
    layout.set_tag(tag, descriptor)
    return descriptor
