"""The lossless Dockerfile parser: known answers, byte-exact properties, malformed input."""

from __future__ import annotations

import itertools
import json
import random
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from repro.dockerfile import Dockerfile, Span, TokenKind, parse
from repro.dockerfile.shell import is_go_space
from repro.errors import EXIT_DOCKERFILE, DockerfileError
from tests.unit.dockerfile.corpus import generate
from tests.unit.dockerfile.known_answers import ASSETS, describe

ASSET_FILES = sorted(ASSETS.glob("*.Dockerfile"))


def _raw(df: Dockerfile, span: Span) -> bytes:
    return df.data[span.start : span.end]


# -- known answers ------------------------------------------------------------------


def test_every_feature_has_an_asset() -> None:
    names = {p.stem for p in ASSET_FILES}
    assert {
        "crlf", "bom", "no-trailing-newline", "tabs", "backtick-escape", "heredocs", "continuation-comments",
        "json-form", "arg-from", "mount-from", "copy-from-index",
    } <= names  # fmt: skip


@pytest.mark.parametrize("path", ASSET_FILES, ids=lambda p: p.stem)
def test_known_answer(path: Path) -> None:
    expected = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    df = parse(path.read_bytes(), filename=path.name)
    assert describe(df) == expected["parse"]


@pytest.mark.parametrize("path", ASSET_FILES, ids=lambda p: p.stem)
def test_assets_reassemble_byte_for_byte(path: Path) -> None:
    data = path.read_bytes()
    assert b"".join(t.raw for t in parse(data).tokens) == data


# -- properties -----------------------------------------------------------------------


def _check_lossless(df: Dockerfile) -> None:
    data = df.data
    assert b"".join(t.raw for t in df.tokens) == data
    assert "".join(t.text for t in df.tokens).encode() == data
    position = 0
    for token in df.tokens:
        assert token.span.start == position, "tokens are contiguous and do not overlap"
        assert token.span.end > token.span.start
        assert data[token.span.start : token.span.end] == token.raw == token.text.encode()
        if token.kind is TokenKind.WHITESPACE:
            assert all(is_go_space(ch) for ch in token.text), token
        if token.kind is TokenKind.NEWLINE:
            assert token.text.strip("\r") in ("\n", "")
        position = token.span.end
    assert position == len(data)
    for ins in df.instructions:
        spans = [ins.keyword_span, *(f.span for f in ins.flags)]
        if ins.trigger is None:
            spans += [a.span for a in ins.arguments]
        for span in spans:
            assert ins.span.start <= span.start <= span.end <= ins.span.end
        ordered = sorted(spans)
        for before, after in itertools.pairwise(ordered):
            assert before.end <= after.start, "instruction parts do not overlap"
        assert _raw(df, ins.keyword_span).decode().upper() == ins.keyword
        for flag in ins.flags:
            assert _raw(df, flag.span).startswith(b"--")
            if flag.value_span is not None:
                assert flag.span.start < flag.value_span.start <= flag.value_span.end == flag.span.end
        for heredoc in ins.heredocs:
            assert True
            assert _raw(df, heredoc.body_span).decode() == heredoc.content
    lines = [(i.start_line, i.end_line) for i in df.instructions]
    for (_, end), (start, _) in itertools.pairwise(lines):
        assert end < start


@settings(max_examples=300, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.randoms(use_true_random=False))
def test_generated_dockerfiles_reassemble(rng: random.Random) -> None:
    _check_lossless(parse(generate(rng)))


_PIECES = st.sampled_from(
    ["FROM", "RUN", "COPY", "from", " ", "\t", "\n", "\r\n", "\\", "`", "#", "# escape=`", "<<EOF", "<<-E",
     "EOF", "\tE", "--from=x", "--mount=type=bind,from=y", '"', "'", "[", "]", ",", '"a"', "$A", "${B:-c}",
     "alpine", "é", "\ufeff", "ONBUILD", "=", "ARG", "A=1", "\r"]
)  # fmt: skip


def _parse_or_fail_cleanly(data: bytes, filename: str) -> None:
    """Either the file parses losslessly or a DockerfileError names the file and line."""
    message = ""
    try:
        df = parse(data, filename=filename)
    except DockerfileError as exc:
        message = str(exc)
    if message:
        assert re.match(rf"{re.escape(filename)}:[0-9]+: ", message), message
    else:
        _check_lossless(df)


@settings(max_examples=500, derandomize=True)
@given(st.lists(_PIECES, max_size=40).map("".join))
def test_arbitrary_text_parses_losslessly_or_fails_cleanly(text: str) -> None:
    _parse_or_fail_cleanly(text.encode(), "Dockerfile")


