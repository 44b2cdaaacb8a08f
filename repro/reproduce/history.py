"""Which Dockerfile instruction made each layer of an image.

An image's config lists one ``history`` entry per instruction; entries with
``empty_layer`` (ENV, LABEL, …) make no layer, the others map to the layers in order.
:func:`map_layers` lines the tail of that history up with the instructions of the built
stage (and of the stages it builds on, ``FROM <stage>``), and attributes what is left at
the front to the base image. Every pairing is checked by comparing the instruction with the
entry's ``created_by`` text, so a layer is given a ``file:line`` only when the two agree;
otherwise it keeps just its index and ``created_by``.

``created_by`` as the engines write it:

- buildah and the classic Docker builder: ``/bin/sh -c apt-get update`` for RUN
  (``|2 A=1 B=2 /bin/sh -c …`` with build args), ``/bin/sh -c #(nop) COPY file:<hex> in
  /dest `` for COPY/ADD, ``/bin/sh -c #(nop) ENV A=1`` for the others;
- BuildKit: ``RUN /bin/sh -c apt-get update # buildkit``, ``COPY src /dest # buildkit``,
  ``ENV A=1``, ``WORKDIR /app``.

    >>> from repro.dockerfile import parse
    >>> from repro.oci.layout import HistoryEntry
    >>> df = parse(b"FROM scratch\\nCOPY app /app\\nRUN /app --init\\n")
    >>> history = [HistoryEntry("/bin/sh -c #(nop) COPY file:ab12 in /app "),
    ...            HistoryEntry("/bin/sh -c /app --init")]
    >>> [o.describe() for o in map_layers(history, 2, df).origins]
    ['COPY at Dockerfile:2', 'RUN at Dockerfile:3']
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from repro.dockerfile import Dockerfile, Instruction, Stage, build_stage_graph
from repro.errors import UsageError
from repro.layers.createdby import CreatedBy, parse_created_by
from repro.oci.layout import HistoryEntry, Image

__all__ = [
    "CreatedBy",
    "HistoryMap",
    "LayerOrigin",
    "map_image",
    "map_layers",
    "parse_created_by",
]

#: Instructions that always leave a history entry and (usually) a layer.
_LAYER_KEYWORDS = frozenset({"RUN", "COPY", "ADD"})
_SPACE_RE = re.compile(r"\s+")
_SHORT_CREATED_BY = 72

OriginSource = Literal["instruction", "base", "unknown"]


def _squash(text: str) -> str:
    return _SPACE_RE.sub(" ", text).strip()


@dataclass(frozen=True, slots=True)
class LayerOrigin:
    """Where one layer came from.

    ``source`` is ``"instruction"`` when ``instruction`` made the layer (checked against
    ``created_by``), ``"base"`` for a layer of the base image (``instruction`` is then the
    ``FROM`` that names it), ``"unknown"`` when it could not be told.
    """

    layer: int
    created_by: str
    source: OriginSource
    instruction: Instruction | None = None
    stage: int | None = None
    filename: str | None = None

    @property
    def location(self) -> str | None:
        """``file:line`` of the instruction, when it is known."""
        if self.instruction is None or self.filename is None:
            return None
        return f"{self.filename}:{self.instruction.start_line}"

    @property
    def keyword(self) -> str | None:
        if self.source == "instruction" and self.instruction is not None:
            return self.instruction.keyword
        return None

    def describe(self) -> str:
        """``RUN at Dockerfile:2``, ``the base image (FROM debian:12 at Dockerfile:1)`` or
        ``layer 3 (/bin/sh -c make …)``."""
        if self.source == "instruction" and self.instruction is not None:
            return f"{self.instruction.keyword} at {self.location}"
        if self.source == "base":
            if self.instruction is not None:
                image = self.instruction.arguments[0].text if self.instruction.arguments else "?"
                return f"the base image (FROM {image} at {self.location})"
            return "the base image"
        return f"layer {self.layer} ({self.short_created_by() or 'no history'})"

    def short_created_by(self) -> str:
        text = _squash(self.created_by)
        if len(text) > _SHORT_CREATED_BY:
            text = text[: _SHORT_CREATED_BY - 1] + "…"
        return text

    def to_json(self) -> dict[str, Any]:
        obj: dict[str, Any] = {"layer": self.layer, "source": self.source, "created_by": self.created_by}
        if self.instruction is not None:
            obj["instruction"] = self.instruction.keyword
            obj["location"] = self.location
            obj["text"] = self.instruction.original
        if self.stage is not None:
            obj["stage"] = self.stage
        return obj


@dataclass(frozen=True, slots=True)
class HistoryMap:
    """The origin of every layer; ``reason`` says why lines are missing when they are."""

    origins: tuple[LayerOrigin, ...]
    mapped: bool
    reason: str = ""

    def origin(self, layer: int) -> LayerOrigin | None:
        if 0 <= layer < len(self.origins):
            return self.origins[layer]
        return None


def map_image(
    image: Image,
    dockerfile: Dockerfile | None = None,
    *,
    target: str | None = None,
    build_args: Mapping[str, str] | None = None,
) -> HistoryMap:
    """:func:`map_layers` for an image read from a layout."""
    return map_layers(image.history, len(image.layers), dockerfile, target=target, build_args=build_args)


def map_layers(
    history: Sequence[HistoryEntry],
    layer_count: int,
    dockerfile: Dockerfile | None = None,
    *,
    target: str | None = None,
    build_args: Mapping[str, str] | None = None,
) -> HistoryMap:
    """Attribute each of ``layer_count`` layers to a Dockerfile instruction or the base image.

    ``target`` names the stage that was built (``--target``; a name or an index); the last
    stage by default. Raises :class:`~repro.errors.UsageError` for an unknown target.
    """
    layer_entries = [entry for entry in history if not entry.empty_layer]
    created_by = [entry.created_by for entry in layer_entries]
    if len(layer_entries) != layer_count:
        return _unmapped(
            layer_count,
            created_by if len(created_by) == layer_count else [],
            f"the history lists {len(layer_entries)} layer entries for {layer_count} layers",
        )
    if dockerfile is None:
        return _unmapped(layer_count, created_by, "no Dockerfile given")
    graph = build_stage_graph(dockerfile, build_args)
    chain = _stage_chain(graph.stages, target)
    steps = [(stage, ins) for stage in chain for ins in stage.instructions]
    assigned = _align(list(history), steps)
    if isinstance(assigned, str):
        return _unmapped(layer_count, created_by, assigned)
    own_entries, base_entries = assigned
    root = chain[0]
    base_layers = sum(1 for index in range(base_entries) if not history[index].empty_layer)
    if root.is_scratch and base_layers:
        return _unmapped(
            layer_count,
            created_by,
            f"the history has {base_layers} layers before the Dockerfile's, but it builds FROM scratch",
        )
    origins: list[LayerOrigin] = []
    layer = 0
    for index, entry in enumerate(history):
        if entry.empty_layer:
            continue
        if index < base_entries:
            origin = LayerOrigin(
                layer=layer,
                created_by=entry.created_by,
                source="base",
                instruction=root.from_instruction,
                stage=root.index,
                filename=dockerfile.filename,
            )
        else:
            stage, ins = own_entries[index]
            origin = LayerOrigin(
                layer=layer,
                created_by=entry.created_by,
                source="instruction",
                instruction=ins,
                stage=stage.index,
                filename=dockerfile.filename,
            )
        origins.append(origin)
        layer += 1
    return HistoryMap(origins=tuple(origins), mapped=True)


def _unmapped(layer_count: int, created_by: Sequence[str], reason: str) -> HistoryMap:
    origins = tuple(
        LayerOrigin(layer=i, created_by=created_by[i] if created_by else "", source="unknown")
        for i in range(layer_count)
    )
    return HistoryMap(origins=origins, mapped=False, reason=reason)


def _stage_chain(stages: Sequence[Stage], target: str | None) -> list[Stage]:
    """The target stage and the stages it is built ``FROM``, root first."""
    if target is None:
        stage = stages[-1]
    elif target.isdigit() and int(target) < len(stages):
        stage = stages[int(target)]
    else:
        found = [s for s in stages if s.name == target.lower()]
        if not found:
            names = ", ".join(s.name for s in stages if s.name) or "none"
            raise UsageError(f"the Dockerfile has no stage {target!r} (named stages: {names})")
        stage = found[-1]
    chain = [stage]
    parent = stage.base_stage
    while parent is not None:
        chain.append(stages[parent])
        parent = stages[parent].base_stage
    return chain[::-1]


_Step = tuple[Stage, Instruction]


def _align(history: list[HistoryEntry], steps: list[_Step]) -> tuple[dict[int, _Step], int] | str:
    """Pair history entries with instructions, walking both from the end.

    Returns the pairing (history index -> step) and the number of leading entries that
    belong to the base image, or the reason the two cannot be lined up. An entry that
    makes no layer may be left unpaired (engines differ on which instructions they
    record), as may an instruction that makes none; a RUN, COPY or ADD never may, so the
    layers are paired exactly or not at all.
    """
    pairs: dict[int, _Step] = {}
    entry = len(history) - 1
    step = len(steps) - 1
    while step >= 0:
        stage, ins = steps[step]
        keyword = _keyword(ins)
        if entry < 0:
            if keyword in _LAYER_KEYWORDS:
                return f"{keyword} at line {ins.start_line} has no history entry"
            step -= 1
            continue
        parsed = parse_created_by(history[entry].created_by)
        if _agrees(parsed, ins):
            pairs[entry] = (stage, ins)
            entry -= 1
            step -= 1
        elif history[entry].empty_layer:
            entry -= 1
        elif keyword not in _LAYER_KEYWORDS:
            step -= 1
        else:
            return (
                f"layer entry {_squash(history[entry].created_by)[:_SHORT_CREATED_BY]!r} does not match "
                f"{keyword} at line {ins.start_line}"
            )
    return pairs, entry + 1


def _keyword(ins: Instruction) -> str:
    return ins.keyword.upper()


def _agrees(parsed: CreatedBy, ins: Instruction) -> bool:
    keyword = _keyword(ins)
    if parsed.keyword != keyword:
        return False
    if keyword == "RUN":
        return _run_agrees(_squash(parsed.text), ins)
    if keyword in ("COPY", "ADD"):
        return _copy_agrees(parsed.text, ins)
    return True


def _run_agrees(text: str, ins: Instruction) -> bool:
    after_keyword = _squash(ins.original[len(ins.keyword) :])
    if ins.heredocs:
        # Engines differ in how much of the heredoc they record; the first line is common.
        first = _squash(" ".join(a.text for a in ins.arguments))
        return bool(first) and first in text
    candidates: list[tuple[str, bool]] = [(after_keyword, False)]
    if ins.json_form:
        # BuildKit records exec form as the words joined by spaces.
        candidates.append((_squash(" ".join(a.text for a in ins.arguments)), True))
    else:
        candidates.append((_squash(" ".join(a.text for a in ins.arguments)), False))
    for command, exec_form in candidates:
        if not command or not text.endswith(command):
            continue
        prefix = text[: len(text) - len(command)]
        if prefix == "" or prefix.endswith(("-c ", "/C ", "/c ")):
            return True
        if exec_form and prefix.startswith("|"):
            return True
    return False


def _copy_agrees(text: str, ins: Instruction) -> bool:
    if not ins.arguments:
        return False
    destination = _strip_slash(ins.arguments[-1].text)
    head, sep, tail = text.rpartition(" in ")
    if sep and re.fullmatch(r"(?:file|dir|multi):[0-9a-f]+(?:, .*)?|\S+", head):
        recorded = tail.strip()
    else:
        words = text.rsplit(maxsplit=1)
        recorded = words[-1] if words else ""
        if recorded.startswith("["):
            try:
                array = json.loads(text)
            except json.JSONDecodeError:
                array = None
            if isinstance(array, list) and array:
                recorded = str(array[-1])
    return _strip_slash(recorded) == destination


def _strip_slash(path: str) -> str:
    return path.rstrip("/") or "/"
