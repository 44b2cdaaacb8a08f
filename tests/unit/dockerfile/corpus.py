"""A generator of varied, valid Dockerfiles for the property and differential tests.

``generate(rng)`` writes one Dockerfile as bytes from a :class:`random.Random`; the same
seed always gives the same file. It mixes what real files contain and what parsers get
wrong: CRLF, a BOM, no final newline, tabs, the backtick escape, continuations with
comments and blank lines inside, heredocs of every kind, exec and shell form, broken
JSON, flags with quotes, ONBUILD, lower-case keywords.
"""

from __future__ import annotations

import random

IMAGES = ["alpine", "alpine:3.20", "debian:bookworm-slim", "ghcr.io/acme/tool:v1", "localhost:5000/x/y:1"]
WORDS = [
    "echo",
    "hi",
    "apt-get",
    "install",
    "-y",
    "curl",
    "&&",
    "ls",
    "/tmp",
    "'a b'",
    '"c d"',
    "x=1",
    "$HOME",
]


def _case(rng: random.Random, keyword: str) -> str:
    choice = rng.random()
    if choice < 0.75:
        return keyword
    if choice < 0.9:
        return keyword.lower()
    return keyword.capitalize()


def _space(rng: random.Random) -> str:
    return rng.choice([" ", " ", " ", "  ", "\t", " \t"])


def _shell_words(rng: random.Random, count: int) -> list[str]:
    return [rng.choice(WORDS) for _ in range(count)]


class _Writer:
    def __init__(self, rng: random.Random, escape: str) -> None:
        self.rng = rng
        self.escape = escape
        self.lines: list[str] = []

    def continued(self, head: str, words: list[str]) -> None:
        """``head`` then ``words``, possibly spread over continuation lines."""
        rng = self.rng
        current = head
        for word in words:
            if rng.random() < 0.25:
                before = rng.choice([" ", "", "  "])
                self.lines.append(current + before + self.escape + rng.choice(["", " ", "\t"]))
                if rng.random() < 0.3:
                    self.lines.append(rng.choice(["# inside a continuation", "  # indented comment", "#"]))
                if rng.random() < 0.15:
                    self.lines.append(rng.choice(["", "   "]))
                # Something must still separate the word from the one before.
                current = rng.choice(["  ", "\t", "    "] if not before else ["", "  ", "\t"]) + word
            else:
                current += _space(rng) + word
        self.lines.append(current)


def _flags_for(rng: random.Random, keyword: str, stages: list[str]) -> list[str]:
    flags: list[str] = []
    if keyword == "RUN":
        if rng.random() < 0.4:
            source = rng.choice([*stages, *IMAGES]) if stages or rng.random() < 0.5 else "alpine"
            flags.append(f"--mount=type=bind,from={source},target=/src")
        if rng.random() < 0.3:
            flags.append(
                rng.choice(["--mount=type=cache,target=/root/.cache", '--mount="type=tmpfs,target=/t"'])
            )
        if rng.random() < 0.1:
            flags.append("--network=none")
    elif keyword == "COPY":
        if rng.random() < 0.5:
            options = [*stages, *IMAGES, *[str(i) for i in range(len(stages))]]
            flags.append(f"--from={rng.choice(options)}" if options else "--from=alpine")
        if rng.random() < 0.2:
            flags.append(rng.choice(["--chown=1000:1000", "--link", "--chmod=644"]))
    elif keyword == "ADD" and rng.random() < 0.2:
        flags.append(rng.choice(["--chown=app", "--keep-git-dir=true", "--checksum=sha256:00"]))
    return flags


def _heredoc_instruction(w: _Writer, keyword: str) -> None:
    rng = w.rng
    names = rng.sample(["EOF", "END", "SCRIPT", "DATA"], rng.randint(1, 2))
    markers: list[tuple[str, bool]] = []
    parts: list[str] = []
    for name in names:
        chomp = rng.random() < 0.3
        quote = rng.choice(["", "", '"', "'"])
        parts.append(f"<<{'-' if chomp else ''}{quote}{name}{quote}")
        markers.append((name, chomp))
    if keyword == "RUN":
        head = f"{_case(rng, 'RUN')} " + " ".join(
            [rng.choice(["", "cat ", "python3 "]) + parts[0], *parts[1:]]
        )
    else:
        head = f"{_case(rng, keyword)} " + " ".join(parts) + " /dest/"
    w.lines.append(head)
    for name, chomp in markers:
        for _ in range(rng.randint(0, 3)):
            body = rng.choice(["echo $HOME", "set -e", "  indented", "line with \\", "# not a comment", ""])
            w.lines.append(("\t" if chomp and rng.random() < 0.6 else "") + body)
        w.lines.append(("\t\t" if chomp and rng.random() < 0.5 else "") + name)