@settings(max_examples=200, derandomize=True)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    _parse_or_fail_cleanly(data, "x/Dockerfile")


# -- spans of the parts a rewriter needs ----------------------------------------------


def test_flag_and_argument_spans() -> None:
    data = b'FROM --platform=linux/amd64 alpine:3.20 AS base\nCOPY --from="base" /a /b\n'
    df = parse(data)
    frm, copy = df.instructions
    (platform,) = frm.flags
    assert (platform.name, platform.value) == ("platform", "linux/amd64")
    assert _raw(df, platform.span) == b"--platform=linux/amd64"
    assert platform.value_span is not None
    assert _raw(df, platform.value_span) == b"linux/amd64"
    assert [_raw(df, a.span) for a in frm.arguments] == [b"alpine:3.20", b"AS", b"base"]
    (source,) = copy.flags
    assert source.value == "base"
    assert source.text == "--from=base"
    assert source.value_span is not None
    assert _raw(df, source.value_span) == b'"base"'
    sub = source.value_subspan(0, 4)
    assert sub is not None
    assert _raw(df, sub) == b"base"


def test_mount_flag_value_subspan() -> None:
    data = b"FROM a AS b\nRUN --mount=type=bind,from=img:1,target=/x true\n"
    run = parse(data).instructions[1]
    (mount,) = run.flags
    assert mount.value == "type=bind,from=img:1,target=/x"
    start = mount.value.index("img")
    span = mount.value_subspan(start, start + len("img:1"))
    assert span is not None
    assert data[span.start : span.end] == b"img:1"


def test_spans_are_bytes_not_characters() -> None:
    data = 'FROM a\nLABEL x="café ☕"\nFROM b\n'.encode()
    df = parse(data)
    assert _raw(df, df.instructions[2].arguments[0].span) == b"b"
    assert _raw(df, df.instructions[1].arguments[0].span).decode() == 'x="café ☕"'


def test_syntax_directive_value_span() -> None:
    data = b"# syntax = docker/dockerfile:1.7 \nFROM a\n"
    df = parse(data)
    directive = df.directive("syntax")
    assert directive is not None
    assert directive.value == "docker/dockerfile:1.7"
    assert _raw(df, directive.value_span) == b"docker/dockerfile:1.7"
    assert df.tokens[0].kind is TokenKind.DIRECTIVE


# -- BuildKit's reading of lines -----------------------------------------------------------


def test_keywords_are_case_insensitive() -> None:
    df = parse(b"from a AS b\nRun echo\ncopy --from=b x y\n")
    assert [i.keyword for i in df.instructions] == ["FROM", "RUN", "COPY"]


def test_continuation_drops_comments_and_blank_lines() -> None:
    df = parse(b"FROM a\nRUN one \\\n# comment\n\n   # indented\n  two\n")
    run = df.instructions[1]
    assert (run.start_line, run.end_line) == (2, 6)
    assert run.original == "RUN one   two"
    assert run.arguments[0].text == "one   two"


def test_escaped_escape_is_not_a_continuation() -> None:
    df = parse(b"FROM a\nRUN echo \\\\\nRUN two\n")
    assert [i.keyword for i in df.instructions] == ["FROM", "RUN", "RUN"]


def test_backtick_escape_directive() -> None:
    df = parse(b"# escape=`\nFROM a\nRUN dir c:\\ `\n  /b\n")
    assert df.escape == "`"
    assert df.instructions[1].arguments[0].text == "dir c:\\   /b"


def test_directives_only_at_the_top() -> None:
    late = parse(b"# a comment\n# escape=`\nFROM a\n")
    assert late.directives == ()
    assert late.escape == "\\"
    after_blank = parse(b"\n# syntax=x\nFROM a\n")
    assert after_blank.directives == ()
    all_three = parse(b"# syntax=s\n#ESCAPE = `\n# check=skip=all\nFROM a\n")
    assert [(d.name, d.value) for d in all_three.directives] == [
        ("syntax", "s"),
        ("escape", "`"),
        ("check", "skip=all"),
    ]
    unknown = parse(b"# foo=bar\n# escape=`\nFROM a\n")
    assert unknown.escape == "\\"


def test_heredoc_needs_run_copy_or_add_in_shell_form() -> None:
    df = parse(b'FROM a\nCMD <<EOF\nRUN ["cat", "<<EOF"]\nENTRYPOINT x\n')
    assert [i.keyword for i in df.instructions] == ["FROM", "CMD", "RUN", "ENTRYPOINT"]
    assert all(not i.heredocs for i in df.instructions)


