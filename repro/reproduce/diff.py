"""Compare two images and say what differs, where it came from, and how to fix it.

:func:`diff_images` compares two images held in OCI layouts: manifest and config fields,
the layer stacks index by index and, where a layer's uncompressed content differs, the
files inside it. Layer tars (plain or gzip) are streamed side by side and never
extracted: each entry is reduced to its header fields and a sha256 of its content while
it passes, so memory grows with the number of *differing* entries, not with layer size.
Layers are attributed to Dockerfile instructions (:mod:`repro.reproduce.history`) and the
differences explained by known culprits (:mod:`repro.reproduce.culprits`).

    >>> a = open_image("oci:build-1:app")                      # doctest: +SKIP
    >>> b = open_image("oci:build-2:app")                      # doctest: +SKIP
    >>> diff = diff_images(a, b, dockerfile=parse(data))       # doctest: +SKIP
    >>> print(render_text(diff))                               # doctest: +SKIP
"""

from __future__ import annotations

import json
import re
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from repro.digest import Digest
from repro.dockerfile import Dockerfile
from repro.errors import ImageError, UsageError
from repro.images.location import ArchiveLocation, LayoutLocation, is_local, parse_location
from repro.layers.layertar import ENTRY_TYPES, open_layer_tar
from repro.oci.layout import Image, ImageLayout, Layer
from repro.reproduce.changes import (
    ASPECTS,
    SAMPLE_SIZE,
    ConfigChange,
    EntryDiff,
    EntryState,
    LayerDiff,
)
from repro.reproduce.culprits import Culprit, explain
from repro.reproduce.history import HistoryMap, map_image

__all__ = [
    "ConfigChange",
    "EntryDiff",
    "EntryState",
    "ImageDiff",
    "LayerComparison",
    "LayerDiff",
    "LayoutImage",
    "compare_layers",
    "diff_images",
    "layer_states",
    "open_image",
    "render_text",
]

#: Differing entries kept per layer; the rest are only counted.
MAX_ENTRIES = 10_000
_CHUNK = 1024 * 1024
# PAX records that tarfile already turns into TarInfo fields (or that are xattrs).
_PAX_FIELDS = frozenset({"path", "linkpath", "size", "uid", "gid", "uname", "gname", "mtime"})
_XATTR_PREFIXES = ("SCHILY.xattr.", "LIBARCHIVE.xattr.")
_NO_IMAGE = "(none)"


# --- opening images ---------------------------------------------------------------------


@dataclass(frozen=True)
class LayoutImage:
    """An image together with the layout that holds its blobs; ``name`` is for display."""

    layout: ImageLayout
    image: Image
    name: str


def open_image(ref: str, *, workdir: Path | None = None) -> LayoutImage:
    """Open ``oci:DIR[:TAG]`` (or a bare directory holding one image), or an archive.

    An archive (``oci-archive:``, ``docker-archive:``) is unpacked into a new directory
    under ``workdir`` (which the caller removes), with the checks of
    :mod:`repro.images.archive`. Raises :class:`~repro.errors.ImageError` when the layout
    or the tag is missing or the archive is malformed.
    """
    location = parse_location(ref if is_local(ref) else f"oci:{ref}", what="IMAGE")
    if isinstance(location, ArchiveLocation):
        if workdir is None:
            raise UsageError(f"IMAGE {ref}: an archive needs a directory to be unpacked into")
        from repro.images.archive import unpack_archive

        unpacked = unpack_archive(location, Path(tempfile.mkdtemp(prefix="archive-", dir=workdir)))
        layout = ImageLayout.open(unpacked.directory)
        return LayoutImage(layout=layout, image=layout.image(unpacked.tag), name=location.display)
    assert isinstance(location, LayoutLocation)  # noqa: S101 (local and not an archive)
    layout = ImageLayout.open(location.directory)
    image = layout.image(location.tag)
    return LayoutImage(layout=layout, image=image, name=location.display)


