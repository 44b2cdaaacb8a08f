"""Images in tar files: ``oci-archive:FILE[:TAG]`` and ``docker-archive:FILE[:NAME:TAG]``.

Writing: :func:`write_archive` packs an image of an OCI layout into either kind, with the
same bytes every time (entries sorted by name, mtime 0, uid/gid 0, no user names, fixed
modes, GNU tar headers without PAX time records), so two reproducible builds give two
identical archives. An OCI archive is the layout itself (``oci-layout``, ``index.json``,
the blobs its images reach); a docker archive is what ``docker load`` reads:
``manifest.json`` (``[{"Config", "RepoTags", "Layers"}]``), ``repositories``, the config
as ``<hex>.json`` and each layer uncompressed as ``<chain id>/layer.tar`` (with the legacy
``VERSION`` and ``json`` beside it), as ``docker save`` writes them.

Reading: :func:`unpack_archive` turns either kind into an OCI layout in a directory of
the caller's, for ``sbom``, ``diff`` and ``verify-image``. The tar is untrusted: no member
name is ever used as a path (members are matched against the names the format allows
and written to paths repro builds), names with ``..`` or a leading ``/``, duplicate
names, devices and FIFOs are refused, links are refused except the in-archive
``layer.tar`` links ``docker save`` writes for repeated layers, documents are capped at
:data:`~repro.oci.layout.MAX_DOCUMENT_SIZE`, no member may claim more bytes than the
file holds, and every blob is checked against its digest as it is copied. Nothing is
decompressed, so what is written never exceeds the archive's own size.

    >>> write_archive(Path("out"), parse_location("oci-archive:app.tar:v1"), tag="v1")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import posixpath
import re
import tarfile
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final, Protocol

from repro.digest import Digest
from repro.errors import ImageError, UsageError
from repro.fsutil import check_writable
from repro.images.location import ArchiveLocation, LayoutLocation
from repro.oci import media
from repro.oci.layout import MAX_DOCUMENT_SIZE, ImageLayout
from repro.oci.models import Descriptor, Index, Manifest

_CHUNK: Final = 1 << 20
_BLOB_NAME: Final = re.compile(r"blobs/(sha256|sha512)/([0-9a-f]{64}|[0-9a-f]{128})")
#: The tag an unpacked docker archive's image gets in its layout.
UNPACKED_TAG: Final = "image"
#: ``docker save``'s legacy per-layer version file.
_LEGACY_VERSION: Final = b"1.0"


# -- writing ---------------------------------------------------------------------------------


class _DeterministicTar:
    """Collects entries, then writes them sorted with fixed metadata to one file."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[Path | bytes | None, bool]] = {}

    def directory(self, name: str) -> None:
        self._entries[name.rstrip("/") + "/"] = (None, True)

    def data(self, name: str, data: bytes) -> None:
        self._entries[name] = (data, False)

    def file(self, name: str, path: Path) -> None:
        self._entries[name] = (path, False)

    def write(self, target: Path) -> None:
        """Write the tar to ``target`` atomically (a temporary file beside it, renamed)."""
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with (
                os.fdopen(fd, "wb") as raw,
                tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar,
            ):
                for name in sorted(self._entries):
                    source, is_dir = self._entries[name]
                    info = tarfile.TarInfo(name)
                    info.mtime = 0
                    info.uid = info.gid = 0
                    info.uname = info.gname = ""
                    if is_dir:
                        info.type = tarfile.DIRTYPE
                        info.mode = 0o755
                        tar.addfile(info)
                    elif isinstance(source, bytes):
                        info.mode = 0o644
                        info.size = len(source)
                        tar.addfile(info, io.BytesIO(source))
                    else:
                        assert source is not None  # noqa: S101 (files have a source)
                        info.mode = 0o644
                        info.size = source.stat().st_size
                        with source.open("rb") as handle:
                            tar.addfile(info, handle)
            Path(tmp_name).chmod(0o644 & ~_umask())
            Path(tmp_name).replace(target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _reachable(layout: ImageLayout, roots: Sequence[Descriptor]) -> list[Digest]:
    """Every blob the manifests ``roots`` reach (manifests, configs, layers), once each."""
    seen: dict[Digest, None] = {}
    pending = list(roots)
    while pending:
        descriptor = pending.pop()
        if descriptor.digest in seen:
            continue
        seen[descriptor.digest] = None
        if descriptor.media_type not in media.MANIFEST_TYPES:
            continue
        document = layout.manifest(descriptor)
        if isinstance(document, Index):
            pending += document.manifests
        else:
            pending += [document.config, *(d for d in document.layers if not d.urls)]
    return list(seen)


def write_oci_archive(layout_dir: Path, file: Path) -> None:
    """Pack the OCI layout ``layout_dir`` (its ``index.json`` and the blobs it reaches) into ``file``."""
    layout = ImageLayout.open(layout_dir)
    index = layout.index()
    tar = _DeterministicTar()
    tar.data("oci-layout", (layout.path / "oci-layout").read_bytes())
    tar.data("index.json", index.data)
    tar.directory("blobs")
    for digest in _reachable(layout, index.manifests):
        if not layout.has_blob(digest):
            raise ImageError(f"{layout_dir}: blob {digest} is missing")
        tar.directory(f"blobs/{digest.algorithm}")
        tar.file(f"blobs/{digest.algorithm}/{digest.hex}", layout.blob_path(digest))
    tar.write(file)


def chain_ids(diff_ids: Sequence[Digest]) -> list[Digest]:
    """Docker's layer chain IDs: each layer's identity given the layers below it.

    >>> a, b = Digest.of(b"a"), Digest.of(b"b")
    >>> chain_ids([a, b])[0] == a
    True
    """
    chain: list[Digest] = []
    for diff_id in diff_ids:
        chain.append(diff_id if not chain else Digest.of(f"{chain[-1]} {diff_id}".encode()))
    return chain


def _single_manifest(layout: ImageLayout, tag: str, where: str) -> Manifest:
    document = layout.manifest(layout.find(tag))
    if isinstance(document, Index):
        images = document.platform_manifests() or document.manifests
        if len(images) != 1:
            raise UsageError(
                f"{where}: the image is an index of {len(images)} platforms; a docker archive holds one",
                hint="write oci-archive:FILE[:TAG] for a multi-platform image, or build one --platform",
            )
        inner = layout.manifest(images[0])
        if not isinstance(inner, Manifest):
            raise ImageError(f"{where}: nested index {images[0].digest} is not supported")
        return inner
    return document


def write_docker_archive(layout_dir: Path, tag: str, file: Path, *, repo_tags: Sequence[str] = ()) -> None:
    """Pack the image ``tag`` of the layout ``layout_dir`` into ``file`` as ``docker save`` would.

    ``repo_tags`` are the ``NAME:TAG`` names ``docker load`` gives the image. Layers are
    written uncompressed and each must hash to its ``rootfs.diff_ids`` entry.
    """
    from repro.layers.layertar import decompressed

    where = f"docker-archive:{file}"
    layout = ImageLayout.open(layout_dir)
    manifest = _single_manifest(layout, tag, where)
    config_bytes = layout.read_blob(manifest.config.digest)
    try:
        config: dict[str, Any] = json.loads(config_bytes)
        diff_ids = [Digest.parse(d) for d in config["rootfs"]["diff_ids"]]
    except (ValueError, LookupError, TypeError) as exc:
        raise ImageError(
            f"{layout_dir}: config {manifest.config.digest} has no rootfs.diff_ids: {exc}"
        ) from exc
    if len(diff_ids) != len(manifest.layers):
        raise ImageError(
            f"{layout_dir}: the config names {len(diff_ids)} layers, the manifest {len(manifest.layers)}"
        )
    tar = _DeterministicTar()
    config_name = f"{manifest.config.digest.hex}.json"
    tar.data(config_name, config_bytes)
    chains = chain_ids(diff_ids)
    layer_names: list[str] = []
    file.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=file.parent, prefix=f".{file.name}.layers.") as tmp:
        for position, (layer, diff_id, chain) in enumerate(
            zip(manifest.layers, diff_ids, chains, strict=True)
        ):
            directory = chain.hex
            plain = Path(tmp) / f"{position}.tar"
            hasher = hashlib.sha256()
            with layout.open_blob(layer.digest, size=layer.size) as blob, plain.open("wb") as out:
                stream, _ = decompressed(blob, f"layer {position} ({layer.digest.short})")
                while chunk := stream.read(_CHUNK):
                    hasher.update(chunk)
                    out.write(chunk)
            if f"sha256:{hasher.hexdigest()}" != str(diff_id):
                raise ImageError(
                    f"{layout_dir}: layer {position} uncompresses to sha256:{hasher.hexdigest()}, "
                    f"the config says {diff_id}"
                )
            tar.directory(directory)
            tar.file(f"{directory}/layer.tar", plain)
            tar.data(f"{directory}/VERSION", _LEGACY_VERSION)
            legacy: dict[str, Any] = {"id": directory}
            if position:
                legacy["parent"] = chains[position - 1].hex
            tar.data(f"{directory}/json", _json(legacy))
            layer_names.append(f"{directory}/layer.tar")
        entry: dict[str, Any] = {
            "Config": config_name,
            "RepoTags": list(repo_tags) or None,
            "Layers": layer_names,
        }
        tar.data("manifest.json", _json([entry]))
        if repo_tags and chains:
            repositories: dict[str, dict[str, str]] = {}
            for name_tag in repo_tags:
                name, _, name_tag_tag = name_tag.rpartition(":")
                repositories.setdefault(name, {})[name_tag_tag] = chains[-1].hex
            tar.data("repositories", _json(repositories))
        tar.write(file)


