"""``repro.lock``: what every image reference of a set of Dockerfiles resolved to, and when.

``repro pin`` and ``repro refresh`` write it; later stages (build, release) read it. One
entry per image, keyed by its normalised ``name:tag`` (``name@digest`` for a reference
written without a tag)::

    {
      "images": {
        "docker.io/library/debian:bookworm": {
          "digest": "sha256:…",                 # the index (or the single manifest)
          "files": ["Dockerfile"],              # relative to the lock file
          "media_type": "application/vnd.oci.image.index.v1+json",
          "platforms": {"linux/amd64": "sha256:…", "linux/arm64": "sha256:…"},
          "resolved_at": "2026-11-28T07:30:00Z",
          "tag": "bookworm"
        }
      },
      "version": 1
    }

The format is JSON with sorted keys, a two-space indent and a final newline, so the same
content always gives the same bytes and a change shows up as a small, readable diff. JSON
rather than TOML because the standard library both reads and writes it (``tomllib`` only
reads), and because CI scripts can query it with ``jq`` as it is. ``resolved_at`` is when
the digest was first seen for the tag: re-resolving to the same digest keeps the old time,
so running ``repro pin`` twice leaves the file unchanged.

An entry written while its registry could not be reached (an already pinned reference
needs no registry) carries ``"verified": false`` and no media type or platforms; the next
run that reaches the registry fills it in.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from repro.digest import Digest
from repro.errors import ConfigError, ReferenceFormatError
from repro.fsutil import atomic_write

__all__ = [
    "LOCK_FILENAME",
    "LOCK_VERSION",
    "LockEntry",
    "Lockfile",
    "LockfileError",
    "read_lock",
    "timestamp",
    "write_lock",
]

LOCK_FILENAME: Final = "repro.lock"
LOCK_VERSION: Final = 1


class LockfileError(ConfigError):
    """``repro.lock`` cannot be read or is not a lock file this version understands."""

    default_hint = "fix or delete repro.lock and run 'repro pin' to write it again"


def timestamp(moment: datetime.datetime | None = None) -> str:
    """``moment`` (default: now) as UTC ISO 8601 to the second, e.g. ``2026-11-28T07:30:00Z``."""
    moment = moment or datetime.datetime.now(datetime.UTC)
    return moment.astimezone(datetime.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class LockEntry:
    """One image: the tag followed, the digest pinned, and each platform's manifest digest."""

    name: str
    tag: str | None
    digest: Digest
    resolved_at: str
    media_type: str | None = None
    #: ``"linux/arm64"`` -> that platform's manifest digest; empty for a single manifest.
    platforms: Mapping[str, Digest] = field(default_factory=dict)
    #: The files (relative to the lock file, ``/``-separated) that use the image.
    files: tuple[str, ...] = ()
    #: False when the registry could not be asked: the digest is as the file says it.
    verified: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "platforms", MappingProxyType(dict(sorted(self.platforms.items()))))
        object.__setattr__(self, "files", tuple(sorted(set(self.files))))

    @property
    def key(self) -> str:
        """``name:tag``, or ``name@digest`` when no tag was written."""
        return lock_key(self.name, self.tag, self.digest)

    def platform_of(self, digest: Digest) -> str | None:
        """The platform whose manifest has ``digest``, if it is one of this index's."""
        for platform, platform_digest in self.platforms.items():
            if platform_digest == digest:
                return platform
        return None

    def to_json(self) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "digest": str(self.digest),
            "files": list(self.files),
            "media_type": self.media_type,
            "platforms": {p: str(d) for p, d in self.platforms.items()},
            "resolved_at": self.resolved_at,
            "tag": self.tag,
        }
        if not self.verified:
            obj["verified"] = False
        return obj

    @classmethod
    def from_json(cls, key: str, obj: object, where: str) -> LockEntry:
        here = f"{where}: images.{key}"
        if not isinstance(obj, dict):
            raise LockfileError(f"{here}: expected an object")
        try:
            digest = Digest.parse(_string(obj, "digest", here))
            platforms_obj = obj.get("platforms", {})
            if not isinstance(platforms_obj, dict):
                raise LockfileError(f"{here}.platforms: expected an object")
            platforms = {
                str(p): Digest.parse(_as_str(d, f"{here}.platforms.{p}")) for p, d in platforms_obj.items()
            }
        except ReferenceFormatError as exc:
            raise LockfileError(f"{here}: {exc}") from exc
        files = obj.get("files", [])
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise LockfileError(f"{here}.files: expected a list of strings")
        tag = obj.get("tag")
        media_type = obj.get("media_type")
        if tag is not None and not isinstance(tag, str):
            raise LockfileError(f"{here}.tag: expected a string or null")
        if media_type is not None and not isinstance(media_type, str):
            raise LockfileError(f"{here}.media_type: expected a string or null")
        verified = obj.get("verified", True)
        if not isinstance(verified, bool):
            raise LockfileError(f"{here}.verified: expected true or false")
        name = key.partition("@")[0] if "@" in key else key.rpartition(":")[0] if tag is not None else key
        entry = cls(
            name=name,
            tag=tag,
            digest=digest,
            resolved_at=_string(obj, "resolved_at", here),
            media_type=media_type,
            platforms=platforms,
            files=tuple(files),
            verified=verified,
        )
        if entry.key != key:
            raise LockfileError(f"{here}: the key does not match the entry's name, tag and digest")
        return entry


