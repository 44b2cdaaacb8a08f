"""repro's parser against BuildKit's own (the Go parser, from the PyPI package ``dockerfile``).

On a fixed corpus of generated Dockerfiles plus the known-answer assets, both parsers must
agree on every instruction: keyword, ONBUILD trigger, start and end line, flags, exec form,
argument values, heredoc names and bodies. Files BuildKit rejects, repro must reject too.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from repro.dockerfile import Instruction, parse
from repro.errors import DockerfileError
from tests.unit.dockerfile.corpus import generate

bk = pytest.importorskip("dockerfile", reason="BuildKit's parser (PyPI 'dockerfile') has no wheel here")

ASSETS = Path(__file__).parent / "assets"
CORPUS_SIZE = 400
SEED = 20240611


def _values(instruction: Instruction) -> tuple[str, ...]:
    """The node values BuildKit's parser reports for ``instruction``."""
    if instruction.keyword == "ONBUILD" and instruction.trigger is not None:
        instruction = instruction.trigger
    texts = [a.text for a in instruction.arguments]
    if instruction.keyword in ("ENV", "LABEL"):
        if texts and "=" in texts[0]:
            return tuple(part for text in texts for part in text.split("=", 1))
        return tuple(texts)
    known = {
        "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
        "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
    }  # fmt: skip
    if instruction.keyword not in known:
        return ("",)
    return tuple(texts)


def differences(data: bytes) -> list[str]:
    """Where repro and BuildKit read ``data`` differently (empty when they agree)."""
    text = data.decode("utf-8")
    try:
        theirs: Any = bk.parse_string(text)
    except bk.GoParseError as exc:
        try:
            parse(data)
        except DockerfileError:
            return []
        return [f"BuildKit rejects the file ({exc}) but repro accepts it"]
    try:
        ours = parse(data).instructions
    except DockerfileError as exc:
        return [f"repro rejects the file ({exc}) but BuildKit accepts it"]
    if len(ours) != len(theirs):
        return [f"{len(ours)} instructions, BuildKit has {len(theirs)}"]
    found: list[str] = []
    for mine, cmd in zip(ours, theirs, strict=True):
        where = f"line {cmd.start_line}"
        trigger = mine.trigger.keyword if mine.trigger is not None else None
        expected_json = mine.trigger.json_form if mine.trigger is not None else mine.json_form
        checks: list[tuple[str, object, object]] = [
            ("keyword", mine.keyword, (cmd.cmd or "").upper()),
            ("trigger", trigger, cmd.sub_cmd.upper() if cmd.sub_cmd else None),
            ("lines", (mine.start_line, mine.end_line), (cmd.start_line, cmd.end_line)),
            ("flags", tuple(f.text for f in mine.flags), tuple(cmd.flags)),
            ("json", expected_json if mine.keyword != "ONBUILD" else mine.json_form, cmd.json),
            ("values", _values(mine), tuple(cmd.value)),
        ]
        if mine.keyword != "ONBUILD":
            checks.append(
                (
                    "heredocs",
                    tuple((h.name, h.content) for h in mine.heredocs),
                    tuple((h.name, h.content) for h in cmd.heredocs),
                )
            )
        if not mine.heredocs and cmd.original is not None:
            checks.append(("original", mine.original, cmd.original))
        for what, got, want in checks:
            if got != want:
                found.append(f"{where}: {what}: repro {got!r}, BuildKit {want!r}")
    return found


def corpus() -> list[bytes]:
    rng = random.Random(SEED)
    return [generate(rng) for _ in range(CORPUS_SIZE)]


def test_generated_corpus_agrees_with_buildkit() -> None:
    files = corpus()
    assert len(files) >= 300
    disagreements = {}
    for number, data in enumerate(files):
        found = differences(data)
        if found:
            disagreements[number] = (data.decode(), found)
    assert not disagreements, "\n\n".join(
        f"#{n}:\n{text}\n--> " + "\n--> ".join(found) for n, (text, found) in list(disagreements.items())[:5]
    )


@pytest.mark.parametrize("path", sorted(ASSETS.glob("*.Dockerfile")), ids=lambda p: p.name)
def test_assets_agree_with_buildkit(path: Path) -> None:
    assert differences(path.read_bytes()) == []


