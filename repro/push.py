"""Publish an image from an OCI layout, with its referrers: to a registry or to another layout.

    with RegistryClient(load_config()) as client:
        result = push_image(ImageLayout.open("out"), "latest", parse_reference("reg.example/app:1.0"),
                            client=client, referrers=[sbom_referrer(sbom, subject, created=when)])
        print(result.pinned)     # reg.example/app:1.0@sha256:…

The order of writes is what makes an interrupted push harmless: blobs first, then
manifests by digest (an index's platform manifests before the index), then referrers,
and the tag last. A tag therefore never points at content that is not all there, and a
push that failed half-way is simply run again (blobs already there are not sent twice).

Bytes are published exactly as the layout holds them: nothing is recompressed or
re-serialised, so the digest a registry serves is the digest that was built and verified.
Layers stream from the layout's blob files in bounded chunks, hashed as they are read;
a blob that does not match its digest is never committed.

In an OCI image layout (:func:`export_layout`, ``repro push oci:SRC oci:DEST``) a
referrer is an untagged ``index.json`` entry (the manifest's descriptor with its
``artifactType`` and annotations), found by the ``subject`` of the manifest it points
at: how OCI layout stores that support referrers keep them. The registry-only
``sha256-<hex>`` fallback tag is not written into layouts, but is read from one.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from repro.digest import Digest
from repro.errors import Error, ImageError, UsageError
from repro.fsutil import atomic_write
from repro.oci import media
from repro.oci.layout import REF_NAME, ImageLayout
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

if TYPE_CHECKING:
    from repro.registry.client import RegistryClient

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
#: The empty JSON object, the config of artifacts that have nothing to configure.

BlobOutcome = Literal["exists", "mounted", "uploaded"]
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
        document = self.document
        if isinstance(document, Manifest):
            return document.descriptor()
        return Descriptor(
            media_type=document.media_type,
            digest=document.digest,
            size=document.size,
            annotations=document.annotations,
            artifact_type=document.artifact_type,
        )


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
    """What :func:`push_image` or :func:`export_layout` published."""

    target: str  # "host/path" or "oci:DIR"
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


# -- registry ------------------------------------------------------------------------------


def push_image(
    layout: ImageLayout,
    tag_or_desc: str | Descriptor | None,
    target: ImageRef,
    *,
    client: RegistryClient,
    referrers: Sequence[Artifact] = (),
    mount_from: str | None = None,
    progress: Progress | None = None,
    workers: int = PUSH_WORKERS,
) -> PushResult:
    """Push the image ``tag_or_desc`` of ``layout`` (every platform of an index) to ``target``.

    ``target`` is ``host/path[:tag]`` (tag default ``latest``) or ``host/path@digest``,
    which must be the image's digest (it is then pushed by digest only, with no tag).
    Blobs the repository has are not sent; with ``mount_from`` (another repository on
    the same registry) the rest are mounted from it when it has them. ``referrers``
    (artifacts whose subject is the image or one of its manifests) are pushed before
    the tag, so the tag appears only with its signatures and SBOM in place.
    """
    started = time.monotonic()
    plan = plan_image(layout, _resolve(layout, tag_or_desc))
    root = plan.root
    if target.digest is not None and target.digest != root.digest:
        raise UsageError(f"{target.text}: the image in {layout.path} is {root.digest}, not {target.digest}")
    tag = None if target.digest is not None and target.tag is None else target.effective_tag
    for artifact in referrers:
        _check_artifact(artifact, plan.subjects)
    domain, path = target.domain, target.path
    notify = progress or (lambda event: None)

    def one_blob(blob: Descriptor) -> BlobPush:
        outcome = client.push_blob(
            domain, path, blob.digest, layout.blob_path(blob.digest), blob.size, mount_from=mount_from
        )
        notify(PushEvent("blob", blob.digest, blob.size, outcome))
        return BlobPush(blob.digest, blob.size, outcome)

    pushed = _run_all(one_blob, plan.blobs, workers)
    manifests: list[Digest] = []
    for document in plan.manifests:
        if document is root and not referrers and tag is not None:
            break  # pushed by tag below, as the very last write
        client.push_manifest(domain, path, str(document.digest), document.data, document.media_type)
        notify(PushEvent("manifest", document.digest, document.size, "pushed"))
        manifests.append(document.digest)
    referrer_digests = _push_artifacts(client, target, referrers, notify)
    if tag is not None:
        client.push_manifest(domain, path, tag, root.data, root.media_type)
        notify(PushEvent("tag", root.digest, root.size, tag))
        if root.digest not in manifests:
            manifests.append(root.digest)
    logger.info("pushed %s to %s/%s in %.1f s", root.digest, domain, path, time.monotonic() - started)
    return PushResult(
        target=f"{domain}/{path}",
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
    target: ImageRef,
    subject: Digest,
    artifacts: Sequence[Artifact],
    *,
    client: RegistryClient,
    progress: Progress | None = None,
) -> tuple[Digest, ...]:
    """Push ``artifacts`` (each with ``subject`` as its subject) to ``target``'s repository.

    Each artifact's blobs go first, then its manifest through
    :meth:`~repro.registry.RegistryClient.push_referrer`, which keeps the referrers
    fallback index of registries without the referrers API. Returns the manifest digests.
    """
    for artifact in artifacts:
        _check_artifact(artifact, (subject,))
    return _push_artifacts(client, target, artifacts, progress or (lambda event: None))


def _push_artifacts(
    client: RegistryClient, target: ImageRef, artifacts: Sequence[Artifact], notify: Progress
) -> tuple[Digest, ...]:
    digests: list[Digest] = []
    for artifact in artifacts:
        document = artifact.document
        if document.subject is None:  # refused by _check_artifact already
            raise UsageError(f"referrer {document.digest} has no subject")
        for blob in _artifact_blobs(document):
            source = _blob_bytes(artifact, blob)
            stream = io.BytesIO(source) if isinstance(source, bytes) else source
            outcome = client.push_blob(target.domain, target.path, blob.digest, stream, blob.size)
            notify(PushEvent("blob", blob.digest, blob.size, outcome))
        digest = client.push_referrer(
            target.domain, target.path, artifact.manifest, artifact.media_type, document.subject.digest
        )
        notify(PushEvent("referrer", digest, len(artifact.manifest), "pushed"))
        digests.append(digest)
    return tuple(digests)


def _run_all(
    function: Callable[[Descriptor], BlobPush], blobs: Sequence[Descriptor], workers: int
) -> list[BlobPush]:
    """``function`` over ``blobs`` on a few threads; after the first error, start no more."""
    if len(blobs) <= 1 or workers <= 1:
        return [function(blob) for blob in blobs]
    with ThreadPoolExecutor(max_workers=min(workers, len(blobs)), thread_name_prefix="repro-push") as pool:
        futures: list[Future[BlobPush]] = [pool.submit(function, blob) for blob in blobs]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = next((f.exception() for f in futures if f in done and f.exception() is not None), None)
        if failed is not None:
            for future in futures:
                future.cancel()
            raise failed
        return [future.result() for future in futures]


# -- OCI layouts -----------------------------------------------------------------------------


def layout_referrers(layout: ImageLayout, subjects: Collection[Digest]) -> list[Artifact]:
    """The referrers in ``layout`` whose subject is one of ``subjects``, in index order.

    Found as ``index.json`` entries whose manifest has such a subject, and in indexes
    tagged with the fallback schema (``sha256-<hex>``) that other tools write.
    """
    found: dict[Digest, Artifact] = {}
    fallback_tags = {f"{s.algorithm}-{s.hex}" for s in subjects}
    candidates: list[Descriptor] = []
    for entry in layout.index().manifests:
        if entry.media_type not in media.MANIFEST_TYPES or not layout.has_blob(entry.digest):
            continue
        if entry.annotations.get(REF_NAME) in fallback_tags and entry.media_type == media.OCI_INDEX:
            fallback = layout.manifest(entry)
            if isinstance(fallback, Index):
                candidates += [d for d in fallback.manifests if layout.has_blob(d.digest)]
            continue
        candidates.append(entry)
    for entry in candidates:
        if entry.digest in found or entry.digest in subjects:
            continue
        document = layout.manifest(entry)
        if document.subject is None or document.subject.digest not in subjects:
            continue
        blobs: dict[Digest, BlobSource] = {}
        for blob in _artifact_blobs(document):
            if not layout.has_blob(blob.digest):
                raise ImageError(
                    f"{layout.path}: blob {blob.digest} of referrer {document.digest} is missing"
                )
            blobs[blob.digest] = layout.blob_path(blob.digest)
        found[document.digest] = Artifact(document.data, document.media_type, blobs)
    return list(found.values())


def export_layout(
    layout: ImageLayout,
    tag: str | Descriptor | None,
    dest: Path,
    *,
    referrers: Sequence[Artifact] = (),
    dest_tag: str | None = None,
    include_referrers: bool = True,
    progress: Progress | None = None,
) -> PushResult:
    """Write the image ``tag`` of ``layout`` and its referrers into the OCI layout ``dest``.

    ``dest`` is created if needed; other images already in it stay. The image is tagged
    ``dest_tag`` (default: ``tag``, else ``latest``) in ``dest``'s index.json. Referrers
    are the given ``referrers`` plus (with ``include_referrers``) those ``layout`` holds
    for the image; each becomes an untagged index.json entry (see the module docstring).
    As with a registry the tag is the last write, and every blob copied is verified.
    """
    started = time.monotonic()
    plan = plan_image(layout, _resolve(layout, tag))
    name = dest_tag or (tag if isinstance(tag, str) else None) or "latest"
    artifacts = list(referrers)
    for artifact in artifacts:
        _check_artifact(artifact, plan.subjects)
    if include_referrers:
        known = {a.digest for a in artifacts}
        artifacts += [a for a in layout_referrers(layout, plan.subjects) if a.digest not in known]
    notify = progress or (lambda event: None)
    out = ImageLayout.create(dest)

    copied: list[BlobPush] = []
    for blob in plan.blobs:
        outcome: BlobOutcome = "exists" if out.has_blob(blob.digest) else "uploaded"
        if outcome == "uploaded":
            out.import_blob(layout.blob_path(blob.digest), blob.digest)
        notify(PushEvent("blob", blob.digest, blob.size, outcome))
        copied.append(BlobPush(blob.digest, blob.size, outcome))
    for document in plan.manifests:
        out.write_blob(document.data, document.media_type)
        notify(PushEvent("manifest", document.digest, document.size, "pushed"))

    entries: list[Descriptor] = []
    for artifact in artifacts:
        document = artifact.document
        for blob in _artifact_blobs(document):
            source = _blob_bytes(artifact, blob)
            if isinstance(source, bytes):
                out.write_blob(source, blob.media_type)
            else:
                out.import_blob(source, blob.digest)
        out.write_blob(artifact.manifest, artifact.media_type)
        entries.append(artifact.descriptor())
        notify(PushEvent("referrer", document.digest, len(artifact.manifest), "pushed"))
    _add_index_entries(out, entries)
    root = plan.root
    out.set_tag(name, Descriptor(media_type=root.media_type, digest=root.digest, size=root.size))
    notify(PushEvent("tag", root.digest, root.size, name))
    return PushResult(
        target=f"oci:{dest}",
        tag=name,
        digest=root.digest,
        media_type=root.media_type,
        size=root.size,
        blobs=tuple(copied),
        manifests=tuple(m.digest for m in plan.manifests),
        referrers=tuple(e.digest for e in entries),
        seconds=time.monotonic() - started,
    )


def _add_index_entries(layout: ImageLayout, entries: Iterable[Descriptor]) -> None:
    """Append untagged ``entries`` to index.json (atomically), skipping digests it lists."""
    index = layout.index()
    listed = {d.digest for d in index.manifests}
    new = [e for e in entries if e.digest not in listed]
    if not new:
        return
    document = json.loads(index.data)
    document["manifests"] = [*document.get("manifests", []), *(e.to_json() for e in new)]
    atomic_write(layout.path / "index.json", (json.dumps(document, indent=2, sort_keys=True) + "\n").encode())


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