def _instruction(w: _Writer, stages: list[str]) -> None:
    rng = w.rng
    keyword = rng.choice(
        ["RUN", "RUN", "RUN", "COPY", "COPY", "ADD", "CMD", "ENTRYPOINT", "ENV", "LABEL", "ARG", "WORKDIR",
         "USER", "EXPOSE", "VOLUME", "SHELL", "HEALTHCHECK", "ONBUILD", "STOPSIGNAL", "HEREDOC"]
    )  # fmt: skip
    if keyword == "HEREDOC":
        _heredoc_instruction(w, rng.choice(["RUN", "RUN", "COPY", "ADD"]))
        return
    head = _case(rng, keyword)
    flags = _flags_for(rng, keyword, stages)
    if keyword in ("CMD", "ENTRYPOINT", "SHELL", "RUN") and rng.random() < 0.35:
        items = ", ".join(f'"{word}"' for word in rng.sample(["sh", "-c", "echo hi", "a\\\\b", "x y"], 3))
        form = rng.choice([f"[{items}]", f"[{items}]", f"[ {items} ]", f"[{items}", "[sh, -c]", "[]"])
        w.continued(" ".join([head, *flags]), [form])
        return
    if keyword == "RUN":
        w.continued(" ".join([head, *flags]), _shell_words(rng, rng.randint(1, 6)))
    elif keyword in ("COPY", "ADD"):
        if rng.random() < 0.2:
            w.continued(" ".join([head, *flags]), ['["src dir/", "/dest/"]'])
        else:
            w.continued(" ".join([head, *flags]), [*rng.sample(["a.txt", "b/", "c*.py", "."], 2), "/app/"])
    elif keyword in ("CMD", "ENTRYPOINT"):
        w.continued(head, _shell_words(rng, rng.randint(1, 4)))
    elif keyword == "SHELL":
        w.continued(head, ['["/bin/sh", "-c"]'])
    elif keyword == "ENV":
        if rng.random() < 0.3:
            w.continued(head, ["NAME", "some value"])
        else:
            values = ["v", '"a b"', "$HOME", ""]
            w.continued(head, [f"K{i}={rng.choice(values)}" for i in range(rng.randint(1, 3))])
    elif keyword == "LABEL":
        w.continued(head, [f'org.example.{i}="{rng.choice(["x", "a b"])}"' for i in range(rng.randint(1, 3))])
    elif keyword == "ARG":
        w.continued(head, [rng.choice(["VERSION", "VERSION=1.0", 'NAME="a b"', "EMPTY="])])
    elif keyword == "WORKDIR":
        w.continued(head, [rng.choice(["/app", "/srv/$NAME", "relative"])])
    elif keyword == "USER":
        w.continued(head, [rng.choice(["app", "1000:1000"])])
    elif keyword == "EXPOSE":
        w.continued(head, [rng.choice(["80", "443/tcp", "8080"]) for _ in range(rng.randint(1, 3))])
    elif keyword == "VOLUME":
        w.continued(head, [rng.choice(["/data", '["/data", "/logs"]'])])
    elif keyword == "HEALTHCHECK":
        w.continued(
            head, [rng.choice(["NONE", "--interval=5s CMD curl -f http://localhost/", 'CMD ["true"]'])]
        )
    elif keyword == "ONBUILD":
        w.continued(head, [rng.choice(["RUN make", "COPY . /src", "RUN --mount=type=cache,target=/c make"])])
    elif keyword == "STOPSIGNAL":
        w.continued(head, ["SIGTERM"])


def generate(rng: random.Random) -> bytes:
    """One valid Dockerfile."""
    escape = "`" if rng.random() < 0.15 else "\\"
    w = _Writer(rng, escape)
    if rng.random() < 0.3:
        w.lines.append(
            rng.choice(
                ["# syntax=docker/dockerfile:1", "#syntax = docker/dockerfile:1.7-labs", "# SYNTAX=x/y"]
            )
        )
    if escape == "`":
        w.lines.append(rng.choice(["# escape=`", "#escape = `"]))
    elif rng.random() < 0.1:
        w.lines.append("# escape=\\")
    # "# check=" is left out: the BuildKit in the 'dockerfile' wheel predates it and reads it
    # as a plain comment that ends the directives (tests/unit/dockerfile/test_parser.py
    # covers it).
    if rng.random() < 0.4:
        w.lines.append(rng.choice(["", "# a comment"]))
        if rng.random() < 0.5:
            w.lines.append("# escape=` (too late: not a directive)")
    if rng.random() < 0.4:
        w.lines.append(f"{_case(rng, 'ARG')} BASE={rng.choice(IMAGES)}")
    stages: list[str] = []
    for index in range(rng.randint(1, 3)):
        image = rng.choice([*IMAGES, "scratch", "${BASE}", *stages])
        parts = [_case(rng, "FROM")]
        if rng.random() < 0.3:
            parts.append(rng.choice(["--platform=linux/amd64", "--platform=$BUILDPLATFORM"]))
        parts.append(image)
        if rng.random() < 0.6:
            name = f"stage{index}"
            parts += [rng.choice(["AS", "as"]), name]
            stages.append(name)
        w.continued(parts[0], parts[1:])
        for _ in range(rng.randint(0, 6)):
            roll = rng.random()
            if roll < 0.1:
                w.lines.append(rng.choice(["", "  ", "# comment", "\t# tabbed comment"]))
            else:
                _instruction(w, stages)
    newline = "\r\n" if rng.random() < 0.2 else "\n"
    text = newline.join(w.lines)
    if rng.random() < 0.85:
        text += newline
    if rng.random() < 0.1:
        text = "\ufeff" + text
    # The continuation character of the generated lines is always the file's escape.
    return text.encode()