def lock_key(name: str, tag: str | None, digest: Digest) -> str:
    """The key of an image in the lock: ``name:tag``, or ``name@digest`` without a tag."""
    return f"{name}:{tag}" if tag is not None else f"{name}@{digest}"


def _as_str(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise LockfileError(f"{where}: expected a string, got {value!r}")
    return value


def _string(obj: Mapping[str, object], key: str, where: str) -> str:
    return _as_str(obj.get(key), f"{where}.{key}")


@dataclass(frozen=True)
class Lockfile:
    """The whole lock: entries by key."""

    images: Mapping[str, LockEntry] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "images", MappingProxyType(dict(sorted(self.images.items()))))

    @classmethod
    def of(cls, entries: Iterable[LockEntry]) -> Lockfile:
        return cls({entry.key: entry for entry in entries})

    def get(self, key: str) -> LockEntry | None:
        return self.images.get(key)

    def to_json(self) -> dict[str, Any]:
        return {
            "images": {key: entry.to_json() for key, entry in self.images.items()},
            "version": LOCK_VERSION,
        }

    def dumps(self) -> bytes:
        """The canonical bytes: sorted keys, two-space indent, trailing newline."""
        return (json.dumps(self.to_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()

    @classmethod
    def loads(cls, data: bytes, *, where: str = LOCK_FILENAME) -> Lockfile:
        try:
            obj = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise LockfileError(f"{where}: not valid JSON: {exc}") from exc
        if not isinstance(obj, dict):
            raise LockfileError(f"{where}: expected a JSON object")
        version = obj.get("version")
        if version != LOCK_VERSION:
            raise LockfileError(
                f"{where}: lock file version {version!r} is not supported (this repro writes {LOCK_VERSION})"
            )
        images = obj.get("images", {})
        if not isinstance(images, dict):
            raise LockfileError(f"{where}: 'images' must be an object")
        return cls({key: LockEntry.from_json(key, value, where) for key, value in images.items()})


def read_lock(path: Path) -> Lockfile | None:
    """The lock at ``path``, or None when there is none."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LockfileError(f"{path}: cannot read: {exc.strerror}") from exc
    if not data:
        return None  # created to be locked by a run that died before writing it
    return Lockfile.loads(data, where=str(path))


def write_lock(path: Path, lock: Lockfile) -> bool:
    """Write ``lock`` atomically unless ``path`` already holds exactly these bytes.

    Returns whether the file was written.
    """
    data = lock.dumps()
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    atomic_write(path, data)
    return True