# --- results ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageDiff:
    """The result of :func:`diff_images`."""

    a_name: str
    b_name: str
    a_digest: Digest
    b_digest: Digest
    layer_counts: tuple[int, int]
    layers: tuple[LayerDiff, ...] = ()
    config_changes: tuple[ConfigChange, ...] = ()
    findings: tuple[Culprit, ...] = ()
    history_note: str = ""

    @property
    def identical(self) -> bool:
        return self.a_digest == self.b_digest

    @property
    def first_differing_layer(self) -> int | None:
        return next((layer.index for layer in self.layers if layer.differs), None)

    @property
    def differing_layers(self) -> tuple[LayerDiff, ...]:
        return tuple(layer for layer in self.layers if layer.differs)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict with a stable shape and order."""
        return {
            "identical": self.identical,
            "a": {"name": self.a_name, "digest": str(self.a_digest), "layers": self.layer_counts[0]},
            "b": {"name": self.b_name, "digest": str(self.b_digest), "layers": self.layer_counts[1]},
            "first_differing_layer": self.first_differing_layer,
            "findings": [finding.to_json() for finding in self.findings],
            "layers": [layer.to_json() for layer in self.layers],
            "config_changes": [change.to_json() for change in self.config_changes],
            "history_note": self.history_note or None,
        }


# --- comparing --------------------------------------------------------------------------


def diff_images(
    a: LayoutImage,
    b: LayoutImage,
    *,
    dockerfile: Dockerfile | None = None,
    target: str | None = None,
    build_args: Mapping[str, str] | None = None,
    max_entries: int = MAX_ENTRIES,
) -> ImageDiff:
    """Compare image ``a`` with image ``b``.

    ``dockerfile`` (with ``target`` and ``build_args`` as given to the build) lets layers
    and findings name the instruction and ``file:line`` that made them. Layers whose
    uncompressed digests differ are streamed and compared entry by entry; every blob read
    is checked against its digest. Raises :class:`~repro.errors.ImageError` for a missing,
    corrupted or unreadable blob.
    """
    counts = (len(a.image.layers), len(b.image.layers))
    if a.image.digest == b.image.digest:
        return ImageDiff(a.name, b.name, a.image.digest, b.image.digest, counts)
    map_a = map_image(a.image, dockerfile, target=target, build_args=build_args)
    map_b = map_image(b.image, dockerfile, target=target, build_args=build_args)
    layers = tuple(_diff_layer(index, a, b, (map_a, map_b), max_entries) for index in range(max(counts)))
    changes = tuple(_manifest_changes(a.image, b.image)) + tuple(
        _walk("", a.image.config, b.image.config, skip=frozenset({"rootfs.diff_ids"}))
    )
    note = ""
    if dockerfile is not None and not map_a.mapped:
        note = f"layers not mapped to Dockerfile lines: {map_a.reason}"
    return ImageDiff(
        a_name=a.name,
        b_name=b.name,
        a_digest=a.image.digest,
        b_digest=b.image.digest,
        layer_counts=counts,
        layers=layers,
        config_changes=changes,
        findings=explain(layers, changes, counts),
        history_note=note,
    )


def _diff_layer(
    index: int, a: LayoutImage, b: LayoutImage, maps: tuple[HistoryMap, HistoryMap], max_entries: int
) -> LayerDiff:
    map_a, map_b = maps
    layer_a = a.image.layers[index] if index < len(a.image.layers) else None
    layer_b = b.image.layers[index] if index < len(b.image.layers) else None
    origin = map_a.origin(index) if layer_a is not None else map_b.origin(index)
    if layer_a is None:
        return LayerDiff(index, "only-b", None, layer_b, origin)
    if layer_b is None:
        return LayerDiff(index, "only-a", layer_a, None, origin)
    if layer_a.digest == layer_b.digest:
        return LayerDiff(index, "same", layer_a, layer_b, origin)
    if layer_a.diff_id == layer_b.diff_id:
        return LayerDiff(index, "compression", layer_a, layer_b, origin)
    found = compare_layers(
        lambda: layer_states(a.layout, layer_a),
        lambda: layer_states(b.layout, layer_b),
        max_entries=max_entries,
    )
    return LayerDiff(index, "content", layer_a, layer_b, origin, *found)


def layer_states(layout: ImageLayout, layer: Layer) -> Iterator[EntryState]:
    """The entries of a layer tar (plain or gzip), streamed from its blob.

    The blob's digest is checked once the stream has been read to the end.
    """
    where = f"layer {layer.index} ({layer.digest.short})"
    with open_layer_tar(layout, layer) as (tar, _):
        while True:
            try:
                member = tar.next()
                if member is None:
                    break
                state = _entry_state(tar, member)
            except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
                raise ImageError(f"{where}: unreadable tar stream: {exc}") from exc
            # A stream-mode TarFile remembers every member; forget them to keep memory flat.
            tar.members.clear()  # type: ignore[attr-defined]  # typeshed omits it
            yield state


def compare_layers(
    open_a: Callable[[], Iterator[EntryState]],
    open_b: Callable[[], Iterator[EntryState]],
    *,
    max_entries: int = MAX_ENTRIES,
) -> LayerComparison:
    """Compare two entry streams in step.

    Entries are matched by path as they arrive; an entry waits only until its counterpart
    shows up, so two tars in the same order are compared holding only the names seen so
    far. A path that appears twice in one tar is settled as extraction would settle it,
    by its last entry: those few paths are read again in a second pass (``open_a`` and
    ``open_b`` each start a fresh stream).
    """
    pending_a: dict[str, EntryState] = {}
    pending_b: dict[str, EntryState] = {}
    seen_a: set[str] = set()
    seen_b: set[str] = set()
    duplicates: set[str] = set()
    found: dict[str, EntryDiff] = {}
    omitted = 0
    order_differs = False

    def record(path: str, left: EntryState | None, right: EntryState | None) -> None:
        nonlocal omitted
        aspects = _aspects(left, right)
        if not aspects or path in duplicates:
            return
        if len(found) < max_entries:
            found[path] = EntryDiff(path, left, right, aspects)
        else:
            omitted += 1

    def arrive(entry: EntryState, seen: set[str]) -> bool:
        if entry.path in seen:
            duplicates.add(entry.path)
            found.pop(entry.path, None)
            return False
        seen.add(entry.path)
        return entry.path not in duplicates

    stream_a, stream_b = open_a(), open_b()
    done_a = done_b = False
    while not (done_a and done_b):
        entry_a = None if done_a else next(stream_a, None)
        entry_b = None if done_b else next(stream_b, None)
        done_a = done_a or entry_a is None
        done_b = done_b or entry_b is None
        if entry_a is not None and entry_b is not None and entry_a.path != entry_b.path:
            order_differs = True
        if entry_a is not None and arrive(entry_a, seen_a):
            other = pending_b.pop(entry_a.path, None)
            if other is None:
                pending_a[entry_a.path] = entry_a
            else:
                record(entry_a.path, entry_a, other)
        if entry_b is not None and arrive(entry_b, seen_b):
            other = pending_a.pop(entry_b.path, None)
            if other is None:
                pending_b[entry_b.path] = entry_b
            else:
                record(entry_b.path, other, entry_b)
    for path, state in pending_a.items():
        record(path, state, None)
    for path, state in pending_b.items():
        record(path, None, state)
    if duplicates:
        found.update(_settle_duplicates(duplicates, open_a, open_b))
    entries = tuple(sorted(found.values(), key=lambda entry: entry.path))
    return LayerComparison(entries, omitted, order_differs)


def _settle_duplicates(
    paths: set[str],
    open_a: Callable[[], Iterator[EntryState]],
    open_b: Callable[[], Iterator[EntryState]],
) -> dict[str, EntryDiff]:
    last_a = {entry.path: entry for entry in open_a() if entry.path in paths}
    last_b = {entry.path: entry for entry in open_b() if entry.path in paths}
    settled: dict[str, EntryDiff] = {}
    for path in sorted(paths):
        aspects = _aspects(last_a.get(path), last_b.get(path))
        if aspects:
            settled[path] = EntryDiff(path, last_a.get(path), last_b.get(path), aspects)
    return settled


class LayerComparison(NamedTuple):
    """What :func:`compare_layers` found: differing entries sorted by path, how many more
    were left out, and whether the tars list their entries in a different order."""

    entries: tuple[EntryDiff, ...]
    omitted: int
    order_differs: bool


def _entry_state(tar: tarfile.TarFile, member: tarfile.TarInfo) -> EntryState:
    kind = ENTRY_TYPES.get(member.type, "other")
    digest: str | None = None
    sample: bytes | None = None
    if kind == "file":
        fileobj = tar.extractfile(member)
        hasher = Digest.hasher()
        if fileobj is not None:
            while chunk := fileobj.read(_CHUNK):
                if sample is None and hasher.size == 0 and member.size <= SAMPLE_SIZE:
                    sample = chunk[:SAMPLE_SIZE]
                hasher.update(chunk)
        if sample is None and member.size == 0:
            sample = b""
        digest = hasher.digest().hex
    xattrs: list[tuple[str, str]] = []
    pax: list[tuple[str, str]] = []
    for key, value in member.pax_headers.items():
        if key.startswith(_XATTR_PREFIXES):
            xattrs.append((key.split(".xattr.", 1)[1], value))
        elif key not in _PAX_FIELDS:
            pax.append((key, value))
    return EntryState(
        path=_normalise_path(member.name),
        type=kind,
        mode=member.mode & 0o7777,
        uid=member.uid,
        gid=member.gid,
        uname=member.uname,
        gname=member.gname,
        mtime=float(member.mtime),
        size=member.size if kind == "file" else 0,
        linkname=member.linkname if kind in ("symlink", "hardlink") else "",
        sha256=digest,
        sample=sample,
        device=(member.devmajor, member.devminor) if kind in ("char", "block") else None,
        xattrs=tuple(sorted(xattrs)),
        pax=tuple(sorted(pax)),
    )


def _normalise_path(name: str) -> str:
    path = name.lstrip("/")
    while path.startswith("./"):
        path = path[2:].lstrip("/")
    return path.rstrip("/") or "."


def _aspects(a: EntryState | None, b: EntryState | None) -> tuple[str, ...]:
    if a is None or b is None:
        return ("presence",)
    differs = {
        "type": a.type != b.type,
        "content": a.sha256 != b.sha256 or a.size != b.size,
        "link": a.linkname != b.linkname,
        "device": a.device != b.device,
        "mode": a.mode != b.mode,
        "owner": (a.uid, a.gid, a.uname, a.gname) != (b.uid, b.gid, b.uname, b.gname),
        "xattrs": a.xattrs != b.xattrs,
        "mtime": a.mtime != b.mtime,
        "pax": a.pax != b.pax,
    }
    if differs["type"]:
        differs["content"] = differs["link"] = differs["device"] = False
    return tuple(aspect for aspect in ASPECTS if differs.get(aspect))


def _manifest_changes(a: Image, b: Image) -> list[ConfigChange]:
    def fields(image: Image) -> dict[str, Any]:
        try:
            obj = json.loads(image.manifest.data)
        except (UnicodeDecodeError, json.JSONDecodeError):  # pragma: no cover - parsed before
            return {}
        obj.pop("config", None)
        obj.pop("layers", None)
        return obj if isinstance(obj, dict) else {}

    return list(_walk("manifest", fields(a), fields(b)))


_IDENTIFIER_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _child(path: str, key: str) -> str:
    if _IDENTIFIER_RE.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


_ABSENT: Any = object()


def _walk(path: str, a: Any, b: Any, *, skip: frozenset[str] = frozenset()) -> Iterator[ConfigChange]:
    """Field-by-field differences, in a fixed order (object keys sorted, lists by index).

    An object that one side lacks altogether is still compared key by key, so a missing
    ``annotations`` reports each annotation the other side has.
    """
    if path in skip or a == b:
        return
    if path.endswith("Env") and _is_env(a) and _is_env(b):
        a, b = _env_map(a), _env_map(b)
    if isinstance(a, dict) or isinstance(b, dict):
        left = a if isinstance(a, dict) else {} if a is _ABSENT else None
        right = b if isinstance(b, dict) else {} if b is _ABSENT else None
        if left is not None and right is not None:
            for key in sorted(set(left) | set(right)):
                yield from _walk(
                    _child(path, key), left.get(key, _ABSENT), right.get(key, _ABSENT), skip=skip
                )
            return
    if isinstance(a, list) and isinstance(b, list):
        for index in range(max(len(a), len(b))):
            yield from _walk(
                f"{path}[{index}]",
                a[index] if index < len(a) else _ABSENT,
                b[index] if index < len(b) else _ABSENT,
                skip=skip,
            )
        return
    yield ConfigChange(
        path,
        None if a is _ABSENT else a,
        None if b is _ABSENT else b,
        in_a=a is not _ABSENT,
        in_b=b is not _ABSENT,
    )


def _is_env(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _env_map(env: Sequence[str]) -> dict[str, str]:
    return dict(item.partition("=")[::2] for item in env)


# --- rendering --------------------------------------------------------------------------


def render_text(diff: ImageDiff, *, max_paths: int = 20) -> str:
    """A compact report for people, most important first: verdict, likely causes, the
    differing layers with their paths (``max_paths`` per layer), then config fields."""
    lines = [f"A: {diff.a_name} {diff.a_digest}", f"B: {diff.b_name} {diff.b_digest}"]
    if diff.identical:
        lines.append("identical")
        return "\n".join(lines) + "\n"
    first = diff.first_differing_layer
    if first is not None:
        layer = diff.layers[first]
        where = layer.origin.describe() if layer.origin else f"layer {first}"
        lines.append(f"DIFFERENT — first differing layer: {first} ({where})")
    else:
        lines.append("DIFFERENT — every layer is the same; the manifest or config differs")
    if diff.findings:
        lines.append("")
        lines.append("Likely causes:")
        lines.extend(f"  - {finding.summary()}" for finding in diff.findings)
    lines.append("")
    same = [layer.index for layer in diff.layers if not layer.differs]
    lines.append(
        f"Layers: A has {diff.layer_counts[0]}, B has {diff.layer_counts[1]}"
        + (f"; the same: {_ranges(same)}" if same else "")
    )
    for layer in diff.differing_layers:
        lines.extend(_render_layer(layer, max_paths))
    if diff.history_note:
        lines.append(f"  ({diff.history_note})")
    if diff.config_changes:
        lines.append("")
        count = len(diff.config_changes)
        lines.append(
            f"Config and manifest ({'1 field differs' if count == 1 else f'{count} fields differ'}):"
        )
        lines.extend(f"  {change.describe()}" for change in diff.config_changes[:max_paths])
        if len(diff.config_changes) > max_paths:
            lines.append(f"  … and {len(diff.config_changes) - max_paths} more")
    return "\n".join(lines) + "\n"


def _render_layer(layer: LayerDiff, max_paths: int) -> list[str]:
    where = layer.origin.describe() if layer.origin else _NO_IMAGE
    if layer.status == "compression":
        return [f"  layer {layer.index}: same content, different compression — {where}"]
    if layer.status in ("only-a", "only-b"):
        side = "A" if layer.status == "only-a" else "B"
        return [f"  layer {layer.index}: only in {side} — {where}"]
    count = layer.differing_paths
    paths = "1 path differs" if count == 1 else f"{count} paths differ"
    lines = [f"  layer {layer.index}: {paths} — {where}"]
    if count == 0:
        detail = "entry order" if layer.order_differs else "tar format or padding"
        lines.append(f"      no entry differs; the tar streams differ in {detail}")
    width = max((len(entry.path) for entry in layer.entries[:max_paths]), default=0)
    for entry in layer.entries[:max_paths]:
        mark = {"a": "-", "b": "+"}.get(entry.only_in or "", "~")
        lines.append(f"      {mark} {entry.path.ljust(width)}  {entry.describe()}")
    if count > max_paths:
        lines.append(f"      … and {count - max_paths} more")
    return lines


def _ranges(indexes: Sequence[int]) -> str:
    parts: list[str] = []
    start = prev = indexes[0]
    for index in [*indexes[1:], None]:
        if index is not None and index == prev + 1:
            prev = index
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if index is not None:
            start = prev = index
    return ", ".join(parts)
