"""The normaliser: rewrite an OCI image layout into its canonical form, so that two builds
of the same file systems and config give the same digests whatever the engine did.

    >>> result = normalize_layout(Path("build-a"), Path("out"), tag="app",
    ...                           source_date_epoch=0, scrub=["auto"])  # doctest: +SKIP
    >>> result.manifest_digest                                          # doctest: +SKIP
    Digest(algorithm='sha256', hex='…')

What it does (see :mod:`repro.layers.tarcanon` for the tar rules):

- every layer becomes a canonical tar, gzip-compressed with Python's zlib at a fixed level,
  a fixed header (mtime 0, no name, OS 255), media type ``…layer.v1.tar+gzip``;
- engine bookkeeping removed (see :mod:`repro.layers.leftovers`): the mount points the
  engine left in RUN layers, history comments naming intermediate images, and the
  ``base.digest`` annotation set to the digest ``base.name`` pins (or dropped);
- the config: ``created`` and the ``created`` of every history entry this build made set to
  SOURCE_DATE_EPOCH (the base image's entries keep their times), ``rootfs.diff_ids``
  recomputed, engine identity removed (what the engines declare as their
  :class:`~repro.layers.noise.EngineNoise`, e.g. the ``io.buildah.version`` label; and
  always Docker's ``container``, ``container_config`` and ``docker_version``, which carry
  a random container ID and the daemon version and are not part of the OCI config), empty
  ``Labels`` dropped; serialised as compact JSON with sorted keys;
- the manifest: OCI media types, ``org.opencontainers.image.created`` dropped (the config's
  ``created`` says it and cannot disagree), the ``dev.repro.normalize.*`` annotations set
  (compressor, level, repro version, scrub profiles); layer descriptors carry no
  annotations;
- index.json of ``dest`` gets the manifest under ``tag``.

Layers are processed in parallel (zlib and hashlib release the GIL). Temporary spool files
live in a directory inside ``dest`` that is removed at the end: nothing is written outside
``dest``, and no layer is ever extracted.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

from repro import __version__
from repro.digest import Digest
from repro.errors import ImageError
from repro.fsutil import atomic_write
from repro.layers.createdby import BuiltStages, Pairing, canonical_history, pair_own_entries
from repro.layers.leftovers import (
    BASE_NAME_ANNOTATION,
    base_history_length,
    copy_layer_indexes,
    is_intermediate_comment,
    is_run_variables_entry,
    mount_point_leftovers,
    normalize_base_annotations,
    run_layer_indexes,
    strip_run_variables,
    unasked_mount_directories,
)
from repro.layers.noise import NO_NOISE, EngineNoise
from repro.layers.normcache import CachedLayer, LayerKey, NormalizeCache
from repro.layers.scrub import AUTO, Scrubber, resolve_profiles
from repro.layers.tarcanon import (
    COMPRESSOR,
    DEFAULT_LEVEL,
    DEFAULT_LIMITS,
    GzipWriter,
    Limits,
    ScannedLayer,
    scan_layer,
    write_layer,
)
from repro.oci import media
from repro.oci.layout import REF_NAME, Image, ImageLayout, Layer
from repro.oci.models import Descriptor, index_json

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

ANNOTATION_PREFIX: Final = "dev.repro.normalize."
ANNOTATION_COMPRESSOR: Final = "dev.repro.normalize.compressor"
ANNOTATION_LEVEL: Final = "dev.repro.normalize.level"
ANNOTATION_VERSION: Final = "dev.repro.normalize.version"
ANNOTATION_SCRUB: Final = "dev.repro.normalize.scrub"
CREATED_ANNOTATION: Final = "org.opencontainers.image.created"
#: How removed engine mount points are listed in :attr:`NormalizeResult.leftovers`.
LEFTOVER_PROFILE: Final = "engine-mount-point"
#: Docker's image-config keys that describe the daemon and the build container (a random
#: container ID, the daemon version), not the image. They are not part of the OCI config,
#: and any base image the classic Docker builder made carries them, whatever engine builds on it.
DOCKER_CONFIG_KEYS: Final = frozenset({"container", "container_config", "docker_version"})


@dataclass(frozen=True)
class NormalizedLayer:
    """One layer before and after normalisation."""

    index: int
    source_digest: Digest
    digest: Digest
    size: int
    diff_id: Digest
    tar_size: int
    entries: int

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "sourceDigest": str(self.source_digest),
            "digest": str(self.digest),
            "size": self.size,
            "diffID": str(self.diff_id),
            "tarSize": self.tar_size,
            "entries": self.entries,
        }


@dataclass(frozen=True)
class ScrubbedPath:
    """A file a scrub profile removed: in which layer, where, and which profile."""

    layer: int
    path: str
    profile: str

    def to_json(self) -> dict[str, Any]:
        return {"layer": self.layer, "path": self.path, "profile": self.profile}


@dataclass(frozen=True)
class NormalizeResult:
    """What :func:`normalize_layout` wrote (digests) and how (compressor, scrubbing)."""

    manifest_digest: Digest
    manifest_size: int
    config_digest: Digest
    layers: tuple[NormalizedLayer, ...]
    scrub_profiles: tuple[str, ...]
    scrubbed: tuple[ScrubbedPath, ...]
    compressor: str
    #: Mount points the engine left in RUN layers, removed (see :mod:`repro.layers.leftovers`).
    leftovers: tuple[ScrubbedPath, ...]
    #: The zlib library Python ran with: deflate output is stable across zlib releases,
    #: but a different implementation (zlib-ng) compresses differently.
    compressor_version: str
    level: int
    source_date_epoch: int
    repro_version: str
    tag: str | None

    @property
    def layer_digests(self) -> tuple[Digest, ...]:
        return tuple(layer.digest for layer in self.layers)

    @property
    def diff_ids(self) -> tuple[Digest, ...]:
        return tuple(layer.diff_id for layer in self.layers)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (provenance records it)."""
        return {
            "manifestDigest": str(self.manifest_digest),
            "manifestSize": self.manifest_size,
            "configDigest": str(self.config_digest),
            "layers": [layer.to_json() for layer in self.layers],
            "scrubProfiles": list(self.scrub_profiles),
            "scrubbed": [s.to_json() for s in self.scrubbed],
            "engineLeftovers": [s.to_json() for s in self.leftovers],
            "compressor": self.compressor,
            "compressorVersion": self.compressor_version,
            "level": self.level,
            "sourceDateEpoch": self.source_date_epoch,
            "reproVersion": self.repro_version,
            "tag": self.tag,
        }


