"""The stage graph: FROM/--from/--mount resolution, ARG scoping, image spans for rewriting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from repro.dockerfile import ImageUse, build_stage_graph, parse
from repro.dockerfile.shell import ShellLexer, ShellSyntaxError, UnknownVariableError
from repro.errors import DockerfileError
from tests.unit.dockerfile.known_answers import ASSETS, describe_graph


def _images(data: bytes, build_args: dict[str, str] | None = None) -> list[ImageUse]:
    return build_stage_graph(parse(data), build_args).external_images()


@pytest.mark.parametrize("path", sorted(ASSETS.glob("*.Dockerfile")), ids=lambda p: p.stem)
def test_known_answer(path: Path) -> None:
    expected = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    graph = build_stage_graph(parse(path.read_bytes(), filename=path.name))
    assert describe_graph(graph) == expected["graph"]


def test_image_spans_cover_exactly_the_image_text() -> None:
    data = (
        b"# syntax=docker/dockerfile:1.7\n"
        b"FROM --platform=linux/arm64 alpine:3.20 AS base\n"
        b"FROM scratch\n"
        b"COPY --from=nginx:1.27 /a /a\n"
        b"RUN --mount=type=bind,from=busybox:1.36,target=/bb true\n"
    )
    uses = _images(data)
    assert [(u.kind, u.line, data[u.span.start : u.span.end]) for u in uses] == [
        ("syntax", 1, b"docker/dockerfile:1.7"),
        ("from", 2, b"alpine:3.20"),
        ("copy-from", 4, b"nginx:1.27"),
        ("mount-from", 5, b"busybox:1.36"),
    ]
    assert uses[1].platform == "linux/arm64"
    assert all(u.text == data[u.span.start : u.span.end].decode() for u in uses)


def test_stage_names_are_lower_cased_and_resolved() -> None:
    data = b"FROM a AS Build\nFROM build\nFROM Build\nCOPY --from=BUILD /x /x\n"
    graph = build_stage_graph(parse(data))
    assert [s.name for s in graph.stages] == ["build", None, None]
    assert graph.stages[1].base_stage == 0
    # FROM compares the expanded text with the lower-cased names as it is: "Build" is an image.
    assert graph.stages[2].base_stage is None
    assert [u.text for u in graph.external_images()] == ["a", "Build"]
    (reference,) = graph.stage_references
    assert (reference.kind, reference.stage, reference.used_in) == ("copy-from", 0, 2)
    assert graph.stage("BUILD") is graph.stages[0]


def test_scratch_is_not_an_image() -> None:
    graph = build_stage_graph(parse(b"FROM scratch\nCOPY --from=scratch /a /b\n"))
    assert graph.external_images() == []
    assert graph.stages[0].is_scratch


def test_copy_from_index() -> None:
    graph = build_stage_graph(parse(b"FROM a\nFROM b\nCOPY --from=0 /x /x\n"))
    (reference,) = graph.stage_references
    assert (reference.text, reference.stage) == ("0", 0)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"FROM a\nCOPY --from=0 /x /x\n", "Dockerfile:2: cannot copy from stage '0'"),
        (b"FROM a\nCOPY --from=5 /x /x\n", "Dockerfile:2: invalid stage index 5"),
        (
            b"FROM a\nCOPY --from=later /x /x\nFROM b AS later\n",
            "Dockerfile:2: cannot copy from stage 'later'",
        ),
        (b"FROM a AS x\nRUN --mount=from=x,target=/x true\n", "Dockerfile:2: cannot mount from stage 'x'"),
        (
            b"ARG S=a\nFROM a\nCOPY --from=$S /x /x\n",
            "Dockerfile:3: variable expansion is not supported for --from",
        ),
        (
            b"FROM a\nRUN --mount=from=${S},target=/x true\n",
            "Dockerfile:2: 'from' doesn't support variable expansion",
        ),
        (b"FROM a\nRUN --mount='\"from=a\"b,target=/x' true\n", "Dockerfile:2: failed to parse csv mounts"),
        (b"RUN x\nFROM a\n", "Dockerfile:1: no build stage in current context"),
        (b"ARG A=1\n", "Dockerfile:1: the Dockerfile has no FROM"),
        (b"ARG A\nFROM ${A:-}\n", "Dockerfile:2: base name (${A:-}) should not be blank"),
        (b"FROM ${A\n", "Dockerfile:1: failed to process"),
    ],
)
def test_refused_like_buildkit(data: bytes, message: str) -> None:
    with pytest.raises(DockerfileError) as raised:
        build_stage_graph(parse(data))
    assert str(raised.value).startswith(message)


# -- ARG scoping -----------------------------------------------------------------------


def test_global_arg_default_span_keeps_the_indirection() -> None:
    data = b'ARG BASE="alpine:3.20"\nFROM ${BASE}\nFROM $BASE\nFROM ${BASE:-x}\nFROM ${BASE}-suffix\n'
    uses = _images(data)
    assert [u.expanded for u in uses] == ["alpine:3.20", "alpine:3.20", "alpine:3.20", "alpine:3.20-suffix"]
    default = b'"alpine:3.20"'
    assert [None if u.arg_default_span is None else data[slice(*u.arg_default_span)] for u in uses] == [
        default,
        default,
        default,
        None,
    ]


def test_build_arg_overrides_the_default() -> None:
    data = b"ARG BASE=alpine:3.20\nFROM ${BASE}\n"
    (use,) = _images(data, {"BASE": "debian:12"})
    assert use.expanded == "debian:12"
    assert use.arg_default_span is None  # the default is not what is built


def test_arg_defaults_see_earlier_args_only() -> None:
    data = (
        b"ARG REG=ghcr.io/acme\nARG IMG=${REG}/app:${TAG}\nARG TAG=1\nFROM ${IMG}\nFROM ${REG}/tool:${TAG}\n"
    )
    graph = build_stage_graph(parse(data))
    first, second = graph.external_images()
    assert first.expanded is None
    assert "TAG" in first.skip_reason
    assert first.arg_default_span is None
    assert second.expanded == "ghcr.io/acme/tool:1"
    assert [a.value for a in graph.global_args] == ["ghcr.io/acme", None, "1"]


def test_arg_without_value() -> None:
    (plain, fallback, alternative) = _images(b"ARG V\nFROM img:$V\nFROM ${V:-alpine}\nFROM a${V:+b}\n")
    assert plain.expanded is None
    assert plain.skip_reason == "ARG V has no value: give it a default or pass --build-arg V=..."
    assert fallback.expanded == "alpine"
    assert alternative.expanded == "a"
    (given,) = _images(b"ARG V\nFROM img:$V\n", {"V": "1"})
    assert given.expanded == "img:1"


def test_undeclared_and_stage_args_are_not_visible_in_from() -> None:
    data = b"FROM a\nARG LATE=x\nFROM img:${LATE}\n"
    (_, late) = _images(data, {"UNDECLARED": "1"})
    assert late.expanded is None
    assert "not a global ARG" in late.skip_reason


def test_automatic_platform_args() -> None:
    data = b"FROM --platform=$BUILDPLATFORM golang:1.22\nFROM alpine:${TARGETARCH}\n"
    build, target = _images(data)
    assert build.expanded == "golang:1.22"
    assert build.platform == "$BUILDPLATFORM"
    assert target.expanded is None
    assert "TARGETARCH" in target.skip_reason
    (_, given) = _images(data, {"TARGETARCH": "arm64"})
    assert given.expanded == "alpine:arm64"


def test_backtick_escape_applies_to_expansion() -> None:
    (use,) = _images(b"# escape=`\nARG T=1\nFROM img:`$T-${T}\n")
    assert use.expanded == "img:$T-1"


def test_quoted_or_escaped_copy_from_image() -> None:
    data = b'FROM a\nCOPY --from="b:1" /x /x\nCOPY --from=c\\:2 /x /x\n'
    (_, quoted, escaped) = _images(data)
    assert (quoted.text, quoted.expanded, quoted.skip_reason) == ("b:1", "b:1", "")
    # BuildKit reads c:2, but no byte range of the file holds exactly that text.
    assert escaped.expanded is None
    assert escaped.text == "c\\:2"
    assert "cannot be rewritten in place" in escaped.skip_reason


# -- the shell-word language -------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("$A", "1"),
        ("${A}x", "1x"),
        ("${UNSET:-d}", "d"),
        ("${EMPTY:-d}", "d"),
        ("${EMPTY-d}", ""),
        ("${UNSET-d}", "d"),
        ("${A:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${EMPTY+alt}", "alt"),
        ("${UNSET+alt}", ""),
        ("\\$A", "$A"),
        ("'$A'", "$A"),
        ('"$A $B"', "1 two"),
        ("${B#t}", "wo"),
        ("${P##*/}", "c"),
        ("${P#*/}", "b/c"),
        ("${P%/*}", "a/b"),
        ("${P%%/*}", "a"),
        ("${P/\\//-}", "a-b/c"),
        ("${P//\\//-}", "a-b-c"),
        ("$", "$"),
        ("a$1b", "ab"),
    ],
)
def test_shell_expansion(word: str, expected: str) -> None:
    env = {"A": "1", "B": "two", "EMPTY": "", "P": "a/b/c"}
    assert ShellLexer().process(word, env).result == expected


@pytest.mark.parametrize(
    "word", ["${A", "${}", "${:x}", "${A:?}", "${UNSET?gone}", "'open", '"open', "${A:#x}"]
)
def test_shell_syntax_errors(word: str) -> None:
    with pytest.raises(ShellSyntaxError):
        ShellLexer().process(word, {"A": ""})


def test_shell_unknown_variable() -> None:
    with pytest.raises(UnknownVariableError) as raised:
        ShellLexer().process("x${TARGETOS}", {}, unknown={"TARGETOS"})
    assert raised.value.name == "TARGETOS"


def test_shell_words_keep_raw_quotes_for_heredoc_detection() -> None:
    lexer = ShellLexer(raw_quotes=True, raw_escapes=True, skip_unset=True)
    assert lexer.process("RUN cat <<\"EOF\" $X 'a b'", {}).words == ("RUN", "cat", '<<"EOF"', "$X", "'a b'")