def test_heredoc_with_space_after_the_marker() -> None:
    # Newer BuildKit (the one repro follows) accepts "<< EOF"; the 'dockerfile' wheel's
    # older copy does not, so this case is here and not in the differential test.
    df = parse(b"FROM a\nRUN cat << EOF\nx\nEOF\n")
    (heredoc,) = df.instructions[1].heredocs
    assert (heredoc.name, heredoc.content) == ("EOF", "x\n")


def test_heredoc_in_onbuild_trigger() -> None:
    df = parse(b"FROM a\nONBUILD RUN <<EOF\nx\nEOF\n")
    onbuild = df.instructions[1]
    assert onbuild.trigger is not None
    assert onbuild.trigger.keyword == "RUN"
    assert [h.name for h in onbuild.heredocs] == ["EOF"]
    assert (onbuild.start_line, onbuild.end_line) == (2, 4)


def test_invalid_json_falls_back_to_shell_form() -> None:
    df = parse(b"FROM a\nCMD ['a']\nCMD [\"a\"\nCOPY [a b] c\n")
    cmd1, cmd2, copy = df.instructions[1:]
    assert not cmd1.json_form
    assert cmd1.arguments[0].text == "['a']"
    assert not cmd2.json_form
    assert [a.text for a in copy.arguments] == ["[a", "b]", "c"]


def test_double_dash_ends_flags() -> None:
    copy = parse(b"FROM a\nCOPY -- --from=x /y\n").instructions[1]
    assert copy.flags == ()
    assert [a.text for a in copy.arguments] == ["--from=x", "/y"]


# -- malformed input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"FROM a\nRUN <<EOF\nnever closed\n", "Dockerfile:2: unterminated heredoc"),
        (b"# escape=x\nFROM a\n", "Dockerfile:1: invalid escape token 'x'"),
        (b"# escape=`\n# escape=\\\nFROM a\n", "Dockerfile:2: only one escape parser directive"),
        (b"FROM a\nRUN x\x00y\n", "Dockerfile:2: NUL byte at offset 12"),
        (b"FROM a\n\xff\xfe\n", "Dockerfile:2: invalid UTF-8 (byte 0xff at offset 7)"),
        (b"FROM\n", "Dockerfile:1: FROM needs an image"),
        (b"FROM --platform=linux/amd64\n", "Dockerfile:1: FROM needs an image"),
        (b"FROM a b\n", "Dockerfile:1: FROM requires either one or three arguments"),
        (b"FROM a AS 1x\n", "Dockerfile:1: invalid name for build stage"),
        (b"FROM a\nCOPY --=x a b\n", "Dockerfile:2: malformed flag '--=x'"),
        (b"FROM a\nCOPY ---from=x a b\n", "Dockerfile:2: malformed flag '---from=x'"),
        (b"FROM a\nRUN echo \\\n", "Dockerfile:2: the file ends inside a line continuation"),
        (b"FROM a\nRUN echo \\\n# only a comment follows\n\n", "Dockerfile:2: the file ends inside"),
        (b"", "Dockerfile:1: file with no instructions"),
        (b"# just a comment\n\n", "Dockerfile:2: file with no instructions"),
        (b'FROM a\nCMD ["a", 1]\n', "Dockerfile:2: when using JSON array syntax"),
        (b"FROM a\nENV A\n", "Dockerfile:2: ENV must have two arguments"),
        (b"FROM a\nLABEL a=b c\n", 'Dockerfile:2: Syntax error - can\'t find = in "c"'),
    ],
)
def test_malformed_input(data: bytes, message: str) -> None:
    with pytest.raises(DockerfileError) as raised:
        parse(data)
    assert str(raised.value).startswith(message)
    assert raised.value.exit_code == EXIT_DOCKERFILE


def test_error_names_the_file() -> None:
    with pytest.raises(DockerfileError, match=r"^services/api/Dockerfile\.prod:3: unterminated heredoc"):
        parse(b"FROM a\n\nCOPY <<X /x\n", filename="services/api/Dockerfile.prod")


def test_parse_wants_bytes() -> None:
    with pytest.raises(TypeError):
        parse("FROM a\n")  # type: ignore[arg-type]


def test_bom_is_kept() -> None:
    data = b"\xef\xbb\xbfFROM a\n"
    df = parse(data)
    assert df.bom
    assert df.tokens[0].kind is TokenKind.BOM
    assert df.tokens[0].raw == b"\xef\xbb\xbf"
    assert _raw(df, df.instructions[0].keyword_span) == b"FROM"
