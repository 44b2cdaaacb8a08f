"""``repro sbom``: read an image's layers once, run the catalogers, attribute every package
to the layer (and Dockerfile line) that brought it, list the binaries no package owns,
and write validated CycloneDX 1.6 and/or SPDX 2.3 documents (:mod:`repro.sbom.formats`).

    >>> layout = ImageLayout.open("out")                                   # doctest: +SKIP
    >>> document = generate_sbom(layout, layout.image("v1"), name="app")   # doctest: +SKIP

:func:`inventory_image` stops before the writer and returns the data, for callers that
want packages rather than a document (``repro sbom diff`` on two images).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from repro.digest import Digest
from repro.layers.filesystem import ImageFilesystem, is_shared_library_name
from repro.oci.layout import Image, ImageLayout
from repro.oci.models import Index
from repro.platform import Platform
from repro.sbom.catalogers import ALL, prefetch_globs, track_globs
from repro.sbom.catalogers.osrelease import OS_RELEASE_PATHS, find_distro
from repro.sbom.cyclonedx import ImageInfo, Inventory, InventoryComponent, UnownedFile
from repro.sbom.model import LAYER_PROPERTY, CatalogContext, Cataloger, LayerProperties, Package

if TYPE_CHECKING:
    from repro.config import Config
    from repro.sbom.cyclonedx import BackgroundValidator

__all__ = [
    "MAX_UNOWNED_FILES",
    "ImageSbom",
    "documents_for_reference",
    "generate_documents",
    "generate_sbom",
    "inventory_image",
    "sbom_for_reference",
    "sboms_for_reference",
]

logger = logging.getLogger(__name__)

#: Above this many unowned binaries, only their count is recorded (metadata properties).
MAX_UNOWNED_FILES = 2000


def _layer_origins(image: Image, dockerfile: Path | None) -> tuple[LayerProperties, ...]:
    mapped: dict[int, tuple[str | None, str | None]] = {}
    if dockerfile is not None:
        from repro.dockerfile import parse
        from repro.reproduce.history import map_image

        parsed = parse(dockerfile.read_bytes(), filename=dockerfile.name)
        history = map_image(image, parsed)
        for origin in history.origins:
            if origin.instruction is not None and origin.source == "instruction":
                mapped[origin.layer] = (origin.instruction.original, origin.location)
    origins = []
    for layer in image.layers:
        instruction, location = mapped.get(layer.index, (None, None))
        origins.append(
            LayerProperties(
                index=layer.index,
                digest=layer.digest,
                diff_id=layer.diff_id,
                created_by=layer.history.created_by if layer.history is not None else None,
                instruction=instruction,
                location=location,
            )
        )
    return tuple(origins)


def _merge(packages: Sequence[Package]) -> dict[str, list[Package]]:
    by_purl: dict[str, list[Package]] = {}
    for pkg in packages:
        by_purl.setdefault(pkg.purl, []).append(pkg)
    return by_purl


def _layer_of(pkg: Package, fs: ImageFilesystem) -> int | None:
    explicit = pkg.properties.get(LAYER_PROPERTY)
    if explicit is not None and explicit.isdigit():
        return int(explicit)
    layers = [layer for path in pkg.evidence if (layer := fs.first_layer(path)) is not None]
    return min(layers) if layers else None


def _components(
    packages: Sequence[Package], fs: ImageFilesystem, origins: Sequence[LayerProperties]
) -> list[InventoryComponent]:
    components = []
    for purl, group in sorted(_merge(packages).items()):
        first = group[0]
        if len(group) > 1:
            first = Package(
                type=first.type,
                name=first.name,
                version=first.version,
                purl=purl,
                evidence=tuple(sorted({e for p in group for e in p.evidence})),
                licenses=tuple(sorted({lic for p in group for lic in p.licenses})),
                files=tuple(sorted({f for p in group for f in p.files})),
                depends_on=tuple(sorted({d for p in group for d in p.depends_on})),
                properties=first.properties,
                supplier=first.supplier,
                description=first.description,
                hashes=first.hashes,
            )
        layers = [layer for p in group if (layer := _layer_of(p, fs)) is not None]
        origin = origins[min(layers)] if layers and 0 <= min(layers) < len(origins) else None
        components.append(InventoryComponent(first, tuple(sorted(set(first.evidence))), origin))
    return components


def _file_hashes(fs: ImageFilesystem, path: str) -> tuple[str, str]:
    """(sha256, sha1) of a file in one read: CycloneDX names files by the first, SPDX needs both."""
    import hashlib

    sha256, sha1 = hashlib.sha256(), hashlib.sha1()  # noqa: S324 (SPDX's mandatory file checksum)
    with fs.open(path) as stream:
        while chunk := stream.read(1024 * 1024):
            sha256.update(chunk)
            sha1.update(chunk)
    return sha256.hexdigest(), sha1.hexdigest()


def _unowned(
    fs: ImageFilesystem, packages: Sequence[Package], origins: Sequence[LayerProperties], max_listed: int
) -> tuple[list[UnownedFile], int]:
    """The ELF files no package claims (with their sha256), and how many there are."""
    owned: set[str] = set()
    parents: dict[str, str | None] = {}
    for pkg in packages:
        for path in (*pkg.files, *pkg.evidence):
            owned.add(path)
            # Packages name files by the path they shipped (bin/sh); the file system may
            # hold them under a symlinked directory (usr/bin/sh on merged-/usr systems).
            parent, _, base = path.rpartition("/")
            if parent not in parents:
                parents[parent] = fs.resolve(parent) if parent else ""
            resolved = parents[parent]
            if resolved is not None and resolved != parent:
                owned.add(f"{resolved}/{base}" if resolved else base)
    found = [entry for entry in fs.binaries() if entry.path not in owned]
    if len(found) > max_listed:
        return [], len(found)  # only counted: hashing them all would be the slow part
    unowned = []
    for entry in found:
        kind = "shared-library" if is_shared_library_name(entry.path) else "executable"
        origin = origins[entry.layer] if 0 <= entry.layer < len(origins) else None
        sha256, sha1 = _file_hashes(fs, entry.path)
        unowned.append(UnownedFile(entry.path, sha256, entry.size, kind, origin, sha1=sha1))
    return unowned, len(found)


def inventory_image(
    layout: ImageLayout,
    image: Image,
    *,
    name: str | None = None,
    repository_url: str | None = None,
    tag: str | None = None,
    dockerfile: Path | None = None,
    catalogers: Sequence[Cataloger] = ALL,
    max_unowned: int = MAX_UNOWNED_FILES,
) -> Inventory:
    """Scan ``image`` and return what its SBOM will say (see the module documentation)."""
    fs = ImageFilesystem.scan(
        layout,
        image,
        prefetch=[*OS_RELEASE_PATHS, *prefetch_globs(catalogers)],
        track=track_globs(catalogers),
        inspect_binaries=True,
    )
    distro = find_distro(fs)
    architecture = str(image.config.get("architecture", ""))
    context = CatalogContext(distro=distro, architecture=architecture)
    packages: list[Package] = []
    for cataloger in catalogers:
        found = cataloger.catalog(fs, context)
        logger.info("%s: %d package(s)", cataloger.name, len(found))
        packages.extend(found)
    origins = _layer_origins(image, dockerfile)
    unowned, unowned_total = _unowned(fs, packages, origins, max_unowned)
    info = ImageInfo(
        name=name or "image",
        digest=str(image.digest),
        config_digest=str(image.manifest.config.digest),
        architecture=architecture,
        os=str(image.config.get("os", "")),
        created=image.config.get("created") if isinstance(image.config.get("created"), str) else None,
        repository_url=repository_url,
        tag=tag,
    )
    logger.info("%d path(s), %d layer pass(es), %d unowned binaries", len(fs), fs.layer_passes, unowned_total)
    return Inventory(
        image=info,
        distro=distro,
        components=tuple(_components(packages, fs, origins)),
        unowned=tuple(unowned),
        unowned_total=unowned_total,
    )


def generate_documents(
    layout: ImageLayout,
    image: Image,
    *,
    formats: Sequence[str],
    name: str | None,
    repository_url: str | None = None,
    tag: str | None = None,
    dockerfile: Path | None = None,
    catalogers: Sequence[Cataloger] = ALL,
    max_unowned: int = MAX_UNOWNED_FILES,
    validate_in_worker: bool = False,
    validator: BackgroundValidator | None = None,
) -> dict[str, bytes]:
    """The SBOM of ``image`` in each of ``formats`` (:data:`repro.sbom.formats.FORMATS`),
    from one scan of its layers: format -> validated bytes; same image, same bytes.

    ``name`` is the image's name in the SBOM (the last path component of its repository,
    ``debian``); ``repository_url`` (``registry.example.com/team/app``) goes into its
    ``pkg:oci`` purl when known. With ``dockerfile``, components get the ``file:line`` of
    the instruction that made their layer.

    ``validate_in_worker`` sets the CycloneDX validator up in a worker process while the
    layers are read (about a second saved on two cores). The worker is started with
    ``spawn``, which imports the calling program's ``__main__`` again: only a program whose
    main module is guarded by ``if __name__ == "__main__"`` (the ``repro`` command is)
    should ask for it. A ``validator`` given is used instead (one for several images).
    """
    from repro.sbom.cyclonedx import BackgroundValidator
    from repro.sbom.formats import render_format

    wants_cyclonedx = "cyclonedx-json" in formats
    with ExitStack() as stack:
        if validator is None:
            validator = stack.enter_context(
                BackgroundValidator(use_worker=validate_in_worker and wants_cyclonedx)
            )
        inventory = inventory_image(
            layout,
            image,
            name=name,
            repository_url=repository_url,
            tag=tag,
            dockerfile=dockerfile,
            catalogers=catalogers,
            max_unowned=max_unowned,
        )
        return {fmt: render_format(inventory, fmt, validator=validator) for fmt in dict.fromkeys(formats)}


def generate_sbom(
    layout: ImageLayout,
    image: Image,
    *,
    name: str | None,
    repository_url: str | None = None,
    tag: str | None = None,
    dockerfile: Path | None = None,
    catalogers: Sequence[Cataloger] = ALL,
    max_unowned: int = MAX_UNOWNED_FILES,
    validate_in_worker: bool = False,
) -> bytes:
    """The CycloneDX 1.6 JSON SBOM of ``image``: :func:`generate_documents` for that format."""
    return generate_documents(
        layout,
        image,
        formats=("cyclonedx-json",),
        name=name,
        repository_url=repository_url,
        tag=tag,
        dockerfile=dockerfile,
        catalogers=catalogers,
        max_unowned=max_unowned,
        validate_in_worker=validate_in_worker,
    )["cyclonedx-json"]


@dataclass(frozen=True)
class ImageSbom:
    """The SBOM documents of one image of an image location: for an index, of one platform."""

    #: The platform its index lists it for; None for an image that is not in an index.
    platform: Platform | None
    #: The digest of the manifest described.
    digest: Digest
    #: format -> validated bytes (see :func:`generate_documents`).
    documents: Mapping[str, bytes]


@contextmanager
def _located_images(
    text: str, config: Config | None, platforms: Sequence[Platform], *, host_default: bool
) -> Iterator[tuple[str | None, str | None, list[tuple[Platform | None, ImageLayout, Image]]]]:
    """The images ``text`` names, each in a layout: (name, repository, images).

    For an index: the images of ``platforms`` (every platform image without them, or
    the host's with ``host_default``). A single image must be of ``platforms``. A
    registry image is pulled into a temporary layout (every blob verified) first.
    """
    from repro.images.location import ArchiveLocation, LayoutLocation, RegistryLocation, parse_location
    from repro.images.pull import select_platforms

    location = parse_location(text)
    wanted = tuple(platforms) or ((Platform.host(),) if host_default else ())

    def in_layout(directory: Path, tag: str | None) -> list[tuple[Platform | None, ImageLayout, Image]]:
        layout = ImageLayout.open(directory)
        target = layout.find(tag)
        document = layout.manifest(target)
        if isinstance(document, Index):
            entries = select_platforms(document, wanted, what=text)
            return [(entry.platform, layout, layout.image(descriptor=entry)) for entry in entries]
        image = layout.image(descriptor=target)
        _check_platforms(text, image, platforms)
        return [(None, layout, image)]

    if isinstance(location, ArchiveLocation):
        from repro.images.archive import unpack_archive

        with tempfile.TemporaryDirectory(prefix="repro-sbom-") as tmp:
            unpacked = unpack_archive(location, Path(tmp) / "layout")
            yield location.file.name.split(".", 1)[0], None, in_layout(unpacked.directory, unpacked.tag)
        return
    if isinstance(location, LayoutLocation):
        yield location.directory.resolve().name, None, in_layout(location.directory, location.tag)
        return
    assert isinstance(location, RegistryLocation)  # noqa: S101 (every other form is handled above)
    from repro.images.pull import pull_image
    from repro.images.store import RegistryStore
    from repro.registry.client import RegistryClient

    ref = location.ref
    with tempfile.TemporaryDirectory(prefix="repro-sbom-") as tmp, RegistryClient(config) as client:
        store = RegistryStore(client, ref)
        top = store.get_manifest(None)
        pulled: list[tuple[Platform | None, ImageLayout, Image]] = []
        if isinstance(top, Index):
            for number, entry in enumerate(select_platforms(top, wanted, what=text)):
                directory = Path(tmp) / str(number)
                pull_image(store, directory, reference=str(entry.digest), tag="image")
                layout = ImageLayout.open(directory)
                pulled.append((entry.platform, layout, layout.image("image")))
        else:
            pull_image(store, Path(tmp) / "0", reference=str(top.digest), tag="image")
            layout = ImageLayout.open(Path(tmp) / "0")
            image = layout.image("image")
            _check_platforms(text, image, platforms)
            pulled.append((None, layout, image))
        yield ref.path.rsplit("/", 1)[-1], ref.name, pulled


def _check_platforms(text: str, image: Image, platforms: Sequence[Platform]) -> None:
    """A single image describes ``platforms`` only if its config says it is of each."""
    from repro.errors import PlatformNotFoundError, UsageError

    if not platforms:
        return
    try:
        platform = Platform.from_oci(image.config)
    except UsageError:
        platform = None
    for wanted in platforms:
        if platform is None or not platform.matches(wanted):
            raise PlatformNotFoundError(
                f"{text}: not an index, and its image is {platform or 'of no platform'}, not {wanted}",
                hint="leave out --platform for a single image",
            )


def sboms_for_reference(
    text: str,
    *,
    config: Config | None = None,
    dockerfile: Path | None = None,
    platforms: Sequence[Platform] = (),
    name: str | None = None,
    validate_in_worker: bool = False,
    formats: Sequence[str] = ("cyclonedx-json",),
    before_scan: Callable[[Sequence[Platform | None]], None] | None = None,
) -> list[ImageSbom]:
    """:func:`generate_documents` for every image an image location (``oci:DIR[:TAG]`` or a
    registry reference) names: one :class:`ImageSbom` for a single image, one per platform
    image of an index (those of ``platforms``, in that order; default: every one, in index
    order). A registry image's name and repository go into its ``pkg:oci`` purl.
    ``before_scan`` is called with the platforms found before any layer is read (to
    refuse what cannot be written early).
    """
    from repro.sbom.cyclonedx import BackgroundValidator

    use_worker = validate_in_worker and "cyclonedx-json" in formats
    with _located_images(text, config, platforms, host_default=False) as (found_name, repository, images):
        if before_scan is not None:
            before_scan([platform for platform, _, _ in images])
        with BackgroundValidator(use_worker=use_worker) as validator:
            return [
                ImageSbom(
                    platform,
                    image.digest,
                    generate_documents(
                        layout,
                        image,
                        name=name or found_name,
                        repository_url=repository,
                        tag=_tag_of(text),
                        dockerfile=dockerfile,
                        formats=formats,
                        validator=validator,
                    ),
                )
                for platform, layout, image in images
            ]


def _tag_of(text: str) -> str | None:
    from repro.images.location import ArchiveLocation, LayoutLocation, parse_location

    location = parse_location(text)
    if isinstance(location, ArchiveLocation):
        return location.reference.rpartition(":")[2] if location.reference else None
    if isinstance(location, LayoutLocation):
        return location.tag
    return location.ref.tag


def documents_for_reference(
    text: str,
    *,
    config: Config | None = None,
    dockerfile: Path | None = None,
    platform: Platform | None = None,
    name: str | None = None,
    validate_in_worker: bool = False,
    formats: Sequence[str] = ("cyclonedx-json",),
) -> dict[str, bytes]:
    """The documents of the one image ``text`` names: for an index, its ``platform`` image
    (default: the host's); see :func:`sboms_for_reference`."""
    with _located_images(text, config, (platform,) if platform else (), host_default=True) as (
        found_name,
        repository,
        images,
    ):
        (_, layout, image), *_ = images
        return generate_documents(
            layout,
            image,
            name=name or found_name,
            repository_url=repository,
            tag=_tag_of(text),
            dockerfile=dockerfile,
            validate_in_worker=validate_in_worker,
            formats=formats,
        )


def sbom_for_reference(
    text: str,
    *,
    config: Config | None = None,
    dockerfile: Path | None = None,
    platform: Platform | None = None,
    name: str | None = None,
    validate_in_worker: bool = False,
) -> bytes:
    """The CycloneDX SBOM of ``oci:DIR[:TAG]`` or a registry reference (:func:`documents_for_reference`)."""
    return documents_for_reference(
        text,
        config=config,
        dockerfile=dockerfile,
        platform=platform,
        name=name,
        validate_in_worker=validate_in_worker,
    )["cyclonedx-json"]