def _json(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def docker_repo_tags(names: Sequence[str]) -> list[str]:
    """``NAME[:TAG]`` names as ``docker load`` lists them (``docker.io/library/`` dropped, ``:latest`` added)."""
    from repro.reference import parse_reference

    tags: list[str] = []
    for text in names:
        ref = parse_reference(text)
        if ref.digest is not None:
            raise UsageError(f"{text}: a docker archive names images by tag, not by digest")
        family = ref.familiar if ref.tag else f"{ref.familiar}:latest"
        if family not in tags:
            tags.append(family)
    return tags


def write_archive(
    layout_dir: Path, location: ArchiveLocation, *, tag: str, names: Sequence[str] = ()
) -> None:
    """Write the image ``tag`` of ``layout_dir`` (all of it, for an OCI archive) to ``location``.

    ``names`` (``-t`` values) join the location's ``NAME:TAG`` in a docker archive's RepoTags.
    """
    if location.format == "oci-archive":
        write_oci_archive(layout_dir, location.file)
        return
    given = [location.reference] if location.reference else []
    write_docker_archive(layout_dir, tag, location.file, repo_tags=docker_repo_tags([*given, *names]))


@contextmanager
def archive_output(location: ArchiveLocation) -> Iterator[Path]:
    """A temporary layout directory to build into; on a normal exit, written to ``location``.

    The caller tags the image in the layout with :func:`archive_tag` of the location.
    Nothing is written when the block raises; a destination that cannot be written is an
    :class:`OSError` before the block runs.
    """
    if location.file.is_dir():
        raise UsageError(f"-o {location.text}: {location.file} is a directory, not a file")
    check_writable(location.file)  # a read-only destination fails now, not after the build
    with tempfile.TemporaryDirectory(prefix="repro-archive-") as tmp:
        yield Path(tmp) / "layout"


def archive_tag(location: ArchiveLocation) -> str | None:
    """The tag the image gets in the layout an archive is made from (None: the default)."""
    if location.format == "oci-archive":
        return location.reference
    return None


# -- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Member:
    info: tarfile.TarInfo
    name: str  # normalised: no leading ./


def _normal_name(raw: str, where: str) -> str:
    name = raw
    while name.startswith("./"):
        name = name[2:]
    name = name.rstrip("/")
    parts = name.split("/")
    if raw.startswith("/") or not name or any(part in ("..", "") for part in parts) or "\\" in name:
        raise ImageError(
            f"{where}: member {raw!r} is not a plain relative name; refusing the archive",
            hint="an image archive holds relative names only; this one may try to write outside its directory",
        )
    return "/".join(p for p in parts if p != ".")


def _checked_members(tar: tarfile.TarFile, size: int, where: str, *, links: bool) -> dict[str, _Member]:
    """The archive's members by normalised name, after the checks in the module docstring."""
    members: dict[str, _Member] = {}
    for info in tar.getmembers():
        name = _normal_name(info.name, where)
        if name in members:
            raise ImageError(f"{where}: member {name!r} appears twice; refusing an ambiguous archive")
        if info.isdir():
            continue
        if info.issym() or info.islnk():
            if not links:
                raise ImageError(
                    f"{where}: member {name!r} is a link; an OCI archive holds regular files only"
                )
        elif not info.isreg():
            raise ImageError(f"{where}: member {name!r} is a device or FIFO; refusing the archive")
        if info.isreg() and info.offset_data + info.size > size:
            raise ImageError(f"{where}: member {name!r} claims {info.size} bytes, more than the file holds")
        members[name] = _Member(info, name)
    return members


def _resolve(members: Mapping[str, _Member], name: str, where: str) -> _Member:
    """The regular member ``name`` names, following at most a few in-archive links."""
    seen: list[str] = []
    member = members.get(name)
    while member is not None and (member.info.issym() or member.info.islnk()):
        if len(seen) > 8 or member.name in seen:
            raise ImageError(f"{where}: member {name!r} is a loop of links")
        seen.append(member.name)
        target = member.info.linkname
        if member.info.issym():
            target = posixpath.join(posixpath.dirname(member.name), target)
        target = posixpath.normpath(target)
        if target.startswith(("/", "../")) or target == "..":
            raise ImageError(
                f"{where}: member {member.name!r} links to {member.info.linkname!r}, outside the archive; "
                "refusing the archive"
            )
        member = members.get(target)
    if member is None:
        raise ImageError(f"{where}: no {name} in the archive")
    return member


def _read_document(tar: tarfile.TarFile, member: _Member, where: str) -> bytes:
    if member.info.size > MAX_DOCUMENT_SIZE:
        raise ImageError(
            f"{where}: {member.name} has {member.info.size} bytes, more than {MAX_DOCUMENT_SIZE}; "
            "refusing the archive"
        )
    handle = tar.extractfile(member.info)
    if handle is None:
        raise ImageError(f"{where}: {member.name} cannot be read")
    return handle.read()


class _Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...


def _copy_member(tar: tarfile.TarFile, member: _Member, out: _Sink, where: str) -> None:
    handle = tar.extractfile(member.info)
    if handle is None:
        raise ImageError(f"{where}: {member.name} cannot be read")
    remaining = member.info.size
    while remaining:
        chunk = handle.read(min(_CHUNK, remaining))
        if not chunk:
            raise ImageError(f"{where}: {member.name} ends early")
        out.write(chunk)
        remaining -= len(chunk)


@contextmanager
def _open_tar(file: Path, where: str) -> Iterator[tuple[tarfile.TarFile, int]]:
    try:
        size = file.stat().st_size
        tar = tarfile.open(file, mode="r:")  # noqa: SIM115 (closed by the with below)
    except FileNotFoundError as exc:
        raise ImageError(f"{where}: no such file") from exc
    except (OSError, tarfile.TarError) as exc:
        raise ImageError(f"{where}: not a readable tar archive: {exc}") from exc
    with tar:
        try:
            yield tar, size
        except (tarfile.TarError, EOFError) as exc:
            raise ImageError(f"{where}: the tar archive is damaged: {exc}") from exc


def _unpack_oci(location: ArchiveLocation, directory: Path) -> LayoutLocation:
    where = location.display
    layout = ImageLayout.create(directory)
    with _open_tar(location.file, where) as (tar, size):
        members = _checked_members(tar, size, where, links=False)
        for required in ("oci-layout", "index.json"):
            if required not in members:
                raise ImageError(f"{where}: no {required} in the archive; not an OCI archive")
        (directory / "index.json").write_bytes(_read_document(tar, members["index.json"], where))
        for name, member in sorted(members.items()):
            match = _BLOB_NAME.fullmatch(name)
            if match is None:
                continue
            digest = Digest.parse(f"{match[1]}:{match[2]}")
            target = layout.blob_path(digest)
            target.parent.mkdir(parents=True, exist_ok=True)
            with _HashingFile(target, digest, where) as out:
                _copy_member(tar, member, out, where)
    ImageLayout.open(directory).index()  # index.json must parse
    return LayoutLocation(f"oci:{directory}", directory, location.reference)


class _HashingFile:
    """A new file that must hash to ``digest``; removed if it does not."""

    def __init__(self, path: Path, digest: Digest, where: str) -> None:
        self.path = path
        self.digest = digest
        self.where = where
        self.hasher = Digest.hasher(digest.algorithm)
        self.file: IO[bytes] | None = None

    def __enter__(self) -> _HashingFile:
        self.file = self.path.open("xb")
        return self

    def write(self, data: bytes) -> int:
        self.hasher.update(data)
        assert self.file is not None  # noqa: S101 (inside the with)
        return self.file.write(data)

    def __exit__(self, kind: object, *rest: object) -> None:
        assert self.file is not None  # noqa: S101 (inside the with)
        self.file.close()
        if kind is None and self.hasher.digest() != self.digest:
            self.path.unlink()
            raise ImageError(
                f"{self.where}: blob {self.digest} does not match its digest; refusing the archive"
            )
        if kind is not None:
            self.path.unlink(missing_ok=True)


def _pick_docker_entry(entries: list[Any], reference: str | None, where: str) -> dict[str, Any]:
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise ImageError(f"{where}: manifest.json does not list images")
    if reference is None:
        if len(entries) != 1:
            raise ImageError(
                f"{where}: the archive holds {len(entries)} images; say which with docker-archive:FILE:NAME:TAG"
            )
        return dict(entries[0])
    wanted = docker_repo_tags([reference])[0]
    for entry in entries:
        tags = entry.get("RepoTags") or []
        if isinstance(tags, list) and wanted in docker_repo_tags([str(t) for t in tags]):
            return dict(entry)
    raise ImageError(f"{where}: no image named {reference} in the archive")


def docker_archive_to_layout(
    archive: Path,
    output: Path,
    tag: str,
    *,
    annotations: Mapping[str, str] | None = None,
    reference: str | None = None,
) -> Descriptor:
    """Write one image of the docker archive ``archive`` (the one named ``reference``, or its
    only one) into the OCI layout ``output`` as ``tag``; return the manifest's descriptor.

    The config is kept byte for byte (so the image's config digest stays the same); each
    layer's bytes must hash to its ``rootfs.diff_ids`` entry. Raises ImageError for a
    malformed or hostile archive.
    """
    where = f"docker-archive:{archive}"
    layout = ImageLayout.create(output)
    with _open_tar(archive, where) as (tar, size):
        members = _checked_members(tar, size, where, links=True)
        manifest_member = _resolve(members, "manifest.json", where)
        if manifest_member.name != "manifest.json":
            raise ImageError(f"{where}: manifest.json is a link; refusing the archive")
        try:
            entry = _pick_docker_entry(
                json.loads(_read_document(tar, manifest_member, where)), reference, where
            )
            config_name = _normal_name(str(entry["Config"]), where)
            layer_names = [_normal_name(str(name), where) for name in entry["Layers"]]
        except (ValueError, LookupError, TypeError) as exc:
            raise ImageError(f"{where}: manifest.json does not describe an image: {exc}") from exc
        config_bytes = _read_document(tar, _resolve(members, config_name, where), where)
        try:
            config: dict[str, Any] = json.loads(config_bytes)
            diff_ids = [Digest.parse(d) for d in config["rootfs"]["diff_ids"]]
        except (ValueError, LookupError, TypeError) as exc:
            raise ImageError(f"{where}: {config_name} is not an image config: {exc}") from exc
        if len(diff_ids) != len(layer_names):
            raise ImageError(
                f"{where}: the config names {len(diff_ids)} layers, the archive holds {len(layer_names)}"
            )
        layers = []
        for name, diff_id in zip(layer_names, diff_ids, strict=True):
            member = _resolve(members, name, where)
            if layout.has_blob(diff_id):  # a repeated layer: already copied and checked
                layers.append(Descriptor(media.OCI_LAYER_TAR, diff_id, member.info.size))
                continue
            with layout.blob_writer(media.OCI_LAYER_TAR) as blob:
                _copy_member(tar, member, blob, where)
            if blob.descriptor is None or blob.descriptor.digest != diff_id:
                got = blob.descriptor.digest if blob.descriptor else "nothing"
                raise ImageError(f"{where}: {name} is {got}, the config says {diff_id}")
            layers.append(blob.descriptor)
    config_desc = layout.write_blob(config_bytes, media.OCI_CONFIG)
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media.OCI_MANIFEST,
        "config": config_desc.to_json(),
        "layers": [layer.to_json() for layer in layers],
    }
    if annotations:
        manifest["annotations"] = dict(sorted(annotations.items()))
    descriptor = layout.write_blob(json.dumps(manifest, sort_keys=True).encode(), media.OCI_MANIFEST)
    layout.set_tag(tag, descriptor)
    return descriptor


def unpack_archive(location: ArchiveLocation, directory: Path) -> LayoutLocation:
    """The archive at ``location`` as an OCI layout in ``directory`` (created; should be empty).

    A docker archive's image is tagged :data:`UNPACKED_TAG`; an OCI archive keeps its
    index as it is. Raises :class:`~repro.errors.ImageError` for a malformed or hostile
    archive (see the module docstring).
    """
    if location.format == "oci-archive":
        return _unpack_oci(location, directory)
    docker_archive_to_layout(location.file, directory, UNPACKED_TAG, reference=location.reference)
    return LayoutLocation(f"oci:{directory}:{UNPACKED_TAG}", directory, UNPACKED_TAG)


__all__ = [
    "UNPACKED_TAG",
    "archive_output",
    "archive_tag",
    "chain_ids",
    "docker_archive_to_layout",
    "docker_repo_tags",
    "unpack_archive",
    "write_archive",
    "write_docker_archive",
    "write_oci_archive",
]
