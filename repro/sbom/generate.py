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
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from repro.layers.filesystem import ImageFilesystem, is_shared_library_name
from repro.oci.layout import Image, ImageLayout
from repro.sbom.catalogers import ALL, prefetch_globs, track_globs
from repro.sbom.catalogers.osrelease import OS_RELEASE_PATHS, find_distro
from repro.sbom.cyclonedx import ImageInfo, Inventory, InventoryComponent, UnownedFile
from repro.sbom.model import LAYER_PROPERTY, CatalogContext, Cataloger, LayerProperties, Package

if TYPE_CHECKING:
    from repro.config import Config
    from repro.platform import Platform

__all__ = [
    "MAX_UNOWNED_FILES",
    "documents_for_reference",
    "generate_documents",
    "generate_sbom",
    "inventory_image",
    "sbom_for_reference",
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
    should ask for it.
    """
    from repro.sbom.cyclonedx import BackgroundValidator
    from repro.sbom.formats import render_format

    wants_cyclonedx = "cyclonedx-json" in formats
    with BackgroundValidator(use_worker=validate_in_worker and wants_cyclonedx) as validator:
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
    """:func:`generate_documents` for an image location (``oci:DIR[:TAG]``, an archive or a
    registry reference).

    An archive is unpacked into a temporary layout (see :mod:`repro.images.archive`) and a
    registry image is pulled into a temporary layout (every blob verified) first; its
    name and repository go into the image's ``pkg:oci`` purl. ``validate_in_worker`` is
    :func:`generate_documents`'s.
    """
    import tempfile

    from repro.images.location import ArchiveLocation, LayoutLocation, RegistryLocation, parse_location
    from repro.images.store import RegistryStore

    location = parse_location(text)
    if isinstance(location, ArchiveLocation):
        from repro.images.archive import unpack_archive

        with tempfile.TemporaryDirectory(prefix="repro-sbom-") as tmp:
            unpacked = unpack_archive(location, Path(tmp) / "layout")
            layout = ImageLayout.open(unpacked.directory)
            return generate_documents(
                layout,
                layout.image(unpacked.tag),
                name=name or location.file.name.split(".", 1)[0],
                tag=location.reference.rpartition(":")[2] if location.reference else None,
                dockerfile=dockerfile,
                validate_in_worker=validate_in_worker,
                formats=formats,
            )
    if isinstance(location, LayoutLocation):
        layout = ImageLayout.open(location.directory)
        image = layout.image(location.tag)
        return generate_documents(
            layout,
            image,
            name=name or location.directory.resolve().name,
            tag=location.tag,
            dockerfile=dockerfile,
            validate_in_worker=validate_in_worker,
            formats=formats,
        )
    assert isinstance(location, RegistryLocation)  # noqa: S101 (every other form is handled above)
    from repro.images.pull import pull_image
    from repro.registry.client import RegistryClient

    ref = location.ref
    with tempfile.TemporaryDirectory(prefix="repro-sbom-") as tmp, RegistryClient(config) as client:
        pull_image(RegistryStore(client, ref), Path(tmp), tag="image", platform=platform)
        layout = ImageLayout.open(tmp)
        return generate_documents(
            layout,
            layout.image("image"),
            name=name or ref.path.rsplit("/", 1)[-1],
            repository_url=ref.name,
            tag=ref.tag,
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
