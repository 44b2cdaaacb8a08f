"""The values a comparison of two images produces: entries, layer and config differences.

:mod:`repro.reproduce.diff` computes them and :mod:`repro.reproduce.culprits` explains
them; both import these types from here, so neither imports the other's types back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from repro.oci.layout import Layer
from repro.reproduce.history import LayerOrigin

#: What can differ between two entries of the same path, most telling first.
ASPECTS = ("presence", "type", "content", "link", "device", "mode", "owner", "xattrs", "mtime", "pax")
#: Regular files up to this size keep their bytes, so a culprit can look at them.
SAMPLE_SIZE = 512

LayerStatus = Literal["same", "compression", "content", "only-a", "only-b"]

__all__ = ["ASPECTS", "SAMPLE_SIZE", "ConfigChange", "EntryDiff", "EntryState", "LayerDiff", "LayerStatus"]


@dataclass(frozen=True, slots=True)
class EntryState:
    """One tar entry reduced to what matters for comparison.

    ``sha256`` is the hex digest of a regular file's content; ``sample`` its bytes when it
    is at most :data:`SAMPLE_SIZE` long. ``xattrs`` and ``pax`` are sorted (name, value)
    pairs.
    """

    path: str
    type: str
    mode: int
    uid: int
    gid: int
    uname: str
    gname: str
    mtime: float
    size: int
    linkname: str = ""
    sha256: str | None = None
    sample: bytes | None = field(default=None, repr=False)
    device: tuple[int, int] | None = None
    xattrs: tuple[tuple[str, str], ...] = ()
    pax: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "type": self.type,
            "mode": f"{self.mode:04o}",
            "uid": self.uid,
            "gid": self.gid,
            "mtime": _format_time(self.mtime),
            "size": self.size,
        }
        if self.uname or self.gname:
            obj["owner_names"] = f"{self.uname}:{self.gname}"
        if self.sha256 is not None:
            obj["sha256"] = self.sha256
        if self.linkname:
            obj["link"] = self.linkname
        if self.device is not None:
            obj["device"] = list(self.device)
        if self.xattrs:
            obj["xattrs"] = dict(self.xattrs)
        if self.pax:
            obj["pax"] = dict(self.pax)
        return obj


@dataclass(frozen=True, slots=True)
class EntryDiff:
    """A path whose entries differ between the two layers; ``aspects`` says how
    (values from :data:`ASPECTS`). ``a`` or ``b`` is ``None`` when only one side has it."""

    path: str
    a: EntryState | None
    b: EntryState | None
    aspects: tuple[str, ...]

    @property
    def only_in(self) -> Literal["a", "b"] | None:
        if self.b is None:
            return "a"
        if self.a is None:
            return "b"
        return None

    def describe(self) -> str:
        """``content sha256:12ab… (10 B) ≠ sha256:34cd… (10 B); mtime … ≠ …``."""
        if self.a is None:
            return "only in B"
        if self.b is None:
            return "only in A"
        return "; ".join(
            f"{aspect} {_side(self.a, aspect)} ≠ {_side(self.b, aspect)}" for aspect in self.aspects
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "differs": list(self.aspects),
            "a": self.a.to_json() if self.a else None,
            "b": self.b.to_json() if self.b else None,
        }


@dataclass(frozen=True, slots=True)
class LayerDiff:
    """One layer index of the two images.

    ``status``: ``same`` (same blob), ``compression`` (same uncompressed content, different
    blob), ``content`` (different files, listed in ``entries``), ``only-a``/``only-b``
    (one image has more layers). ``omitted`` counts differing entries beyond the limit;
    ``order_differs`` is set when the tars list their entries in a different order.
    """

    index: int
    status: LayerStatus
    a: Layer | None
    b: Layer | None
    origin: LayerOrigin | None
    entries: tuple[EntryDiff, ...] = ()
    omitted: int = 0
    order_differs: bool = False

    @property
    def differs(self) -> bool:
        return self.status != "same"

    @property
    def differing_paths(self) -> int:
        return len(self.entries) + self.omitted

    def to_json(self) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "index": self.index,
            "status": self.status,
            "a": _layer_json(self.a),
            "b": _layer_json(self.b),
            "origin": self.origin.to_json() if self.origin else None,
        }
        if self.status == "content":
            obj["entries"] = [entry.to_json() for entry in self.entries]
            obj["omitted"] = self.omitted
            obj["order_differs"] = self.order_differs
        return obj


@dataclass(frozen=True, slots=True)
class ConfigChange:
    """A manifest or config field that differs; ``path`` like ``history[3].created`` or
    ``config.Labels["io.buildah.version"]``. ``in_a``/``in_b`` are False where a side lacks
    the field (its value is then ``None``)."""

    path: str
    a: Any
    b: Any
    in_a: bool = True
    in_b: bool = True

    def describe(self) -> str:
        left = json.dumps(self.a, sort_keys=True) if self.in_a else "(absent)"
        right = json.dumps(self.b, sort_keys=True) if self.in_b else "(absent)"
        return f"{self.path}: {_clip(left)} ≠ {_clip(right)}"

    def to_json(self) -> dict[str, Any]:
        obj: dict[str, Any] = {"path": self.path}
        if self.in_a:
            obj["a"] = self.a
        if self.in_b:
            obj["b"] = self.b
        return obj


def _side(state: EntryState, aspect: str) -> str:
    if aspect == "type":
        return state.type
    if aspect == "content":
        return f"sha256:{(state.sha256 or '')[:12]}… ({state.size} B)"
    if aspect == "link":
        return repr(state.linkname)
    if aspect == "device":
        return f"{state.device}"
    if aspect == "mode":
        return f"{state.mode:04o}"
    if aspect == "owner":
        names = f" ({state.uname}:{state.gname})" if state.uname or state.gname else ""
        return f"{state.uid}:{state.gid}{names}"
    if aspect == "xattrs":
        return ",".join(name for name, _ in state.xattrs) or "none"
    if aspect == "mtime":
        return _format_time(state.mtime)
    return ",".join(f"{key}={value}" for key, value in state.pax) or "none"


def _format_time(mtime: float) -> str:
    try:
        moment = datetime.fromtimestamp(mtime, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return str(mtime)
    return moment.isoformat().replace("+00:00", "Z")


def _layer_json(layer: Layer | None) -> dict[str, Any] | None:
    if layer is None:
        return None
    return {
        "digest": str(layer.digest),
        "diff_id": str(layer.diff_id),
        "media_type": layer.descriptor.media_type,
        "size": layer.descriptor.size,
    }


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
