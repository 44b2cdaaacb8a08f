"""Publish an image from an OCI layout, with its referrers, to any image store.

    with RegistryClient(load_config()) as client:
        store = RegistryStore(client, parse_reference("reg.example/app:1.0"))
        result = push_image(ImageLayout.open("out"), "latest", store, tag="1.0",
                            referrers=[sbom_referrer(sbom, subject, created=when)])
        print(result.pinned)     # reg.example/app:1.0@sha256:…

The store is a registry repository or another OCI layout (:mod:`repro.images.store`);
one code path writes to both. The order of writes is what makes an interrupted push
harmless: blobs first, then manifests by digest (an index's platform manifests before
the index), then referrers, and the tag last. A tag therefore never points at content
that is not all there, and a push that failed half-way is simply run again (blobs
already there are not sent twice).

Bytes are published exactly as the layout holds them: nothing is recompressed or
re-serialised, so the digest a store serves is the digest that was built and verified.
Layers stream from the layout's blob files in bounded chunks, hashed as they are read;
a blob that does not match its digest is never committed.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from repro.digest import Digest
from repro.errors import Error, ImageError, UsageError
from repro.images.store import BlobOutcome, ImageStore, LayoutStore
from repro.oci import media
from repro.oci.layout import ImageLayout
from repro.oci.models import (
    EMPTY_DESCRIPTOR,
    EMPTY_JSON,
    AnyManifest,
    Descriptor,
    Index,
    Manifest,
    parse_manifest,
)
from repro.reference import ImageRef
from repro.threads import worker_pool

logger = logging.getLogger(__name__)

#: Blobs uploaded at once. Each upload holds at most one chunk of
#: :data:`repro.registry.client.UPLOAD_CHUNK_SIZE` (8 MiB) in memory.
PUSH_WORKERS = 4
#: An index may nest indexes this deep (the OCI spec allows nesting; real images use 1).
MAX_INDEX_DEPTH = 4
#: The artifact type (and layer media type) of a CycloneDX JSON SBOM referrer.
CYCLONEDX_JSON = "application/vnd.cyclonedx+json"
CREATED = "org.opencontainers.image.created"
TITLE = "org.opencontainers.image.title"

BlobSource = bytes | Path


# -- values --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Artifact:
    """A referrer to publish: manifest bytes, their media type, and the blobs they name.

    ``blobs`` maps each digest to its bytes or to a file holding them; the empty config
    ``{}`` may be left out. Everything is checked against its digest before it is used.
    """

    manifest: bytes = field(repr=False)
    media_type: str
    blobs: Mapping[Digest, BlobSource] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, manifest: bytes, media_type: str, *contents: bytes) -> Artifact:
        """An artifact whose blobs are ``contents`` (the empty config may be left out).

        For what :mod:`repro.attest.referrers` makes:
        ``Artifact.of(*referrer_manifest(bundle, …), bundle)``.
        """
        return cls(manifest, media_type, {Digest.of(content): content for content in contents})

    @property
    def document(self) -> AnyManifest:
        return parse_manifest(self.manifest, self.media_type)

    @property
    def digest(self) -> Digest:
        return Digest.of(self.manifest)

    def descriptor(self) -> Descriptor:
        """The descriptor a referrers list (or a layout's index.json) holds for this artifact."""
        return self.document.descriptor()


@dataclass(frozen=True)
class BlobPush:
    """What happened to one blob: already there, mounted from another repository, or sent."""

    digest: Digest
    size: int
    outcome: BlobOutcome

    def to_json(self) -> dict[str, Any]:
        return {"digest": str(self.digest), "size": self.size, "outcome": self.outcome}


@dataclass(frozen=True)
class PushEvent:
    """Progress: one blob, manifest, referrer or tag done."""

    kind: Literal["blob", "manifest", "referrer", "tag"]
    digest: Digest
    size: int
    outcome: str  # a BlobOutcome for blobs; "pushed" or the tag otherwise


Progress = Callable[[PushEvent], None]


@dataclass(frozen=True)
class PushResult:
    """What :func:`push_image` published."""

    target: str  # the store's name: "host/path" or "oci:DIR"
    tag: str | None
    digest: Digest
    media_type: str
    size: int
    blobs: tuple[BlobPush, ...]
    manifests: tuple[Digest, ...]  # every manifest written, the image's own last
    referrers: tuple[Digest, ...]
    seconds: float = 0.0

    @property
    def pinned(self) -> str:
        """``TARGET[:TAG]@DIGEST``"""
        return f"{self.target}{':' + self.tag if self.tag else ''}@{self.digest}"

    @property
    def bytes_pushed(self) -> int:
        return sum(blob.size for blob in self.blobs if blob.outcome == "uploaded")

    @property
    def blobs_pushed(self) -> int:
        return sum(blob.outcome == "uploaded" for blob in self.blobs)

    @property
    def blobs_reused(self) -> int:
        return sum(blob.outcome != "uploaded" for blob in self.blobs)

    def to_json(self) -> dict[str, Any]:
        """What ``repro push --json`` prints."""
        return {
            "target": self.target,
            "tag": self.tag,
            "digest": str(self.digest),
            "pinned": self.pinned,
            "mediaType": self.media_type,
            "size": self.size,
            "manifests": [str(d) for d in self.manifests],
            "referrers": [str(d) for d in self.referrers],
            "blobs": [blob.to_json() for blob in self.blobs],
            "blobsPushed": self.blobs_pushed,
            "blobsReused": self.blobs_reused,
            "bytesPushed": self.bytes_pushed,
            "seconds": round(self.seconds, 3),
        }


# -- what an image consists of ---------------------------------------------------------------


@dataclass(frozen=True)
class ImagePlan:
    """An image in a layout as the writes that publish it, in a safe order.

    ``manifests`` lists every manifest once, each after the manifests it names (the
    root last); ``blobs`` lists every config and layer once, largest first.
    """

    root: AnyManifest
    manifests: tuple[AnyManifest, ...]
    blobs: tuple[Descriptor, ...]

    @property
    def subjects(self) -> frozenset[Digest]:
        """Digests a referrer of this image may name as its subject."""
        return frozenset(m.digest for m in self.manifests)


def plan_image(layout: ImageLayout, descriptor: Descriptor) -> ImagePlan:
    """Read the image (or index, with every manifest it lists) at ``descriptor``.

    Every manifest and blob must be in the layout (a layout saved with one platform of a
    multi-platform index is refused); blobs the image says live elsewhere (``urls``,
    non-distributable layers) are left out when the layout does not have them.
    """
    manifests: list[AnyManifest] = []
    blobs: dict[Digest, Descriptor] = {}

    def visit(entry: Descriptor, depth: int) -> AnyManifest:
        if depth > MAX_INDEX_DEPTH:
            raise ImageError(f"{layout.path}: indexes nested deeper than {MAX_INDEX_DEPTH} levels")
        if entry.media_type not in media.MANIFEST_TYPES:
            raise ImageError(
                f"{layout.path}: {entry.digest} has media type {entry.media_type}, not a manifest"
            )
        if not layout.has_blob(entry.digest):
            raise ImageError(
                f"{layout.path}: manifest {entry.digest} is not in the layout",
                hint="save every platform of a multi-platform image (skopeo copy --all)",
            )
        document = layout.manifest(entry)
        if isinstance(document, Index):
            for child in document.manifests:
                if all(m.digest != child.digest for m in manifests):
                    visit(child, depth + 1)
        else:
            for blob in (document.config, *document.layers):
                if layout.has_blob(blob.digest):
                    blobs.setdefault(blob.digest, blob)
                elif not blob.urls:
                    raise ImageError(
                        f"{layout.path}: blob {blob.digest} of manifest {document.digest} is missing",
                        hint="the layout is incomplete; build or copy the image again",
                    )
        if all(m.digest != document.digest for m in manifests):
            manifests.append(document)
        return document

    root = visit(descriptor, 0)
    ordered = sorted(blobs.values(), key=lambda d: -d.size)
    return ImagePlan(root=root, manifests=tuple(manifests), blobs=tuple(ordered))


def _resolve(layout: ImageLayout, tag_or_desc: str | Descriptor | None) -> Descriptor:
    if isinstance(tag_or_desc, Descriptor):
        return tag_or_desc
    return layout.find(tag_or_desc)


def _check_artifact(artifact: Artifact, subjects: Collection[Digest]) -> Manifest | Index:
    """The parsed artifact, if its subject is one of ``subjects`` and its blobs are given."""
    try:
        document = artifact.document
    except Error as exc:
        raise UsageError(f"referrer manifest: {exc}") from exc
    if document.media_type != artifact.media_type:
        raise UsageError(
            f"referrer {document.digest}: declares {document.media_type}, not {artifact.media_type}"
        )
    if document.subject is None or document.subject.digest not in subjects:
        named = document.subject.digest if document.subject else "no subject"
        raise UsageError(f"referrer {document.digest}: its subject is {named}, not the image pushed")
    if isinstance(document, Manifest):
        for blob in (document.config, *document.layers):
            if blob.digest not in artifact.blobs and blob.digest != EMPTY_DESCRIPTOR.digest:
                raise UsageError(
                    f"referrer {document.digest}: the content of blob {blob.digest} is not given"
                )
    return document


def _blob_bytes(artifact: Artifact, descriptor: Descriptor) -> BlobSource:
    source = artifact.blobs.get(descriptor.digest)
    if source is None:  # only the empty config may be left out
        return EMPTY_JSON
    if isinstance(source, bytes) and (
        len(source) != descriptor.size or Digest.of(source, descriptor.digest.algorithm) != descriptor.digest
    ):
        raise UsageError(f"the bytes given for blob {descriptor.digest} do not match it")
    return source


def _artifact_blobs(document: Manifest | Index) -> tuple[Descriptor, ...]:
    return (document.config, *document.layers) if isinstance(document, Manifest) else ()


# -- pushing ---------------------------------------------------------------------------------


def target_tag(ref: ImageRef) -> str | None:
    """The tag a push to ``ref`` writes: its tag, ``latest`` without one, None for ``NAME@DIGEST``."""
    return None if ref.digest is not None and ref.tag is None else ref.effective_tag


def push_image(
    layout: ImageLayout,
    tag_or_desc: str | Descriptor | None,
    store: ImageStore,
    *,
    tag: str | None,
    expect: Digest | None = None,
    referrers: Sequence[Artifact] = (),
    include_referrers: bool = False,
    mount_from: str | None = None,
    progress: Progress | None = None,
    workers: int = PUSH_WORKERS,
) -> PushResult:
    """Push the image ``tag_or_desc`` of ``layout`` (every platform of an index) to ``store``.

    The image is tagged ``tag`` as the very last write; with ``tag=None`` it is stored by
    digest only. ``expect`` (the digest of a ``NAME@DIGEST`` target) must be the image's
    digest. Blobs the store has are not sent; with ``mount_from`` (another repository on
    the same registry) the rest are mounted from it when it has them. ``referrers``
    (artifacts whose subject is the image or one of its manifests), and with
    ``include_referrers`` those ``layout`` holds for the image, are stored before the tag,
    so the tag appears only with its signatures and SBOM in place.
    """
    started = time.monotonic()
    plan = plan_image(layout, _resolve(layout, tag_or_desc))
    root = plan.root
    if expect is not None and expect != root.digest:
        raise UsageError(f"{store.name}@{expect}: the image in {layout.path} is {root.digest}, not {expect}")
    artifacts = list(referrers)
    for artifact in artifacts:
        _check_artifact(artifact, plan.subjects)
    if include_referrers:
        known = {a.digest for a in artifacts}
        artifacts += [a for a in layout_referrers(layout, plan.subjects) if a.digest not in known]
    notify = progress or (lambda event: None)

    def one_blob(blob: Descriptor) -> BlobPush:
        outcome = store.push_blob(
            blob.digest, layout.blob_path(blob.digest), blob.size, mount_from=mount_from
        )
        notify(PushEvent("blob", blob.digest, blob.size, outcome))
        return BlobPush(blob.digest, blob.size, outcome)

    pushed = _run_all(one_blob, plan.blobs, workers)
    manifests: list[Digest] = []
    for document in plan.manifests:
        if document is root and not artifacts and tag is not None:
            break  # stored by the tag below, as the very last write
        store.push_manifest(document)
        notify(PushEvent("manifest", document.digest, document.size, "pushed"))
        manifests.append(document.digest)
    referrer_digests = _push_artifacts(store, artifacts, notify)
    if tag is not None:
        store.tag(tag, root)
        notify(PushEvent("tag", root.digest, root.size, tag))
        if root.digest not in manifests:
            manifests.append(root.digest)
    logger.info("pushed %s to %s in %.1f s", root.digest, store.name, time.monotonic() - started)
    return PushResult(
        target=store.name,
        tag=tag,
        digest=root.digest,
        media_type=root.media_type,
        size=root.size,
        blobs=tuple(pushed),
        manifests=tuple(manifests),
        referrers=referrer_digests,
        seconds=time.monotonic() - started,
    )


def push_referrers(
    store: ImageStore,
    subject: Digest,
    artifacts: Sequence[Artifact],
    *,
    progress: Progress | None = None,
) -> tuple[Digest, ...]:
    """Store ``artifacts`` (each with ``subject`` as its subject) in ``store``.

    Each artifact's blobs go first, then its manifest through
    :meth:`~repro.images.store.ImageStore.push_referrer`, which keeps the referrers
    fallback index of registries without the referrers API. Returns the manifest digests.
    """
    for artifact in artifacts:
        _check_artifact(artifact, (subject,))
    return _push_artifacts(store, artifacts, progress or (lambda event: None))


def _push_artifacts(store: ImageStore, artifacts: Sequence[Artifact], notify: Progress) -> tuple[Digest, ...]:
    digests: list[Digest] = []
    for artifact in artifacts:
        document = artifact.document
        if document.subject is None:  # refused by _check_artifact already
            raise UsageError(f"referrer {document.digest} has no subject")
        for blob in _artifact_blobs(document):
            source = _blob_bytes(artifact, blob)
            stream = io.BytesIO(source) if isinstance(source, bytes) else source
            outcome = store.push_blob(blob.digest, stream, blob.size)
            notify(PushEvent("blob", blob.digest, blob.size, outcome))
        digest = store.push_referrer(artifact.manifest, artifact.media_type, document.subject.digest)
        notify(PushEvent("referrer", digest, len(artifact.manifest), "pushed"))
        digests.append(digest)
    return tuple(digests)


def _run_all(
    function: Callable[[Descriptor], BlobPush], blobs: Sequence[Descriptor], workers: int
) -> list[BlobPush]:
    """``function`` over ``blobs`` on a few threads; after the first error, start no more."""
    if len(blobs) <= 1 or workers <= 1:
        return [function(blob) for blob in blobs]
    with worker_pool(min(workers, len(blobs)), "repro-push") as pool:
        futures: list[Future[BlobPush]] = [pool.submit(function, blob) for blob in blobs]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = next((f.exception() for f in futures if f in done and f.exception() is not None), None)
        if failed is not None:
            for future in futures:
                future.cancel()
            raise failed
        return [future.result() for future in futures]


def layout_referrers(layout: ImageLayout, subjects: Collection[Digest]) -> list[Artifact]:
    """The referrers in ``layout`` whose subject is one of ``subjects``, in index order.

    Found as :meth:`repro.images.store.LayoutStore.referrers` finds them, with their blobs
    as files of the layout.
    """
    found: list[Artifact] = []
    for entry in LayoutStore(layout).referrers_of(subjects):
        document = layout.manifest(entry)
        blobs: dict[Digest, BlobSource] = {}
        for blob in _artifact_blobs(document):
            if not layout.has_blob(blob.digest):
                raise ImageError(
                    f"{layout.path}: blob {blob.digest} of referrer {document.digest} is missing"
                )
            blobs[blob.digest] = layout.blob_path(blob.digest)
        found.append(Artifact(document.data, document.media_type, blobs))
    return found


# -- artifacts -----------------------------------------------------------------------------


def sbom_referrer(
    sbom: bytes,
    subject: Descriptor,
    *,
    created: datetime,
    artifact_type: str = CYCLONEDX_JSON,
    title: str = "sbom.cdx.json",
) -> Artifact:
    """A CycloneDX JSON SBOM as a plain OCI 1.1 referrer of ``subject``.

    The manifest has ``artifactType`` and a layer of that media type holding ``sbom``, the
    empty config, and the annotation ``org.opencontainers.image.created`` = ``created``
    (given, not read from the clock, so the same inputs give the same digest). The layer
    carries an ``org.opencontainers.image.title`` so that generic clients (oras) can
    save it as a file.

    >>> subject = Descriptor(media.OCI_MANIFEST, Digest.of(b"image"), 5)
    >>> artifact = sbom_referrer(b"{}", subject, created=datetime(2024, 1, 1, tzinfo=UTC))
    >>> artifact.descriptor().artifact_type, artifact.descriptor().annotations[CREATED]
    ('application/vnd.cyclonedx+json', '2024-01-01T00:00:00Z')
    """
    if created.tzinfo is None:
        raise UsageError("sbom_referrer: 'created' must carry a time zone")
    stamp = created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    layer = Descriptor(
        media_type=artifact_type, digest=Digest.of(sbom), size=len(sbom), annotations={TITLE: title}
    )
    manifest = {
        "schemaVersion": 2,
        "mediaType": media.OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": EMPTY_DESCRIPTOR.to_json(),
        "layers": [layer.to_json()],
        "subject": Descriptor(subject.media_type, subject.digest, subject.size).to_json(),
        "annotations": {CREATED: stamp},
    }
    data = json.dumps(manifest, separators=(",", ":"), ensure_ascii=False).encode()
    return Artifact.of(data, media.OCI_MANIFEST, sbom, EMPTY_JSON)