EDGE_CASES = [
    b"FROM a\nRUN echo \\\\\nRUN two\n",  # an escaped escape at the end is no continuation
    b"FROM a\nRUN echo hi \\   \n  there\n",  # spaces after the continuation character
    b"FROM a\n  \\\n  RUN x\n",  # a line of only the escape character
    b"\\\n\nFROM a\n",  # an instruction that starts with an empty continuation line
    b"FROM a\nRUN a\\\n\\\nb\n",  # consecutive continuation lines
    b"  # syntax=x\nFROM a\n",  # a directive after leading white space still counts
    b"\n# escape=`\nFROM a\nRUN a `\n b\n",  # a blank line ends the directives
    b"FROM a\nRUN <<EOF\nx\nEOF\n",
    b"FROM a\nRUN 3<<EOF cat <&3\nx\nEOF\n",  # a file descriptor
    b"FROM a\nRUN cat <<<EOF\n",  # a here-string is not a heredoc
    b'FROM a\nRUN echo "<<EOF"\n',  # quoted: not a heredoc
    b'FROM a\nRUN ["cat", "<<EOF"]\n',  # exec form never has heredocs
    b"FROM a\nCMD <<EOF\n",  # CMD never has heredocs
    b"FROM a\nRUN <<EOF \\\n  cat\nhello\nEOF\n",  # heredoc marker on a continued line
    b"FROM a\nRUN <<-EOF\n\thello\n\t\tEOF\n",
    b"FROM a\nRUN <<EOF\r\nx\r\nEOF\r\n",
    b'FROM a\nCOPY --chown="a b" --from=x y z\n',
    b"FROM a\nCOPY -- --from=x y\n",  # "--" ends the flags
    b"FROM a\nRUN --mount=type=cache,target=/x\\\n,id=y echo\n",
    b'FROM a\nCMD ["a", 1]\n',
    b"FROM a\nCMD [NaN]\n",
    b"FROM a\nENV A\n",
    b"FROM a\nENV A=1 B\n",
    b"from a as B\nrun echo\n",
    b"FROM a\nFOO bar\n",
    b"FROM a\nHEALTHCHECK\n",
    b"FROM a\nONBUILD\n",
    b"FROM a\nRUN echo \\\n# c\n\n  # c2\n  done\n",
    b"FROM a\nRUN\n",
    b"FROM a\nRUN x\ry\r",  # a lone CR is white space inside a line
    b"FROM a\n\xc2\xa0RUN x\n",
]


@pytest.mark.parametrize("data", EDGE_CASES)
def test_edge_cases_agree_with_buildkit(data: bytes) -> None:
    assert differences(data) == []


# Where repro deliberately differs: BuildKit's parser lets these through and the build then
# fails on them (a FROM without an image, a bad stage name, an unknown flag), or, for a
# file that ends inside a continuation, builds what it has; repro refuses all of them.
DELIBERATE = (
    "the file ends inside a line continuation",
    "FROM needs an image",
    "FROM requires either one or three arguments",
    "invalid name for build stage",
    "malformed flag",
)
PIECES = [
    "FROM", "RUN", "COPY", "from", " ", "\t", "\n", "\n", "\n", "\r\n", "\\", "`", "#", "# escape=`", "<<EOF",
    "<<-E", "EOF", "\tE", "--from=x", "--mount=type=bind,from=y", '"', "'", "[", "]", ",", '"a"', "$A",
    "${B:-c}", "alpine", "ONBUILD", "=", "ARG", "A=1", "ENV", "CMD", "--", "-",
]  # fmt: skip


def test_random_text_agrees_with_buildkit() -> None:
    # ASCII only: BuildKit copies flag words byte by byte into runes, which turns UTF-8 in a
    # flag into Latin-1 mojibake; repro keeps the text as written.
    rng = random.Random(SEED)
    checked = 0
    for _ in range(1500):
        text = "FROM a\n" + "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 30)))
        found = [d for d in differences(text.encode()) if not any(reason in d for reason in DELIBERATE)]
        assert not found, f"{text!r}: {found}"
        checked += 1
    assert checked == 1500
