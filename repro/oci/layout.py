"""OCI image layouts on disk: read an image (manifest, config, layers with their history),
and write blobs and index entries atomically.

An image layout is a directory with ``oci-layout``, ``index.json`` and
``blobs/<algorithm>/<hex>``; ``buildah … -t oci:DIR:TAG`` and ``skopeo copy … oci:DIR:TAG``
write one. Every blob read through :class:`ImageLayout` is checked against its digest.

    >>> import tempfile
    >>> layout = ImageLayout.create(tempfile.mkdtemp())
    >>> desc = layout.write_blob(b"{}", "application/vnd.oci.empty.v1+json")
    >>> layout.read_blob(desc.digest)
    b'{}'
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

from repro.digest import Digest
from repro.errors import Error, ImageError, ReferenceFormatError
from repro.fsutil import atomic_write
from repro.oci import media
from repro.oci.models import Descriptor, Index, Manifest, parse_manifest

#: The annotation an index entry carries to name it (the TAG of ``oci:DIR:TAG``).
REF_NAME = "org.opencontainers.image.ref.name"
LAYOUT_VERSION = "1.0.0"
#: JSON documents (manifests, configs, index.json) larger than this are refused.
MAX_DOCUMENT_SIZE = 16 * 1024 * 1024
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class HistoryEntry:
    """One ``history`` entry of an image config: the instruction that made a layer."""

    created_by: str
    created: str | None = None
    comment: str | None = None
    empty_layer: bool = False

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> HistoryEntry:
        return cls(
            created_by=str(obj.get("created_by", "")),
            created=obj.get("created") if isinstance(obj.get("created"), str) else None,
            comment=obj.get("comment") if isinstance(obj.get("comment"), str) else None,
            empty_layer=obj.get("empty_layer") is True,
        )


@dataclass(frozen=True)
class Layer:
    """A layer of an image: its blob, its uncompressed digest, and what made it."""

    index: int
    descriptor: Descriptor
    diff_id: Digest
    history: HistoryEntry | None

    @property
    def digest(self) -> Digest:
        return self.descriptor.digest

    @property
    def compressed(self) -> bool:
        return self.descriptor.media_type not in (
            media.OCI_LAYER_TAR,
            "application/vnd.docker.image.rootfs.diff.tar",
        )


@dataclass(frozen=True)
class Image:
    """One image of a layout: manifest, parsed config, and layers in order."""

    manifest: Manifest
    config: Mapping[str, Any]
    layers: tuple[Layer, ...]

    @property
    def digest(self) -> Digest:
        return self.manifest.digest

    @property
    def history(self) -> tuple[HistoryEntry, ...]:
        return tuple(HistoryEntry.from_json(h) for h in self.config.get("history", []) if isinstance(h, dict))


def layers_with_history(manifest: Manifest, config: Mapping[str, Any]) -> tuple[Layer, ...]:
    """Pair each layer with its diff ID and the history entry that created it.

    History entries with ``empty_layer: true`` (ENV, LABEL, …) make no layer; the others
    map to layers in order. When the counts disagree (some engines omit history) layers
    without an entry get ``None`` rather than a wrong instruction.
    """
    rootfs = config.get("rootfs")
    diff_ids_raw = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids_raw, list) or len(diff_ids_raw) != len(manifest.layers):
        raise ImageError(
            f"image {manifest.digest}: config lists {len(diff_ids_raw or [])} diff IDs "
            f"for {len(manifest.layers)} layers"
        )
    try:
        diff_ids = [Digest.parse(str(d)) for d in diff_ids_raw]
    except ReferenceFormatError as exc:
        raise ImageError(f"image {manifest.digest}: invalid diff ID in config: {exc}") from exc
    history = [HistoryEntry.from_json(h) for h in config.get("history", []) if isinstance(h, dict)]
    layer_history = [h for h in history if not h.empty_layer]
    if len(layer_history) != len(manifest.layers):
        layer_history = []
    return tuple(
        Layer(
            index=i,
            descriptor=descriptor,
            diff_id=diff_ids[i],
            history=layer_history[i] if layer_history else None,
        )
        for i, descriptor in enumerate(manifest.layers)
    )


class ImageLayout:
    """An OCI image layout directory."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    # --- opening ---------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path | str) -> ImageLayout:
        layout = cls(path)
        marker = layout.path / "oci-layout"
        if not marker.is_file() or not (layout.path / "index.json").is_file():
            raise ImageError(
                f"{layout.path}: not an OCI image layout (no oci-layout or index.json)",
                hint="give a directory written by 'repro build -o oci:DIR' or 'skopeo copy … oci:DIR'",
            )
        return layout

    @classmethod
    def create(cls, path: Path | str) -> ImageLayout:
        """Open the layout at ``path``, creating an empty one if the directory has none."""
        layout = cls(path)
        (layout.path / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        if not (layout.path / "oci-layout").exists():
            atomic_write(
                layout.path / "oci-layout", json.dumps({"imageLayoutVersion": LAYOUT_VERSION}).encode()
            )
        if not (layout.path / "index.json").exists():
            atomic_write(layout.path / "index.json", _index_bytes([]))
        return layout

    # --- blobs -----------------------------------------------------------------------

    def blob_path(self, digest: Digest) -> Path:
        return self.path / "blobs" / digest.algorithm / digest.hex

    def has_blob(self, digest: Digest) -> bool:
        return self.blob_path(digest).is_file()

    def _open_regular(self, path: Path, what: str) -> tuple[BinaryIO, int]:
        """``path`` opened for reading, and its size, if it is a regular file of the layout.

        A FIFO would block ``open`` and a device (a link to ``/dev/zero``) never ends:
        both are refused, as is a link that leaves the layout. The file is opened without
        blocking and checked through its descriptor, so it cannot be swapped in between.
        """
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError as exc:
            raise ImageError(f"{self.path}: {what} is missing") from exc
        except OSError as exc:
            raise ImageError(f"{path}: cannot read {what}: {exc.strerror}") from exc
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise ImageError(f"{path}: {what} is not a regular file; refusing to read it")
            if path.is_symlink():
                root = os.path.realpath(self.path)
                if os.path.commonpath([root, os.path.realpath(path)]) != root:
                    raise ImageError(f"{path}: {what} is a link out of the layout; refusing to read it")
            os.set_blocking(fd, True)
            return os.fdopen(fd, "rb"), info.st_size
        except BaseException:
            os.close(fd)
            raise

    def read_blob(self, digest: Digest, *, max_size: int = MAX_DOCUMENT_SIZE) -> bytes:
        """The bytes of a (small) blob, verified against ``digest``."""
        fh, size = self._open_regular(self.blob_path(digest), f"blob {digest}")
        with fh:
            if size > max_size:
                raise ImageError(f"{self.path}: blob {digest} is larger than {max_size} bytes")
            data = fh.read(max_size + 1)
        if len(data) > max_size:
            raise ImageError(f"{self.path}: blob {digest} is larger than {max_size} bytes")
        if Digest.of(data, digest.algorithm) != digest:
            raise ImageError(f"{self.path}: blob {digest} does not match its digest (corrupted layout)")
        return data

    @contextmanager
    def open_blob(self, digest: Digest, *, size: int | None = None) -> Iterator[BinaryIO]:
        """Stream a blob; on leaving the block the rest is read and the digest checked.

        A consumer such as :mod:`tarfile` may stop at the end-of-archive marker; the bytes
        it did not read are still hashed, so a blob is never half-verified. With ``size``
        (the descriptor's), a blob of another size is refused before it is read.
        """
        path = self.blob_path(digest)
        raw, actual = self._open_regular(path, f"blob {digest}")
        if size is not None and actual != size:
            raw.close()
            raise ImageError(f"{path}: blob is {actual} bytes, its descriptor says {size} (corrupted layout)")
        with raw:
            reader = _VerifyingReader(raw, digest, str(path))
            yield reader  # type: ignore[misc]
            reader.finish()

    def write_blob(self, data: bytes, media_type: str, **extra: Any) -> Descriptor:
        digest = Digest.of(data)
        path = self.blob_path(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, data)
        return Descriptor(media_type=media_type, digest=digest, size=len(data), **extra)

    def import_blob(self, source: Path, digest: Digest) -> None:
        """Copy the file ``source`` in as blob ``digest`` (hash checked while copying)."""
        path = self.blob_path(digest)
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".import.")
        try:
            hasher = Digest.hasher(digest.algorithm)
            with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                while chunk := src.read(_CHUNK):
                    hasher.update(chunk)
                    out.write(chunk)
            if hasher.digest() != digest:
                raise ImageError(f"{source}: content does not match {digest}")
            Path(tmp_name).replace(path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise

    @contextmanager
    def blob_writer(self, media_type: str) -> Iterator[_BlobWriter]:
        """Write a large blob by streaming; its descriptor is on the writer afterwards."""
        directory = self.path / "blobs" / "sha256"
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=".write.")
        writer = _BlobWriter(os.fdopen(fd, "wb"), media_type)
        try:
            with writer.file:
                yield writer
                descriptor = writer.finish()
            target = self.blob_path(descriptor.digest)
            if target.exists():
                Path(tmp_name).unlink()
            else:
                Path(tmp_name).replace(target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise

    # --- index -----------------------------------------------------------------------

    def index(self) -> Index:
        data = self._read_document(self.path / "index.json")
        try:
            parsed = parse_manifest(data, media.OCI_INDEX)
        except Error as exc:
            raise ImageError(f"{self.path}/index.json: {exc}") from exc
        if not isinstance(parsed, Index):
            raise ImageError(f"{self.path}/index.json: not an image index")
        return parsed

    def tags(self) -> list[str]:
        return [d.annotations[REF_NAME] for d in self.index().manifests if REF_NAME in d.annotations]

    def find(self, tag: str | None = None) -> Descriptor:
        """The index entry named ``tag``; without a tag, the only entry."""
        entries = self.index().manifests
        if tag is not None:
            matches = [d for d in entries if d.annotations.get(REF_NAME) == tag]
            if not matches:
                raise ImageError(
                    f"{self.path}: no image tagged {tag!r} (has: {', '.join(self.tags()) or 'none'})"
                )
            return matches[-1]
        if len(entries) != 1:
            raise ImageError(
                f"{self.path}: holds {len(entries)} images; say which with oci:{self.path}:TAG",
            )
        return entries[0]

    def set_tag(self, tag: str, descriptor: Descriptor) -> None:
        """Point ``tag`` at ``descriptor`` in index.json (atomically), replacing the old entry."""
        index = self.index()
        kept = [d.to_json() for d in index.manifests if d.annotations.get(REF_NAME) != tag]
        entry = descriptor.to_json()
        entry["annotations"] = {**entry.get("annotations", {}), REF_NAME: tag}
        atomic_write(self.path / "index.json", _index_bytes([*kept, entry]))

    # --- images ----------------------------------------------------------------------

    def manifest(self, descriptor: Descriptor) -> Manifest | Index:
        data = self.read_blob(descriptor.digest)
        try:
            return parse_manifest(data, descriptor.media_type, digest=descriptor.digest)
        except Error as exc:
            raise ImageError(f"{self.path}: manifest {descriptor.digest}: {exc}") from exc

    def image(self, tag: str | None = None, *, descriptor: Descriptor | None = None) -> Image:
        """The image named ``tag`` (or at ``descriptor``); an index must have one image."""
        target = descriptor or self.find(tag)
        document = self.manifest(target)
        if isinstance(document, Index):
            platforms = document.platform_manifests() or document.manifests
            if len(platforms) != 1:
                raise ImageError(
                    f"{self.path}: {target.digest} is an index of {len(platforms)} images; pick one"
                )
            document = self.manifest(platforms[0])
            if isinstance(document, Index):
                raise ImageError(f"{self.path}: nested index {target.digest} is not supported")
        config = self.config(document)
        return Image(manifest=document, config=config, layers=layers_with_history(document, config))

    def config(self, manifest: Manifest) -> dict[str, Any]:
        data = self.read_blob(manifest.config.digest)
        try:
            config = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ImageError(f"{self.path}: config {manifest.config.digest} is not JSON: {exc}") from exc
        except RecursionError as exc:
            raise ImageError(f"{self.path}: config {manifest.config.digest} is nested too deeply") from exc
        if not isinstance(config, dict):
            raise ImageError(f"{self.path}: config {manifest.config.digest} is not a JSON object")
        return config

    def _read_document(self, path: Path) -> bytes:
        fh, _ = self._open_regular(path, path.name)
        try:
            with fh:
                data = fh.read(MAX_DOCUMENT_SIZE + 1)
        except OSError as exc:
            raise ImageError(f"{path}: cannot read: {exc.strerror}") from exc
        if len(data) > MAX_DOCUMENT_SIZE:
            raise ImageError(f"{path}: larger than {MAX_DOCUMENT_SIZE} bytes")
        return data

    def copy_to(self, destination: Path) -> ImageLayout:
        """A copy of the whole layout at ``destination`` (which must not exist)."""
        shutil.copytree(self.path, destination)
        return ImageLayout(destination)


def _index_bytes(manifests: list[dict[str, Any]]) -> bytes:
    obj = {"schemaVersion": 2, "mediaType": media.OCI_INDEX, "manifests": manifests}
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()


class _VerifyingReader:
    """A read-only binary stream that hashes what passes through it."""

    def __init__(self, raw: IO[bytes], digest: Digest, name: str) -> None:
        self._raw = raw
        self._expected = digest
        self._hasher = Digest.hasher(digest.algorithm)
        self.name = name

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._hasher.update(data)
        return data

    def readable(self) -> bool:
        return True

    def finish(self) -> None:
        while chunk := self._raw.read(_CHUNK):
            self._hasher.update(chunk)
        if self._hasher.digest() != self._expected:
            raise ImageError(f"{self.name}: content does not match {self._expected} (corrupted layout)")


class _BlobWriter:
    """Collects a blob's digest and size while it is written."""

    def __init__(self, file: IO[bytes], media_type: str) -> None:
        self.file = file
        self.media_type = media_type
        self._hasher = Digest.hasher("sha256")
        self.descriptor: Descriptor | None = None

    def write(self, data: bytes) -> int:
        self._hasher.update(data)
        return self.file.write(data)

    def finish(self) -> Descriptor:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.descriptor = Descriptor(
            media_type=self.media_type, digest=self._hasher.digest(), size=self._hasher.size
        )
        return self.descriptor
