"""Image stores: one interface over a registry repository and an OCI image layout.

An :class:`ImageStore` holds manifests (by digest, some tagged), the blobs they name,
and referrers (artifacts whose ``subject`` is one of its manifests). Push, pull,
export, ``sbom``, ``diff``, ``verify-image`` and ``release`` work through this protocol
and never ask which kind of store they hold; a new kind of store (an archive, a Docker
Engine) is a new class here, not an ``if`` in each of them.

    with RegistryClient(config) as client:
        store = open_store(parse_location("registry.example/app:1.0"), client=client)
        index = store.get_manifest()          # the manifest the location names
    store = open_store(parse_location("oci:out:v1"))
    store.referrers(index.digest)

Writes follow one order in every store (see :mod:`repro.images.push`): blobs, then
manifests by digest, then referrers, and :meth:`ImageStore.tag` last.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import re
import shutil
import tempfile
import weakref
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Final, Literal, Protocol

from repro.digest import Digest
from repro.errors import ImageError, UsageError
from repro.fsutil import atomic_write
from repro.images.location import ArchiveLocation, ImageLocation, LayoutLocation
from repro.oci import media
from repro.oci.layout import MAX_DOCUMENT_SIZE, REF_NAME, ImageLayout
from repro.oci.models import AnyManifest, Descriptor, Index, Manifest, parse_manifest

if TYPE_CHECKING:
    from repro.reference import ImageRef
    from repro.registry.client import RegistryClient

logger = logging.getLogger(__name__)

#: What happened to a blob a store was asked to hold.
BlobOutcome = Literal["exists", "mounted", "uploaded"]

_FALLBACK_TAG = re.compile(r"sha(256|512)-[0-9a-f]+")
_CHUNK = 1024 * 1024


#: The ``index.json`` annotation by which cosign finds the image of an OCI layout, and its values.
COSIGN_KIND: Final = "kind"
COSIGN_IMAGE: Final = "dev.cosignproject.cosign/image"
COSIGN_IMAGE_INDEX: Final = "dev.cosignproject.cosign/imageIndex"


class ImageStore(Protocol):
    """Where images live: read manifests and blobs, write them, list and add referrers.

    ``name`` is what messages and results call the store (``host/path``, ``oci:DIR``).
    A ``reference`` is a tag or a digest (``sha256:…``); None means the image the store
    was opened for (the reference of a registry location, the tag of a layout location,
    else the layout's only image).
    """

    name: str

    def get_manifest(self, reference: str | None = None) -> AnyManifest:
        """The manifest or index ``reference`` names, its bytes checked against its digest."""
        ...

    def has_blob(self, digest: Digest) -> bool: ...

    def read_blob(
        self, digest: Digest, *, size: int | None = None, max_size: int = MAX_DOCUMENT_SIZE
    ) -> bytes:
        """A small blob's bytes, verified against ``digest`` (and ``size`` when given)."""
        ...

    def fetch_blob(self, digest: Digest, dest: Path, *, size: int | None = None) -> None:
        """Copy blob ``digest`` to the file ``dest``, verified; nothing is left on failure."""
        ...

    def push_blob(
        self, digest: Digest, source: Path | BinaryIO, size: int, *, mount_from: str | None = None
    ) -> BlobOutcome:
        """Make sure the store holds blob ``digest`` (read from ``source``, verified); say how."""
        ...

    def push_manifest(self, document: AnyManifest) -> Digest:
        """Store a manifest by its digest, untagged; everything it names must be there."""
        ...

    def referrers(self, subject: Digest, artifact_type: str | None = None) -> list[Descriptor]:
        """Descriptors of the manifests whose ``subject`` is ``subject`` (of one type if given)."""
        ...

    def push_referrer(self, manifest: bytes, media_type: str, subject: Digest) -> Digest:
        """Store an artifact manifest whose subject is ``subject`` and make it findable."""
        ...

    def tag(self, tag: str, document: AnyManifest) -> None:
        """Point ``tag`` at ``document`` (already stored): the last write of a push."""
        ...


def is_digest(reference: str) -> bool:
    """Tags cannot contain ``:``, digests always do."""
    return ":" in reference


# -- registry ------------------------------------------------------------------------------


class RegistryStore:
    """One repository of a registry, through :class:`~repro.registry.client.RegistryClient`."""

    def __init__(self, client: RegistryClient, ref: ImageRef) -> None:
        self.client = client
        self.ref = ref
        self.name = f"{ref.domain}/{ref.path}"

    def __repr__(self) -> str:
        return f"RegistryStore({self.name!r})"

    def _ref(self, reference: str | None) -> ImageRef:
        if reference is None:
            return self.ref
        if is_digest(reference):
            return dataclasses.replace(
                self.ref, text=f"{self.name}@{reference}", tag=None, digest=Digest.parse(reference)
            )
        return dataclasses.replace(self.ref, text=f"{self.name}:{reference}", tag=reference, digest=None)

    def get_manifest(self, reference: str | None = None) -> AnyManifest:
        return self.client.get_manifest(self._ref(reference))

    def has_blob(self, digest: Digest) -> bool:
        return self.client.blob_exists(self.ref.domain, self.ref.path, digest)

    def read_blob(
        self, digest: Digest, *, size: int | None = None, max_size: int = MAX_DOCUMENT_SIZE
    ) -> bytes:
        if size is not None and size > max_size:
            raise ImageError(f"blob {self.name}@{digest}: {size} bytes, more than {max_size}")
        buffer = io.BytesIO()
        self.client.fetch_blob(self.ref.domain, self.ref.path, digest, buffer, size=size)
        data = buffer.getvalue()
        if len(data) > max_size:
            raise ImageError(f"blob {self.name}@{digest}: more than {max_size} bytes")
        return data

    def fetch_blob(self, digest: Digest, dest: Path, *, size: int | None = None) -> None:
        self.client.fetch_blob(self.ref.domain, self.ref.path, digest, dest, size=size)

    def push_blob(
        self, digest: Digest, source: Path | BinaryIO, size: int, *, mount_from: str | None = None
    ) -> BlobOutcome:
        return self.client.push_blob(
            self.ref.domain, self.ref.path, digest, source, size, mount_from=mount_from
        )

    def push_manifest(self, document: AnyManifest) -> Digest:
        return self.client.push_manifest(
            self.ref.domain, self.ref.path, str(document.digest), document.data, document.media_type
        )

    def referrers(self, subject: Digest, artifact_type: str | None = None) -> list[Descriptor]:
        return self.client.referrers(self.ref.domain, self.ref.path, subject, artifact_type)

    def push_referrer(self, manifest: bytes, media_type: str, subject: Digest) -> Digest:
        return self.client.push_referrer(self.ref.domain, self.ref.path, manifest, media_type, subject)

    def tag(self, tag: str, document: AnyManifest) -> None:
        self.client.push_manifest(self.ref.domain, self.ref.path, tag, document.data, document.media_type)


# -- OCI image layout ------------------------------------------------------------------------


class LayoutStore:
    """An OCI image layout directory.

    A referrer is an untagged ``index.json`` entry (the artifact's descriptor), found by
    the ``subject`` of the manifest it points at: how OCI layout stores that support
    referrers keep them. Indexes tagged with the registry fallback schema
    (``sha256-<hex>``) that other tools write are read as referrers lists too; repro does
    not write them into layouts.
    """

    def __init__(self, layout: ImageLayout, tag: str | None = None, *, create: bool = False) -> None:
        self.layout = layout
        self.default_tag = tag
        self.name = f"oci:{layout.path}"
        self._create = create

    def __repr__(self) -> str:
        return f"LayoutStore({self.name!r})"

    @classmethod
    def open(cls, directory: Path, tag: str | None = None) -> LayoutStore:
        """An existing layout (:class:`~repro.errors.ImageError` if there is none)."""
        return cls(ImageLayout.open(directory), tag)

    @classmethod
    def create(cls, directory: Path, tag: str | None = None) -> LayoutStore:
        """The layout at ``directory``, made empty on the first write if there is none.

        Nothing is written before then, so a push refused for its input leaves no
        directory behind.
        """
        return cls(ImageLayout(directory), tag, create=True)

    def _writable(self) -> ImageLayout:
        if self._create:
            self.layout = ImageLayout.create(self.layout.path)
            self._create = False
        return self.layout

    def find(self, reference: str | None = None) -> Descriptor:
        """The descriptor ``reference`` names; without one, the layout's only image.

        Artifacts (entries with an ``artifactType``) and fallback referrers indexes do not
        count as images when looking for the only one.
        """
        reference = reference if reference is not None else self.default_tag
        if reference is None:
            images = [
                d
                for d in self.layout.index().manifests
                if d.artifact_type is None and not _FALLBACK_TAG.fullmatch(d.annotations.get(REF_NAME, ""))
            ]
            return images[0] if len(images) == 1 else self.layout.find(None)
        if not is_digest(reference):
            return self.layout.find(reference)
        digest = Digest.parse(reference)
        for entry in self.layout.index().manifests:
            if entry.digest == digest:
                return entry
        data = self.layout.read_blob(digest)
        document = parse_manifest(data, None, digest=digest)
        return Descriptor(document.media_type, digest, len(data))

    def get_manifest(self, reference: str | None = None) -> AnyManifest:
        return self.layout.manifest(self.find(reference))

    def has_blob(self, digest: Digest) -> bool:
        return self.layout.has_blob(digest)

    def read_blob(
        self, digest: Digest, *, size: int | None = None, max_size: int = MAX_DOCUMENT_SIZE
    ) -> bytes:
        data = self.layout.read_blob(digest, max_size=max_size)
        if size is not None and len(data) != size:
            raise ImageError(f"{self.name}: blob {digest} has {len(data)} bytes, not {size}")
        return data

    def fetch_blob(self, digest: Digest, dest: Path, *, size: int | None = None) -> None:
        if not self.layout.has_blob(digest):
            raise ImageError(f"{self.name}: blob {digest} is missing")
        source = self.layout.blob_path(digest)
        if size is not None and source.stat().st_size != size:
            raise ImageError(f"{self.name}: blob {digest} does not have {size} bytes")
        # A one-blob layout in a temporary directory beside dest: its import checks the
        # digest, and the rename makes dest appear only once verified.
        with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".fetch.") as tmp:
            staging = ImageLayout(tmp)
            staging.import_blob(source, digest)
            staging.blob_path(digest).replace(dest)

    def push_blob(
        self, digest: Digest, source: Path | BinaryIO, size: int, *, mount_from: str | None = None
    ) -> BlobOutcome:
        if mount_from is not None:
            raise UsageError(
                f"{self.name}: mounting blobs from another repository applies to registries only"
            )
        layout = self._writable()
        if layout.has_blob(digest):
            return "exists"
        if isinstance(source, Path):
            layout.import_blob(source, digest)
            return "uploaded"
        with layout.blob_writer("application/octet-stream") as writer:
            while chunk := source.read(_CHUNK):
                writer.write(chunk)
        written = writer.descriptor
        if written is None or written.digest != digest or written.size != size:
            raise ImageError(f"{self.name}: the content given for blob {digest} does not match it")
        return "uploaded"

    def push_manifest(self, document: AnyManifest) -> Digest:
        self._check_references(document)
        self._writable().write_blob(document.data, document.media_type)
        return document.digest

    def _check_references(self, document: AnyManifest) -> None:
        named = (document.config, *document.layers) if isinstance(document, Manifest) else document.manifests
        for descriptor in named:
            if not self.layout.has_blob(descriptor.digest) and not descriptor.urls:
                raise ImageError(
                    f"{self.name}: refusing to store manifest {document.digest}, "
                    f"{descriptor.digest} is not in the layout"
                )

    def referrers(self, subject: Digest, artifact_type: str | None = None) -> list[Descriptor]:
        return self.referrers_of((subject,), artifact_type)

    def referrers_of(
        self, subjects: Collection[Digest], artifact_type: str | None = None
    ) -> list[Descriptor]:
        """:meth:`referrers` of any of ``subjects``, in one pass, in index order."""
        layout = self.layout
        fallback_tags = {f"{s.algorithm}-{s.hex}" for s in subjects}
        candidates: list[Descriptor] = []
        for entry in layout.index().manifests:
            if entry.media_type not in media.MANIFEST_TYPES or not layout.has_blob(entry.digest):
                continue
            name = entry.annotations.get(REF_NAME, "")
            if entry.media_type == media.OCI_INDEX and _FALLBACK_TAG.fullmatch(name):
                if name in fallback_tags:
                    fallback = layout.manifest(entry)
                    if isinstance(fallback, Index):
                        candidates += [d for d in fallback.manifests if layout.has_blob(d.digest)]
                continue
            candidates.append(entry)
        found: dict[Digest, Descriptor] = {}
        for entry in candidates:
            if entry.digest in found or entry.digest in subjects:
                continue
            if artifact_type is not None and entry.artifact_type not in (None, artifact_type):
                continue  # the entry says what it is; no need to read it
            document = layout.manifest(entry)
            if document.subject is None or document.subject.digest not in subjects:
                continue
            descriptor = document.descriptor()
            if artifact_type is not None and descriptor.artifact_type != artifact_type:
                continue
            found[document.digest] = descriptor
        return list(found.values())

    def push_referrer(self, manifest: bytes, media_type: str, subject: Digest) -> Digest:
        document = parse_manifest(manifest, media_type)
        if document.subject is None or document.subject.digest != subject:
            raise UsageError(f"the artifact manifest's subject must be {subject}")
        self.push_manifest(document)
        self._add_index_entries([document.descriptor()])
        return document.digest

    def _add_index_entries(self, entries: list[Descriptor]) -> None:
        """Append untagged ``entries`` to index.json (atomically), skipping digests it lists."""
        index = self.layout.index()
        listed = {d.digest for d in index.manifests}
        new = [e for e in entries if e.digest not in listed]
        if not new:
            return
        document = json.loads(index.data)
        document["manifests"] = [*document.get("manifests", []), *(e.to_json() for e in new)]
        atomic_write(
            self.layout.path / "index.json", (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()
        )

    def tag(self, tag: str, document: AnyManifest) -> None:
        """Tag ``document``; it also becomes the image cosign finds in this layout.

        cosign (``--local-image``) looks the image up by the ``kind`` annotation of its
        ``index.json`` entry, taking the first; so only the image tagged last carries it.
        """
        self.push_manifest(document)
        kind = COSIGN_IMAGE_INDEX if isinstance(document, Index) else COSIGN_IMAGE
        self.layout.set_tag(
            tag,
            Descriptor(
                media_type=document.media_type,
                digest=document.digest,
                size=document.size,
                annotations={COSIGN_KIND: kind},
            ),
        )
        index = json.loads(self.layout.index().data)
        entries = index.get("manifests", [])
        stale = [
            e
            for e in entries
            if e.get("digest") != str(document.digest) and COSIGN_KIND in e.get("annotations", {})
        ]
        if stale:
            for entry in stale:
                del entry["annotations"][COSIGN_KIND]
            atomic_write(
                self.layout.path / "index.json", (json.dumps(index, indent=2, sort_keys=True) + "\n").encode()
            )


# -- archives --------------------------------------------------------------------------------


class ArchiveStore(LayoutStore):
    """An ``oci-archive:`` or ``docker-archive:`` file, read-only: unpacked (with the checks
    of :mod:`repro.images.archive`) into a temporary layout that lives as long as the store.
    """

    def __init__(self, location: ArchiveLocation) -> None:
        from repro.images.archive import unpack_archive

        tmp = tempfile.mkdtemp(prefix="repro-archive-")
        # Removed by close(), else when the store is collected or at exit: a store is
        # handed around (verify-image's source) with no one place to close it.
        self._cleanup = weakref.finalize(self, shutil.rmtree, tmp, True)
        try:
            unpacked = unpack_archive(location, Path(tmp) / "layout")
        except BaseException:
            self._cleanup()
            raise
        super().__init__(ImageLayout.open(unpacked.directory), unpacked.tag)
        self.name = location.display
        self.location = location

    def __repr__(self) -> str:
        return f"ArchiveStore({self.name!r})"

    def close(self) -> None:
        """Remove the unpacked copy now (it is removed when the store is collected anyway)."""
        self._cleanup()

    def _writable(self) -> ImageLayout:
        raise UsageError(
            f"{self.name}: an archive is read here, not written",
            hint="write an image archive with repro build -o, or write to oci:DIR and pack that",
        )


# -- opening ---------------------------------------------------------------------------------


def open_store(
    location: ImageLocation,
    *,
    client: RegistryClient | None = None,
    create: bool = False,
    what: str = "image",
) -> ImageStore:
    """The store ``location`` names: a registry repository (needs ``client``), a layout, or
    an archive (read-only, :class:`ArchiveStore`).

    ``create`` makes a missing layout (a destination); else the layout must exist. An
    archive as a destination is refused with a :class:`~repro.errors.UsageError`.
    """
    if isinstance(location, LayoutLocation):
        if create:
            return LayoutStore.create(location.directory, location.tag)
        return LayoutStore.open(location.directory, location.tag)
    if isinstance(location, ArchiveLocation):
        if create:
            raise UsageError(
                f"{what} {location.text}: an archive cannot be written here",
                hint="give oci:DIR[:TAG] or a registry; repro build -o writes archives",
            )
        return ArchiveStore(location)
    if client is None:
        raise UsageError(f"{location.text}: a registry client is needed for a registry image")
    return RegistryStore(client, location.ref)


__all__ = [
    "ArchiveStore",
    "BlobOutcome",
    "ImageStore",
    "LayoutStore",
    "RegistryStore",
    "is_digest",
    "open_store",
]