def rfc3339(epoch: int) -> str:
    """``1970-01-01T00:00:00Z`` for 0: the form every ``created`` field gets."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def normalize_config(
    config: Mapping[str, Any],
    diff_ids: Sequence[Digest],
    source_date_epoch: int,
    *,
    base_history: int = 0,
    run_variables: Mapping[str, str] | None = None,
    noise: EngineNoise = NO_NOISE,
    pairing: Pairing | None = None,
    base: str | None = None,
) -> dict[str, Any]:
    """The canonical config: times set to the epoch, diff IDs replaced, engine ``noise`` removed.

    The first ``base_history`` history entries are the base image's and stay as they are;
    the build's own get the epoch as ``created`` and lose comments naming intermediate
    images or the engine (``noise.history_comments``), and what declaring
    ``run_variables`` left (:mod:`repro.build.runenv`). With a ``pairing`` of the build's
    own entries to its instructions they get the canonical texts of
    :mod:`repro.layers.createdby` (and the first one the comment ``FROM <base>``).
    In the runtime config, ``noise.runtime_keys``, keys whose value is null and a
    ``WorkingDir`` of ``/`` are dropped: each means what its absence means.
    """
    variables = run_variables or {}
    created = rfc3339(source_date_epoch)
    dropped = DOCKER_CONFIG_KEYS | noise.config_keys
    out = {k: v for k, v in config.items() if k not in dropped}
    out["created"] = created
    history = out.get("history")
    if isinstance(history, list):
        out["history"] = _history(history, base_history, created, variables, noise.history_comments)
        if pairing is not None:
            own = out["history"][base_history:]
            if len(own) == len(pairing.instructions):
                out["history"][base_history:] = canonical_history(
                    own, pairing, base=base, noise_comments=noise.history_comments
                )
    rootfs = out.get("rootfs")
    out["rootfs"] = {**(rootfs if isinstance(rootfs, dict) else {}), "type": "layers"}
    out["rootfs"]["diff_ids"] = [str(d) for d in diff_ids]
    runtime = out.get("config")
    if isinstance(runtime, dict):
        runtime = {
            k: v
            for k, v in runtime.items()
            if k not in noise.runtime_keys and v is not None and not (k == "WorkingDir" and v == "/")
        }
        labels = runtime.get("Labels")
        if isinstance(labels, dict):
            labels = {k: v for k, v in labels.items() if k not in noise.labels}
            if labels:
                runtime["Labels"] = labels
            else:
                del runtime["Labels"]
        elif "Labels" in runtime and labels is None:
            del runtime["Labels"]
        out["config"] = runtime
    return out


def _history(
    history: Sequence[Any],
    base_history: int,
    created: str,
    variables: Mapping[str, str],
    noise_comments: frozenset[str] = frozenset(),
) -> list[Any]:
    kept: list[Any] = list(history[:base_history])
    # The declaration of the RUN variables is the first entry of the build and carries
    # buildah's "FROM <base.name>" comment, which tells the base's entries from the
    # build's (base_history_length): it moves to the next entry.
    carried: str | None = None
    for entry in history[base_history:]:
        if not isinstance(entry, dict):
            kept.append(entry)
            continue
        if is_run_variables_entry(entry, variables):
            comment = entry.get("comment")
            if (
                isinstance(comment, str)
                and not is_intermediate_comment(comment)
                and comment not in noise_comments
            ):
                carried = comment
            continue
        own = _own_history_entry(entry, created, variables)
        if own.get("comment") in noise_comments:
            del own["comment"]
        if carried is not None:
            own["comment"] = carried
            carried = None
        kept.append(own)
    return kept


def _own_history_entry(
    entry: Mapping[str, Any], created: str, variables: Mapping[str, str]
) -> dict[str, Any]:
    out = {**entry, "created": created}
    if isinstance(out.get("created_by"), str):
        out["created_by"] = strip_run_variables(out["created_by"], variables)
    if is_intermediate_comment(out.get("comment")):
        del out["comment"]
    return out


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def normalize_layout(
    src: ImageLayout | Path,
    dest: Path,
    *,
    tag: str | None,
    source_date_epoch: int,
    scrub: Sequence[str] = (),
    workers: int | None = None,
    level: int = DEFAULT_LEVEL,
    limits: Limits = DEFAULT_LIMITS,
    run_variables: Mapping[str, str] | None = None,
    noise: EngineNoise = NO_NOISE,
    built: BuiltStages | None = None,
    cache: NormalizeCache | None = None,
) -> NormalizeResult:
    """Write the canonical form of the image ``tag`` of ``src`` into the layout ``dest``.

    ``tag`` picks the image in ``src`` (``None``: its only image) and names the result in
    ``dest`` (``None``: the source's own name, if it has one). ``dest`` is created if
    needed and may be ``src`` itself. ``scrub`` names profiles of :mod:`repro.layers.scrub`.
    ``run_variables`` are the variables the build gave every RUN step as declared build
    arguments (:mod:`repro.build.runenv`); the history keeps no trace of them. ``noise`` is
    what engines write about themselves (:mod:`repro.layers.noise`); ``built`` the
    instructions the build ran, which give the build's own history entries their canonical
    texts (:mod:`repro.layers.createdby`), the same whichever engine built the image. With
    ``cache``, a layer normalised before with the same settings is taken from it, checked,
    instead of being normalised again (:mod:`repro.layers.normcache`); the bytes are the same.
    Raise :class:`~repro.errors.ImageError` for a malformed or hostile image, naming the
    layer and entry; nothing is tagged then.
    """
    if source_date_epoch < 0:
        raise ImageError(f"SOURCE_DATE_EPOCH must not be negative, got {source_date_epoch}")
    if not 0 <= level <= 9:
        raise ImageError(f"compression level must be 0..9, got {level}")
    resolve_profiles(scrub)  # reject unknown names before any work
    source = src if isinstance(src, ImageLayout) else ImageLayout.open(src)
    entry = source.find(tag)
    image = source.image(descriptor=entry)
    out_tag = tag if tag is not None else entry.annotations.get(REF_NAME)
    history = image.config.get("history")
    history = history if isinstance(history, list) else []
    base_history = base_history_length(history, image.manifest.annotations.get(BASE_NAME_ANNOTATION))
    variables = run_variables or {}
    pairing = (
        pair_own_entries(history, built, skip=lambda entry: is_run_variables_entry(entry, variables))
        if built is not None
        else None
    )
    if pairing is not None:
        base_history = pairing.start
    layered = [h for h in history if isinstance(h, dict) and not h.get("empty_layer")]
    instructions = (
        [str(h.get("created_by", "")) for h in layered] if len(layered) == len(image.layers) else []
    )
    run_layers = run_layer_indexes(history, len(image.layers), base_history)
    copy_layers = copy_layer_indexes(history, len(image.layers), base_history)
    target = ImageLayout.create(dest)
    spool_dir = Path(tempfile.mkdtemp(dir=target.path, prefix=".normalize-"))
    try:
        written, profiles = _normalize_layers(
            source=source,
            target=target,
            image=image,
            spool_dir=spool_dir,
            epoch=source_date_epoch,
            scrub=scrub,
            workers=workers,
            level=level,
            limits=limits,
            run_layers=run_layers,
            copy_layers=copy_layers,
            instructions=instructions,
            mount_directories=noise.mount_directories,
            cache=cache,
        )
    finally:
        shutil.rmtree(spool_dir, ignore_errors=True)

    diff_ids = [w.diff_id for w in written]
    config_bytes = canonical_json(
        normalize_config(
            image.config,
            diff_ids,
            source_date_epoch,
            base_history=base_history,
            run_variables=run_variables,
            noise=noise,
            pairing=pairing,
            base=built.base if built is not None else None,
        )
    )
    config_desc = target.write_blob(config_bytes, media.OCI_CONFIG)
    annotations = {
        k: v
        for k, v in normalize_base_annotations(image.manifest.annotations).items()
        if k != CREATED_ANNOTATION and not k.startswith(ANNOTATION_PREFIX)
    }
    annotations[ANNOTATION_COMPRESSOR] = COMPRESSOR
    annotations[ANNOTATION_LEVEL] = str(level)
    annotations[ANNOTATION_VERSION] = __version__
    if profiles:
        annotations[ANNOTATION_SCRUB] = ",".join(profiles)
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media.OCI_MANIFEST,
        "config": config_desc.to_json(),
        "layers": [
            Descriptor(media_type=media.OCI_LAYER_GZIP, digest=w.digest, size=w.size).to_json()
            for w in written
        ],
        "annotations": annotations,
    }
    if image.manifest.artifact_type is not None:
        manifest["artifactType"] = image.manifest.artifact_type
    if image.manifest.subject is not None:
        manifest["subject"] = image.manifest.subject.to_json()
    manifest_desc = target.write_blob(canonical_json(manifest), media.OCI_MANIFEST)
    _tag(target, out_tag, manifest_desc)
    scrubbed = tuple(
        ScrubbedPath(layer=w.index, path=path, profile=profile)
        for w in written
        for path, profile in w.scrubbed
    )
    return NormalizeResult(
        manifest_digest=manifest_desc.digest,
        manifest_size=manifest_desc.size,
        config_digest=config_desc.digest,
        layers=tuple(w.layer for w in written),
        scrub_profiles=profiles,
        scrubbed=scrubbed,
        leftovers=tuple(
            ScrubbedPath(layer=w.index, path=path, profile=LEFTOVER_PROFILE)
            for w in written
            for path in w.leftovers
        ),
        compressor=COMPRESSOR,
        compressor_version=f"zlib {zlib.ZLIB_RUNTIME_VERSION}",
        level=level,
        source_date_epoch=source_date_epoch,
        repro_version=__version__,
        tag=out_tag,
    )


@dataclass(frozen=True)
class _Written:
    index: int
    layer: NormalizedLayer
    scrubbed: tuple[tuple[str, str], ...]
    leftovers: tuple[str, ...]

    @property
    def digest(self) -> Digest:
        return self.layer.digest

    @property
    def diff_id(self) -> Digest:
        return self.layer.diff_id

    @property
    def size(self) -> int:
        return self.layer.size

    def cached(self) -> CachedLayer:
        return CachedLayer(
            digest=self.layer.digest,
            size=self.layer.size,
            diff_id=self.layer.diff_id,
            tar_size=self.layer.tar_size,
            entries=self.layer.entries,
            scrubbed=self.scrubbed,
            leftovers=self.leftovers,
        )


def _normalize_layers(
    *,
    source: ImageLayout,
    target: ImageLayout,
    image: Image,
    spool_dir: Path,
    epoch: int,
    scrub: Sequence[str],
    workers: int | None,
    level: int,
    limits: Limits,
    run_layers: frozenset[int],
    copy_layers: frozenset[int],
    instructions: Sequence[str] = (),
    mount_directories: frozenset[str] = frozenset(),
    cache: NormalizeCache | None = None,
) -> tuple[list[_Written], tuple[str, ...]]:
    layers = image.layers
    if workers is None:
        workers = min(len(layers), os.cpu_count() or 1)
    workers = max(1, workers)

    def scan(layer: Layer) -> ScannedLayer:
        where = f"layer {layer.index} ({layer.digest})"
        if layer.descriptor.media_type not in _LAYER_TYPES:
            raise ImageError(f"{where}: unsupported layer media type {layer.descriptor.media_type!r}")
        with source.open_blob(layer.digest) as raw:
            return scan_layer(raw, spool_dir, source_date_epoch=epoch, limits=limits, where=where)

    def layer_scrubber(layer: Layer, scrubber: Scrubber) -> Scrubber:
        if AUTO in scrub and layer.index in copy_layers:
            # What the user's own COPY or ADD put there is never scrubbed by auto's guess
            # (a profile named on the command line still applies).
            return Scrubber(resolve_profiles([n for n in scrub if n != AUTO]))
        return scrubber

    def instruction_of(layer: Layer) -> str:
        return instructions[layer.index] if layer.index < len(instructions) else ""

    reuse = (
        None
        if cache is None
        else _Reuse(
            cache,
            target,
            epoch,
            level,
            limits,
            lambda layer: _mount_points_key(
                layer.index in run_layers, instruction_of(layer), mount_directories
            ),
        )
    )

    def write(layer: Layer, scanned: ScannedLayer, scrubber: Scrubber) -> _Written:
        leftovers: list[str] = []
        if layer.index in run_layers:
            instruction = instruction_of(layer)
            leftovers = mount_point_leftovers(scanned.entries, instruction)
            leftovers += unasked_mount_directories(
                {p: e for p, e in scanned.entries.items() if p not in leftovers},
                mount_directories,
                instruction,
            )
        for path in leftovers:
            del scanned.entries[path]
        try:
            with target.blob_writer(media.OCI_LAYER_GZIP) as blob:
                gzip = GzipWriter(blob, level)
                result = write_layer(scanned, gzip, scrubber)
                gzip.close()
        finally:
            scanned.close()
        if blob.descriptor is None:  # blob_writer sets it whenever the block succeeds
            raise ImageError(f"layer {layer.index}: the layer blob was not written")
        normalized = NormalizedLayer(
            index=layer.index,
            source_digest=layer.digest,
            digest=blob.descriptor.digest,
            size=blob.descriptor.size,
            diff_id=result.diff_id,
            tar_size=result.size,
            entries=result.entries,
        )
        logger.debug("layer %d: %s -> %s", layer.index, layer.digest, normalized.digest)
        return _Written(
            index=layer.index, layer=normalized, scrubbed=result.scrubbed, leftovers=tuple(leftovers)
        )

    def cached_or_written(layer: Layer, scrubber: Scrubber) -> _Written:
        scrubber = layer_scrubber(layer, scrubber)
        return _through(reuse, layer, scrubber, lambda: write(layer, scan(layer), scrubber))

    def cached_or_scanned(layer: Layer, scrubber: Scrubber, scanned: ScannedLayer) -> _Written:
        scrubber = layer_scrubber(layer, scrubber)
        try:
            return _through(reuse, layer, scrubber, lambda: write(layer, scanned, scrubber))
        finally:
            scanned.close()  # a cache hit did not need it

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="normalize") as pool:
        if AUTO in scrub:
            # auto needs every layer's paths before the first layer is written.
            scanned = _gather([pool.submit(scan, layer) for layer in layers])
            present = (path for s in scanned for path in s.paths())
            scrubber = Scrubber(resolve_profiles(scrub, present))
            futures = [
                pool.submit(cached_or_scanned, layer, scrubber, s)
                for layer, s in zip(layers, scanned, strict=True)
            ]
        else:
            scrubber = Scrubber(resolve_profiles(scrub))
            futures = [pool.submit(cached_or_written, layer, scrubber) for layer in layers]
        return _gather(futures), scrubber.names


def _through(
    reuse: _Reuse | None, layer: Layer, scrubber: Scrubber, make: Callable[[], _Written]
) -> _Written:
    """``make()``, or the layer from the cache when there is one."""
    return make() if reuse is None else reuse.get_or_make(layer, scrubber, make)


def _mount_points_key(run_layer: bool, instruction: str, mount_directories: frozenset[str]) -> str:
    """What decides which engine mount points leave a layer, for the cache key ("": none do)."""
    if not run_layer:
        return ""
    return canonical_json({"instruction": instruction, "directories": sorted(mount_directories)}).decode()


@dataclass(frozen=True)
class _Reuse:
    """The normalisation cache as one :func:`normalize_layout` call uses it."""

    cache: NormalizeCache
    target: ImageLayout
    epoch: int
    level: int
    limits: Limits
    mount_points: Callable[[Layer], str]

    def key(self, layer: Layer, scrubber: Scrubber) -> LayerKey:
        return self.cache.key(
            source=layer.digest,
            media_type=layer.descriptor.media_type,
            source_date_epoch=self.epoch,
            level=self.level,
            limits=self.limits,
            scrub=scrubber.names,
            mount_points=self.mount_points(layer),
        )

    def get_or_make(self, layer: Layer, scrubber: Scrubber, make: Callable[[], _Written]) -> _Written:
        """The layer as normalised before (its blob now in the target), else ``make()``'s,
        remembered. While one build makes it, another that wants it waits for it."""
        key = self.key(layer, scrubber)
        with self.cache.claimed(key):
            hit = self.cache.fetch(key, self.target)
            if hit is None:
                written = make()
                self.cache.store(key, written.cached(), self.target)
                return written
        normalized = NormalizedLayer(
            index=layer.index,
            source_digest=layer.digest,
            digest=hit.digest,
            size=hit.size,
            diff_id=hit.diff_id,
            tar_size=hit.tar_size,
            entries=hit.entries,
        )
        return _Written(index=layer.index, layer=normalized, scrubbed=hit.scrubbed, leftovers=hit.leftovers)


def _gather(futures: list[Future[_T]]) -> list[_T]:
    """All results in order; on the first failure cancel what has not started and re-raise.

    Spool files of layers that were scanned but not written are removed with the spool
    directory by the caller.
    """
    try:
        return [future.result() for future in futures]
    except BaseException:
        for future in futures:
            future.cancel()
        raise


_LAYER_TYPES: Final = frozenset(
    {
        media.OCI_LAYER_TAR,
        media.OCI_LAYER_GZIP,
        media.DOCKER_LAYER_GZIP,
        "application/vnd.docker.image.rootfs.diff.tar",
    }
)


def _tag(target: ImageLayout, tag: str | None, descriptor: Descriptor) -> None:
    if tag is not None:
        target.set_tag(tag, descriptor)
        return
    kept = [d.to_json() for d in target.index().manifests if d.digest != descriptor.digest]
    atomic_write(target.path / "index.json", index_json([*kept, descriptor.to_json()]))
