"""A content-addressed cache of normalised layers: one normalisation per layer.

Both builds of ``repro verify``, and every later build on the same base image, hand the
normaliser the same base layers; normalising one is a full decompress, canonical tar
rewrite and gzip. This cache remembers the result of normalising one layer under a key
made of everything those bytes depend on:

- the source layer's digest and media type (its exact bytes);
- SOURCE_DATE_EPOCH, the compression level, the expansion limits;
- the scrub profiles that apply to the layer, and what decides which of the engine's
  mount points are removed from it (for a RUN layer: its instruction and the engine's
  mount directories);
- the normaliser's version: repro's version, the zlib it runs with, and a digest of the
  source files of :mod:`repro.layers`, so that any change to the code is a new key.

    >>> cache = NormalizeCache.open(Path("~/.cache/repro/normalize").expanduser())  # doctest: +SKIP
    >>> cache.fetch(key, target)   # a CachedLayer, its blob now in target; or None   # doctest: +SKIP

Nothing read from the cache is trusted: on reuse the blob is copied into the destination
layout while its digest, and the digest and size of the tar it decompresses to (the diff
ID in the image config), are computed again; an entry that does not match is deleted and
the layer normalised afresh. The directory is private (created 0700; one that another
user owns or may write is refused), entries are written atomically, and the cache is
pruned, least recently used first, when its blobs exceed ``max_bytes``.

Layout: ``ROOT/blobs/sha256/HEX`` (normalised layers; ROOT is an OCI layout with no
images) and ``ROOT/entries/KEY.json`` (what one key gave: the blob's digest and size, the
diff ID, the tar's size and entry count, what was scrubbed or removed).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import stat
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from repro import __version__
from repro.digest import Digest
from repro.errors import ConfigError, ImageError
from repro.fsutil import atomic_write, locked
from repro.layers.tarcanon import COMPRESSOR, Limits
from repro.oci.layout import ImageLayout

logger = logging.getLogger(__name__)

#: Bumped when the entry format changes.
FORMAT: Final = 1
#: Default bound on the cached blobs (``cache_max_mb`` in the configuration).
DEFAULT_MAX_BYTES: Final = 4096 * 1024 * 1024
#: Pruning leaves the cache at this share of its bound, so that it does not prune at every store.
PRUNE_TO: Final = 0.8
_CHUNK: Final = 1024 * 1024
_MAX_ENTRY_BYTES: Final = 64 * 1024 * 1024


def normalizer_version() -> str:
    """What identifies the normaliser's code: repro's version, zlib's, and a digest of the
    source of :mod:`repro.layers` (a development tree changes without a new version)."""
    hasher = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        hasher.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return f"repro {__version__}; {COMPRESSOR} zlib {zlib.ZLIB_RUNTIME_VERSION}; sha256:{hasher.hexdigest()}"


@dataclass(frozen=True)
class LayerKey:
    """Everything the normalised bytes of one layer depend on."""

    source: Digest
    media_type: str
    source_date_epoch: int
    level: int
    limits: Limits
    scrub: tuple[str, ...]
    #: What decides which engine mount points leave the layer ("": none, not a RUN layer).
    mount_points: str
    normalizer: str

    def material(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "source": str(self.source),
            "mediaType": self.media_type,
            "sourceDateEpoch": self.source_date_epoch,
            "level": self.level,
            "limits": dataclasses.asdict(self.limits),
            "scrub": list(self.scrub),
            "mountPoints": self.mount_points,
            "normalizer": self.normalizer,
        }

    @property
    def name(self) -> str:
        """The entry's file name: the sha256 of the key's canonical JSON."""
        return hashlib.sha256(_canonical(self.material())).hexdigest()


@dataclass(frozen=True)
class CachedLayer:
    """What normalising one layer gave."""

    digest: Digest
    size: int
    diff_id: Digest
    tar_size: int
    entries: int
    scrubbed: tuple[tuple[str, str], ...]
    leftovers: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "digest": str(self.digest),
            "size": self.size,
            "diffID": str(self.diff_id),
            "tarSize": self.tar_size,
            "entries": self.entries,
            "scrubbed": [list(pair) for pair in self.scrubbed],
            "leftovers": list(self.leftovers),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CachedLayer:
        scrubbed = tuple((str(path), str(profile)) for path, profile in data["scrubbed"])
        return cls(
            digest=Digest.parse(data["digest"]),
            size=_integer(data["size"]),
            diff_id=Digest.parse(data["diffID"]),
            tar_size=_integer(data["tarSize"]),
            entries=_integer(data["entries"]),
            scrubbed=scrubbed,
            leftovers=tuple(str(path) for path in data["leftovers"]),
        )


class NormalizeCache:
    """The cache at ``root`` (see the module's description)."""

    def __init__(self, root: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._blobs = ImageLayout.create(root)
        self._entries = root / "entries"
        self._entries.mkdir(mode=0o700, exist_ok=True)
        self.normalizer = normalizer_version()

    @classmethod
    def open(cls, root: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> NormalizeCache:
        """The cache at ``root``, created private if missing; a directory another user owns
        or may write is refused (its entries decide what goes into images)."""
        private_directory(root)
        return cls(root, max_bytes=max_bytes)

    def key(
        self,
        *,
        source: Digest,
        media_type: str,
        source_date_epoch: int,
        level: int,
        limits: Limits,
        scrub: tuple[str, ...],
        mount_points: str,
    ) -> LayerKey:
        return LayerKey(
            source=source,
            media_type=media_type,
            source_date_epoch=source_date_epoch,
            level=level,
            limits=limits,
            scrub=scrub,
            mount_points=mount_points,
            normalizer=self.normalizer,
        )

    @contextmanager
    def claimed(self, key: LayerKey) -> Iterator[None]:
        """Hold ``key`` for the block: another process (verify's other build) that wants the
        same layer waits, then finds it here instead of normalising it a second time."""
        with locked(self._entry_path(key)):
            yield

    def _entry_path(self, key: LayerKey) -> Path:
        return self._entries / f"{key.name}.json"

    def fetch(self, key: LayerKey, target: ImageLayout) -> CachedLayer | None:
        """The layer ``key`` gave, its blob copied into ``target`` and checked; None on a miss
        (or an entry that does not check out, which is then deleted)."""
        entry_path = self._entry_path(key)
        try:
            raw = entry_path.read_bytes()
        except OSError as exc:
            if not isinstance(exc, FileNotFoundError):
                logger.warning("normalisation cache: cannot read %s: %s", entry_path, exc.strerror)
            return None
        if not raw:  # the lock of a key being normalised, or a store that did not finish
            return None
        try:
            data = json.loads(raw) if len(raw) <= _MAX_ENTRY_BYTES else None
            if not isinstance(data, dict) or data.get("key") != key.material():
                raise ValueError("the entry is not the key's")
            layer = CachedLayer.from_json(data["layer"])
        except (ValueError, KeyError, TypeError) as exc:
            logger.warning("normalisation cache: dropping entry %s: %s", entry_path.name, exc)
            entry_path.unlink(missing_ok=True)
            return None
        try:
            self._copy_checked(layer, target)
        except FileNotFoundError:  # pruned meanwhile
            entry_path.unlink(missing_ok=True)
            return None
        except OSError as exc:
            logger.warning("normalisation cache: cannot reuse %s: %s", layer.digest, exc)
            return None
        except ImageError as exc:
            logger.warning("normalisation cache: dropping %s: %s", layer.digest, exc)
            entry_path.unlink(missing_ok=True)
            self._blobs.blob_path(layer.digest).unlink(missing_ok=True)
            return None
        with contextlib.suppress(OSError):
            os.utime(entry_path)  # its last use, for pruning
        logger.debug("normalisation cache: %s -> %s", key.source, layer.digest)
        return layer

    def store(self, key: LayerKey, layer: CachedLayer, target: ImageLayout) -> None:
        """Remember that ``key`` gave ``layer``, whose blob is in ``target``. A cache that
        cannot be written (a full disk) is a warning: the image is already made."""
        try:
            self._store(key, layer, target)
        except OSError as exc:
            logger.warning("normalisation cache: cannot store %s: %s", layer.digest, exc)

    def _store(self, key: LayerKey, layer: CachedLayer, target: ImageLayout) -> None:
        blob = self._blobs.blob_path(layer.digest)
        if not blob.exists():
            source = target.blob_path(layer.digest)
            try:
                os.link(source, blob)
            except FileExistsError:
                pass
            except OSError:
                self._blobs.import_blob(source, layer.digest)
        atomic_write(
            self._entry_path(key),
            _canonical({"key": key.material(), "layer": layer.to_json()}),
        )
        self.prune()

    def _copy_checked(self, layer: CachedLayer, target: ImageLayout) -> None:
        """Copy the blob into ``target``, checking its digest and size and the digest and
        size of the tar it decompresses to; :class:`ImageError` if any differs."""
        path = target.blob_path(layer.digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".cache.")
        try:
            blob_hash = Digest.hasher(layer.digest.algorithm)
            tar_hash = Digest.hasher(layer.diff_id.algorithm)
            gunzip = zlib.decompressobj(16 + zlib.MAX_WBITS)
            size = tar_size = 0
            with os.fdopen(fd, "wb") as out, self._blobs.blob_path(layer.digest).open("rb") as src:
                while chunk := src.read(_CHUNK):
                    size += len(chunk)
                    blob_hash.update(chunk)
                    out.write(chunk)
                    tar = gunzip.decompress(chunk)
                    tar_size += len(tar)
                    tar_hash.update(tar)
                tar = gunzip.flush()
                tar_size += len(tar)
                tar_hash.update(tar)
            if size != layer.size or blob_hash.digest() != layer.digest:
                raise ImageError("the cached blob does not match its digest")
            if not gunzip.eof or gunzip.unused_data:
                raise ImageError("the cached blob is not one complete gzip stream")
            if tar_size != layer.tar_size or tar_hash.digest() != layer.diff_id:
                raise ImageError("the cached blob does not decompress to the recorded diff ID")
            Path(tmp_name).replace(path)
        except zlib.error as exc:
            Path(tmp_name).unlink(missing_ok=True)
            raise ImageError(f"the cached blob is not valid gzip: {exc}") from exc
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise

    def prune(self) -> None:
        """Delete the least recently used entries, and blobs no entry names, until the blobs
        take at most ``PRUNE_TO`` of ``max_bytes``; nothing when under ``max_bytes``."""
        blobs = {p.name: p for p in (self.root / "blobs" / "sha256").glob("*") if not p.name.startswith(".")}
        sizes = {name: _size(path) for name, path in blobs.items()}
        if sum(sizes.values()) <= self.max_bytes:
            return
        entries = sorted(self._entries.glob("*.json"), key=_mtime)
        named: dict[Path, str] = {}
        for entry in entries:
            try:
                named[entry] = Digest.parse(json.loads(entry.read_bytes())["layer"]["digest"]).hex
            except (OSError, ValueError, KeyError, TypeError):
                named[entry] = ""  # being written (a lock), or unreadable: pruned first
        for name in set(blobs) - set(named.values()):  # no entry names these
            blobs[name].unlink(missing_ok=True)
            sizes.pop(name)
        total = sum(sizes.values())
        for entry in entries:
            if total <= self.max_bytes * PRUNE_TO:
                break
            entry.unlink(missing_ok=True)
            hex_ = named.pop(entry)
            if hex_ in sizes and hex_ not in named.values():
                blobs[hex_].unlink(missing_ok=True)
                total -= sizes.pop(hex_)


def private_directory(path: Path) -> Path:
    """``path`` as a directory only the current user may write (created 0700 if missing).

    Raises :class:`ConfigError` when it exists but is not a directory, belongs to another
    user, or is writable by group or others.
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"{path}: the cache directory is not a directory")
    if info.st_uid != os.geteuid():
        raise ConfigError(
            f"{path}: the cache directory belongs to another user (uid {info.st_uid})",
            hint="set REPRO_CACHE_DIR (or cache_dir) to a directory of your own, or pass --no-cache",
        )
    if info.st_mode & 0o022:
        raise ConfigError(
            f"{path}: the cache directory may be written by others (mode {stat.S_IMODE(info.st_mode):o})",
            hint=f"chmod go-w {path}, or pass --no-cache",
        )
    return path


def _canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _integer(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected a non-negative integer, got {value!r}")
    return value


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
