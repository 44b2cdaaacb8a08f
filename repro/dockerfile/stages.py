"""The stages of a Dockerfile and the images they pull, with ARG scoping as BuildKit does it.

:func:`build_stage_graph` splits a parsed :class:`~repro.dockerfile.parser.Dockerfile`
into stages, resolves ``FROM <stage>``, ``COPY --from=<stage|index>`` and
``RUN --mount=...,from=<stage>``, and lists every *external* image with the exact bytes
that name it, so that a pinner can replace those bytes and nothing else.

Scoping follows BuildKit: the ARGs before the first ``FROM`` (the global, or meta, ARGs)
are expanded in order, each default seeing the ARGs before it, a ``--build-arg`` replacing
the default of a declared ARG; ``FROM`` lines (image and ``--platform``) are expanded with
them and with the automatic platform ARGs (``BUILDPLATFORM``, ``TARGETARCH``, ...), whose
values only the builder knows. ``COPY --from`` and ``--mount from=`` are never expanded:
BuildKit rejects variables there.

    >>> from repro.dockerfile.parser import parse
    >>> df = parse(b"ARG TAG=3.20\\nFROM alpine:${TAG}\\n")
    >>> [(u.text, u.expanded) for u in build_stage_graph(df).external_images()]
    [('alpine:${TAG}', 'alpine:3.20')]
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from repro.dockerfile.parser import Dockerfile, Flag, Instruction, Span
from repro.dockerfile.shell import ShellLexer, ShellSyntaxError, UnknownVariableError
from repro.errors import DockerfileError

__all__ = [
    "AUTOMATIC_PLATFORM_ARGS",
    "GlobalArg",
    "ImageUse",
    "ImageUseKind",
    "Stage",
    "StageGraph",
    "StageReference",
    "build_stage_graph",
]

ImageUseKind = Literal["from", "copy-from", "mount-from", "syntax"]

#: ARGs BuildKit defines for every FROM line from the build and target platforms.
AUTOMATIC_PLATFORM_ARGS = frozenset(
    {
        "BUILDPLATFORM",
        "BUILDOS",
        "BUILDOSVERSION",
        "BUILDARCH",
        "BUILDVARIANT",
        "TARGETPLATFORM",
        "TARGETOS",
        "TARGETOSVERSION",
        "TARGETARCH",
        "TARGETVARIANT",
        "TARGETSTAGE",
    }
)

SCRATCH = "scratch"

# "$NAME", "${NAME}", "${NAME:-default}", "${NAME-default}": the image is the ARG's value.
_WHOLE_ARG_RE = re.compile(r"\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)(:?-[^}]*)?\})")
_GO_INT_RE = re.compile(r"[+-]?[0-9]+")
# An image that ends with a plain ARG: "rust:${VARIANT}", "nginx:1.20$patch"; group 3 set
# when the ARG has a modifier (not a place to write a digest).
_TRAILING_ARG_RE = re.compile(r"\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)(:?[-+?][^}]*)?\})$")
# "${IMAGE:-ubuntu:xenial}" as the whole default of ARG IMAGE.
_SELF_DEFAULT_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*):?-([^}$]*)\}")


@dataclass(frozen=True, slots=True)
class GlobalArg:
    """One name declared by an ``ARG`` before the first ``FROM``.

    ``default`` is the text after ``=`` as written (quotes included), ``value`` what
    BuildKit gives it: the ``--build-arg`` if one was passed, else the expanded default;
    ``None`` when it has neither, or when it depends on a value only the builder knows
    (``unresolved`` then says why).
    """

    name: str
    line: int
    default: str | None
    default_span: Span | None
    value: str | None
    overridden: bool
    unresolved: str = ""


@dataclass(frozen=True, slots=True)
class ImageUse:
    """An image the build pulls, and the bytes that name it.

    ``text`` is the raw text at ``span``; ``expanded`` the image after ARG expansion, or
    ``None`` with ``skip_reason`` saying why it cannot be known from the file.
    ``arg_default_span`` is set when ``text`` is just a global ARG (``$BASE``,
    ``${BASE:-...}``) whose literal default supplies the image: rewriting those bytes pins
    the image and keeps the indirection. ``platform`` is the ``--platform`` value as
    written (FROM only).
    """

    kind: ImageUseKind
    line: int
    text: str
    span: Span
    expanded: str | None
    arg_default_span: Span | None = None
    skip_reason: str = ""
    platform: str | None = None
    stage: int | None = None
    #: With ``arg_default_span`` (or alone, for the image token itself): the digest is
    #: appended to those bytes rather than replacing them with the whole reference, as
    #: for ``ARG VARIANT=1.60`` + ``FROM rust:${VARIANT}`` (Renovate's way).
    append: bool = False


@dataclass(frozen=True, slots=True)
class StageReference:
    """A ``COPY --from`` or ``--mount from=`` that names an earlier stage."""

    kind: Literal["copy-from", "mount-from"]
    line: int
    text: str
    span: Span
    stage: int
    used_in: int


@dataclass(frozen=True, slots=True)
class Stage:
    """One ``FROM`` and the instructions up to the next.

    ``name`` is lower-cased as BuildKit does; ``base_stage`` is the index of the stage
    this one builds on (``FROM <stage>``), ``None`` for an image or ``scratch``.
    """

    index: int
    name: str | None
    base: str
    base_span: Span
    base_expanded: str | None
    base_stage: int | None
    platform: str | None
    from_instruction: Instruction
    instructions: tuple[Instruction, ...]

    @property
    def is_scratch(self) -> bool:
        return self.base_expanded == SCRATCH and self.base_stage is None


@dataclass(frozen=True, slots=True)
class StageGraph:
    """The stages of a Dockerfile, its global ARGs and every image reference."""

    dockerfile: Dockerfile
    stages: tuple[Stage, ...]
    global_args: tuple[GlobalArg, ...]
    stage_references: tuple[StageReference, ...]
    images: tuple[ImageUse, ...]
    #: ``FILE:LINE: message`` for what a lenient build accepted (see build_stage_graph).
    warnings: tuple[str, ...] = ()

    def external_images(self) -> list[ImageUse]:
        """Images pulled from a registry, in file order (the ``# syntax=`` image first)."""
        return list(self.images)

    def stage(self, name: str) -> Stage | None:
        """The last stage called ``name`` (case-insensitive), as BuildKit resolves it."""
        found = None
        for stage in self.stages:
            if stage.name == name.lower():
                found = stage
        return found


class _Builder:
    def __init__(self, df: Dockerfile, build_args: Mapping[str, str], *, lenient: bool = False) -> None:
        self.lenient = lenient
        self.warnings: list[str] = list(df.warnings)
        self.df = df
        self.build_args = dict(build_args)
        self.lexer = ShellLexer(df.escape)
        self.env: dict[str, str] = {k: v for k, v in build_args.items() if k in AUTOMATIC_PLATFORM_ARGS}
        self.unknown: dict[str, str] = {
            name: f"${name} is set by the builder for the platform being built"
            for name in AUTOMATIC_PLATFORM_ARGS
            if name not in build_args
        }
        self.global_args: list[GlobalArg] = []
        self.images: list[ImageUse] = []
        self.references: list[StageReference] = []

    def error(self, line: int, message: str) -> DockerfileError:
        return DockerfileError(f"{self.df.filename}:{line}: {message}")

    def soft(self, line: int, message: str) -> None:
        """An error that touches no image reference: a warning when lenient."""
        error = self.error(line, message)
        if not self.lenient:
            raise error
        self.warnings.append(str(error))

    def span_text(self, span: Span) -> str:
        return self.df.data[span.start : span.end].decode("utf-8")

    def build(self) -> StageGraph:
        self.syntax()
        instructions = self.df.instructions
        first_from = next((i for i, ins in enumerate(instructions) if ins.keyword == "FROM"), None)
        if first_from is None:
            line = instructions[-1].start_line if instructions else 1
            raise self.error(line, "the Dockerfile has no FROM: there is no stage to build")
        for ins in instructions[:first_from]:
            if ins.keyword != "ARG":
                self.soft(
                    ins.start_line,
                    f"no build stage in current context: {ins.keyword} comes before the first FROM",
                )
                continue
            self.meta_arg(ins)

        froms = [i for i, ins in enumerate(instructions) if ins.keyword == "FROM"]
        names: list[str | None] = []
        for at in froms:
            args = instructions[at].arguments
            names.append(self.stage_name(args[2].text) if len(args) == 3 else None)

        # The last stage of each name: looked up by name, never by scanning the list,
        # so that 20,000 stages cost linear time.
        self.last_of: dict[str, int] = {name: i for i, name in enumerate(names) if name is not None}
        earlier: dict[str, int] = {}
        stages: list[Stage] = []
        for index, at in enumerate(froms):
            end = froms[index + 1] if index + 1 < len(froms) else len(instructions)
            stage = self.stage(index, instructions[at], instructions[at + 1 : end], earlier)
            stages.append(stage)
            name = names[index]
            if name is not None:
                earlier[name] = index
        for stage in stages:
            for ins in stage.instructions:
                self.copy_from(stage, ins, names)
                self.mount_from(stage, ins, names)
        return StageGraph(
            dockerfile=self.df,
            stages=tuple(stages),
            global_args=tuple(self.global_args),
            stage_references=tuple(self.references),
            images=tuple(sorted(self.images, key=lambda use: use.span.start)),
            warnings=tuple(self.warnings),
        )

    def stage_name(self, text: str) -> str:
        """A stage's name, lower case; a lenient build expands ARGs in it (``AS ${NAME}``)."""
        if self.lenient and "$" in text:
            try:
                return self.lexer.process(text, self.env).result.lower()
            except (ShellSyntaxError, UnknownVariableError):
                pass
        return text.lower()

    # -- directives and global ARGs ----------------------------------------------------

    def syntax(self) -> None:
        directive = self.df.directive("syntax")
        if directive is None:
            return
        # BuildKit takes the frontend image up to the first space.
        image = directive.value.split(" ", 1)[0]
        start = directive.value_span.start
        self.images.append(
            ImageUse(
                kind="syntax",
                line=directive.line,
                text=image,
                span=Span(start, start + len(image.encode())),
                expanded=image,
            )
        )

    def meta_arg(self, ins: Instruction) -> None:
        if not ins.arguments:
            raise self.error(ins.start_line, "ARG requires at least one argument")
        for argument in ins.arguments:
            name, has_default, default = argument.text.partition("=")
            if not name:
                raise self.error(ins.start_line, "ARG names can not be blank")
            default_span = None
            if has_default:
                raw_start = argument.span.start + len((name + "=").encode())
                default_span = Span(raw_start, argument.span.end)
            value: str | None = None
            unresolved = ""
            overridden = name in self.build_args
            if overridden:
                value = self.build_args[name]
            elif has_default:
                try:
                    result = self.lexer.process(default, self.env, unknown=self.unknown.keys())
                except UnknownVariableError as exc:
                    unresolved = self.unknown[exc.name]
                except ShellSyntaxError as exc:
                    raise self.error(ins.start_line, f"ARG {name}: {exc}") from None
                else:
                    value = result.result
                    for missing in sorted(result.unset_plain):
                        unresolved = self.unset_reason(missing)
                        value = None
                        break
            if value is not None:
                self.env[name] = value
                self.unknown.pop(name, None)
            elif unresolved:
                self.env.pop(name, None)
                self.unknown[name] = f"ARG {name} depends on a value repro cannot know: {unresolved}"
            self.global_args.append(
                GlobalArg(
                    name=name,
                    line=ins.start_line,
                    default=default if has_default else None,
                    default_span=default_span,
                    value=value,
                    overridden=overridden,
                    unresolved=unresolved,
                )
            )

    def unset_reason(self, name: str) -> str:
        if any(arg.name == name for arg in self.global_args):
            return f"ARG {name} has no value: give it a default or pass --build-arg {name}=..."
        return f"${name} is not a global ARG (declare it with ARG before the first FROM)"

    def last_global(self, name: str) -> GlobalArg | None:
        found = None
        for arg in self.global_args:
            if arg.name == name:
                found = arg
        return found

    # -- stages ------------------------------------------------------------------------

    def stage(
        self, index: int, ins: Instruction, body: tuple[Instruction, ...], earlier: Mapping[str, int]
    ) -> Stage:
        base = ins.arguments[0]
        platforms = ins.flag_values("platform")
        platform = platforms[-1] if platforms else None
        expanded: str | None = None
        skip_reason = ""
        try:
            result = self.lexer.process(base.text, self.env, unknown=self.unknown.keys())
        except UnknownVariableError as exc:
            skip_reason = f"the image depends on {exc.name}: {self.unknown[exc.name]}"
        except ShellSyntaxError as exc:
            raise self.error(ins.start_line, f"failed to process {base.text!r}: {exc}") from None
        else:
            if result.unset_plain:
                skip_reason = self.unset_reason(sorted(result.unset_plain)[0])
            elif not result.result:
                raise self.error(ins.start_line, f"base name ({base.text}) should not be blank")
            else:
                expanded = result.result

        base_stage = None
        place = self.arg_default_span(base.text, expanded) if expanded else None
        if expanded is not None and expanded in earlier:
            base_stage = earlier[expanded]
        elif expanded != SCRATCH:
            self.images.append(
                ImageUse(
                    kind="from",
                    line=ins.start_line,
                    text=self.span_text(base.span),
                    span=base.span,
                    expanded=expanded,
                    arg_default_span=place,
                    skip_reason=skip_reason,
                    platform=platform,
                    stage=index,
                    append=self.appends(base.text, place),
                )
            )
        args = ins.arguments
        return Stage(
            index=index,
            name=self.stage_name(args[2].text) if len(args) == 3 else None,
            base=base.text,
            base_span=base.span,
            base_expanded=expanded,
            base_stage=base_stage,
            platform=platform,
            from_instruction=ins,
            instructions=body,
        )

    def arg_default_span(self, text: str, expanded: str) -> Span | None:
        """The bytes of the ARG default that alone supplies ``expanded``, if there is one.

        That is an ARG whose literal default is the whole image (``FROM ${BASE}``), or,
        when lenient, the end of it (``FROM rust:${VARIANT}``: the digest is appended to
        the default). ``ARG IMAGE=${IMAGE:-ubuntu:xenial}`` counts as the literal inside.
        """
        match = _WHOLE_ARG_RE.fullmatch(text)
        if match is None and self.lenient:
            match = _TRAILING_ARG_RE.search(text)
            if match is None or match.group(3):
                return None
        if match is None:
            return None
        name = match.group(1) or match.group(2)
        arg = self.last_global(name)
        if arg is None or arg.overridden or arg.default is None or arg.default_span is None:
            return None
        whole = match.start() == 0
        if arg.value is None or (whole and (arg.value != expanded or not arg.value)):
            return None
        if not expanded.endswith(arg.value):
            return None
        default = _unquote(arg.default)
        if default == arg.value:
            return arg.default_span
        inner = _SELF_DEFAULT_RE.fullmatch(default)
        if self.lenient and inner is not None and inner.group(1) == name and inner.group(2) == arg.value:
            # ARG IMAGE=${IMAGE:-ubuntu:xenial}: the literal after ":-" is the place.
            end = arg.default_span.end - (1 if default != arg.default else 0) - 1  # before "}"
            return Span(end - len(inner.group(2).encode()), end)
        return None  # the default is built from other ARGs or escapes: not a literal

    def appends(self, text: str, place: Span | None) -> bool:
        """Whether the digest is appended (not the whole reference written) where it goes.

        True when the image ends with an ARG that is only part of it (``rust:${VARIANT}``),
        or, lenient, when it ends with literal text after ARGs (``${REG}.io/lib/${REG}:29``):
        then the image token itself takes the digest.
        """
        if not self.lenient or "$" not in text or _WHOLE_ARG_RE.fullmatch(text):
            return False
        if _TRAILING_ARG_RE.search(text) is not None:
            return place is not None  # no literal default to write into: no place at all
        return not text.endswith("}") and re.search(r"\$[A-Za-z_][A-Za-z0-9_]*$", text) is None

    # -- COPY --from and RUN --mount from= ----------------------------------------------

    def copy_from(self, stage: Stage, ins: Instruction, names: list[str | None]) -> None:
        if ins.keyword != "COPY":
            return
        for flag in ins.flags:
            if flag.name != "from" or flag.value is None:
                continue
            value = flag.value
            try:
                processed = self.lexer.process(value, {}).result
            except ShellSyntaxError as exc:
                raise self.error(ins.start_line, f"--from={value}: {exc}") from None
            if processed != value and self.lenient:
                self.copy_from_variable(stage, ins, flag, names)
                continue
            if processed != value:
                raise self.error(
                    ins.start_line,
                    "variable expansion is not supported for --from, define a new stage with FROM "
                    "using ARG from global scope as a workaround",
                )
            self.reference("copy-from", stage, ins, flag, start=0, end=len(value), names=names)

    def copy_from_variable(self, stage: Stage, ins: Instruction, flag: Flag, names: list[str | None]) -> None:
        """``COPY --from=$VAR`` as buildah (and newer BuildKit) read it: the global ARG's value."""
        value = flag.value or ""
        span = flag.value_span or flag.span
        try:
            result = self.lexer.process(value, self.env, unknown=self.unknown.keys())
        except UnknownVariableError as exc:
            expanded, reason = None, f"the image depends on {exc.name}: {self.unknown[exc.name]}"
        except ShellSyntaxError as exc:
            raise self.error(ins.start_line, f"--from={value}: {exc}") from None
        else:
            unset = sorted(result.unset_plain)
            expanded, reason = (None, self.unset_reason(unset[0])) if unset else (result.result, "")
        if expanded is not None and (expanded.lower() in self.last_of or _GO_INT_RE.fullmatch(expanded)):
            self.reference("copy-from", stage, ins, flag, start=-1, end=-1, names=names, value=expanded)
            return
        if expanded in (SCRATCH, ""):
            return
        place = self.arg_default_span(value, expanded) if expanded else None
        self.images.append(
            ImageUse(
                kind="copy-from",
                line=ins.start_line,
                text=self.span_text(span),
                span=span,
                expanded=expanded,
                arg_default_span=place,
                skip_reason=reason,
                stage=stage.index,
                append=self.appends(value, place),
            )
        )

    def mount_from(self, stage: Stage, ins: Instruction, names: list[str | None]) -> None:
        if ins.keyword != "RUN":
            return
        for flag in ins.flags:
            if flag.name != "mount" or flag.value is None:
                continue
            try:
                fields = _csv_fields(flag.value)
            except ValueError as exc:
                raise self.error(ins.start_line, f"failed to parse csv mounts: {exc}") from None
            for text, offsets in fields:
                key, has_value, value = text.partition("=")
                if not has_value or key.lower() != "from":
                    continue
                dollar = value.find("$")
                if dollar not in (-1, len(value) - 1):
                    self.soft(
                        ins.start_line,
                        "'from' doesn't support variable expansion, define alias stage instead",
                    )
                    continue
                first = offsets[len(key) + 1] if value else None
                last = offsets[-1] if value else None
                if first is None or last is None or last - first + 1 != len(value):
                    subspan_start, subspan_end = -1, -1
                else:
                    subspan_start, subspan_end = first, last + 1
                self.reference(
                    "mount-from",
                    stage,
                    ins,
                    flag,
                    start=subspan_start,
                    end=subspan_end,
                    names=names,
                    value=value,
                )

    def reference(
        self,
        kind: Literal["copy-from", "mount-from"],
        stage: Stage,
        ins: Instruction,
        flag: Flag,
        *,
        start: int,
        end: int,
        names: list[str | None],
        value: str | None = None,
    ) -> None:
        text = value if value is not None else (flag.value or "")
        span = flag.value_subspan(start, end) if start >= 0 else None
        target: int | None = None
        if kind == "copy-from" and _GO_INT_RE.fullmatch(text) and abs(int(text)) < 2**63:
            target = int(text)
            if not 0 <= target < len(names):
                self.soft(ins.start_line, f"invalid stage index {target}")
                return
        elif text.lower() in self.last_of:
            target = self.last_of[text.lower()]
        if target is not None:
            if target >= stage.index:
                verb = "copy" if kind == "copy-from" else "mount"
                self.soft(
                    ins.start_line,
                    f"cannot {verb} from stage {text!r}, it needs to be defined before the current stage",
                )
                return
            self.references.append(
                StageReference(
                    kind=kind,
                    line=ins.start_line,
                    text=text,
                    span=span if span is not None else (flag.value_span or flag.span),
                    stage=target,
                    used_in=stage.index,
                )
            )
            return
        if not text or text == SCRATCH:
            return
        reason = ""
        if span is None:
            span = flag.value_span or flag.span
            reason = "the image name is quoted or escaped in a way that cannot be rewritten in place"
        self.images.append(
            ImageUse(
                kind=kind,
                line=ins.start_line,
                text=self.span_text(span),
                span=span,
                expanded=text if not reason else None,
                skip_reason=reason,
                stage=stage.index,
            )
        )


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _csv_fields(value: str) -> list[tuple[str, list[int]]]:
    """One CSV record (as Go's encoding/csv reads it) with each character's index in ``value``."""
    fields: list[tuple[str, list[int]]] = []
    pos = 0
    while True:
        chars: list[str] = []
        offsets: list[int] = []
        if pos < len(value) and value[pos] == '"':
            pos += 1
            while True:
                if pos >= len(value):
                    raise ValueError(f'extraneous or missing " in quoted-field: {value}')
                if value[pos] == '"':
                    if pos + 1 < len(value) and value[pos + 1] == '"':
                        chars.append('"')
                        offsets.append(pos + 1)
                        pos += 2
                        continue
                    pos += 1
                    break
                chars.append(value[pos])
                offsets.append(pos)
                pos += 1
            if pos < len(value) and value[pos] != ",":
                raise ValueError(f'extraneous or missing " in quoted-field: {value}')
        else:
            while pos < len(value) and value[pos] != ",":
                if value[pos] == '"':
                    raise ValueError(f'bare " in non-quoted-field: {value}')
                chars.append(value[pos])
                offsets.append(pos)
                pos += 1
        fields.append(("".join(chars), offsets))
        if pos >= len(value):
            return fields
        pos += 1  # the comma


def build_stage_graph(
    df: Dockerfile, build_args: Mapping[str, str] | None = None, *, lenient: bool = False
) -> StageGraph:
    """The stages of ``df``, with global ARGs expanded using ``build_args`` (``--build-arg``).

    Raises :class:`~repro.errors.DockerfileError` where BuildKit would refuse the file: an
    instruction other than ARG before the first FROM, no FROM, an empty base name, a
    variable in ``--from``, a ``--from`` naming the current or a later stage, or a
    malformed ``${...}``. With ``lenient`` (a text tool such as ``pin``), what touches
    no image reference is a warning instead (:attr:`StageGraph.warnings`), ``COPY
    --from=$VAR`` and ``AS ${NAME}`` are expanded with the global ARGs, and images that
    end with an ARG or follow ARGs get a place to write their digest (``append``).
    """
    from repro.dockerfile.files import collector_paused

    with collector_paused():
        return _Builder(df, build_args or {}, lenient=lenient).build()
