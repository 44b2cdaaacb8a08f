"""A lossless Dockerfile parser that reads a file the way BuildKit does, with byte spans.

:func:`parse` turns the bytes of a Dockerfile into :class:`Instruction` values (keyword,
flags, arguments, heredocs, line range) and a flat list of :class:`Token` values that
covers every byte of the input, so that ``b"".join(t.raw for t in df.tokens) == data``.
Every span is a pair of byte offsets into the original data: a rewriter replaces exactly
the bytes of one token and leaves line endings, tabs, comments and continuations as they
were.

    >>> df = parse(b"FROM --platform=linux/amd64 alpine:3.20 AS base\\nRUN echo hi\\n")
    >>> [i.keyword for i in df.instructions]
    ['FROM', 'RUN']
    >>> base = df.instructions[0]
    >>> df.data[slice(*base.arguments[0].span)]
    b'alpine:3.20'

Line splitting, continuations, comments inside continuations, parser directives, JSON
(exec) form and heredocs follow BuildKit's ``frontend/dockerfile/parser`` package.

One module, though long: the tokenizer and the instruction grammar share byte spans and
escape-character state at every step; split apart, each half would be unreadable alone.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import accumulate
from typing import NamedTuple

from repro.dockerfile.shell import ShellLexer, ShellSyntaxError, is_go_space
from repro.errors import DockerfileError

__all__ = [
    "Argument",
    "Directive",
    "Dockerfile",
    "Flag",
    "Heredoc",
    "Instruction",
    "Span",
    "Token",
    "TokenKind",
    "parse",
]

_BOM = "\ufeff"
# BuildKit's reWhitespace: the characters that separate a keyword from its arguments and
# the words of FROM, COPY, ADD, VOLUME and EXPOSE.
_SEPARATORS = frozenset("\t\v\f\r ")
_HEREDOC_KEYWORDS = frozenset({"RUN", "COPY", "ADD"})
_DIRECTIVE_NAMES = frozenset({"syntax", "escape", "check"})
# Go's RE2 \s is [\t\n\f\r ]; Python's would also take \v and Unicode spaces.
_DIRECTIVE_RE = re.compile(r"([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*")
_HEREDOC_RE = re.compile(r"([0-9]*)<<(-?)[\t\n\f\r ]*([^<]*)")
_FLAG_NAME_RE = re.compile(r"[a-zA-Z][a-zA-Z0-9-]*")
_STAGE_NAME_RE = re.compile(r"[a-z][a-z0-9\-_.]*")


class Span(NamedTuple):
    """Byte offsets ``[start, end)`` into the Dockerfile's data; unpacks as a pair."""

    start: int
    end: int


class TokenKind(enum.StrEnum):
    """What a :class:`Token` is."""

    BOM = "bom"
    DIRECTIVE = "directive"  # a parser directive comment: "# syntax=docker/dockerfile:1"
    COMMENT = "comment"
    WHITESPACE = "whitespace"
    NEWLINE = "newline"  # "\n", "\r\n" (or a trailing "\r" at the end of the file)
    CONTINUATION = "continuation"  # the escape character that joins a line to the next
    KEYWORD = "keyword"
    FLAG = "flag"  # a whole "--name=value" word
    ARGUMENT = "argument"  # a word of the arguments (a piece of one, if split by a continuation)
    HEREDOC_BODY = "heredoc-body"  # the body lines of a heredoc, line endings included
    HEREDOC_END = "heredoc-end"  # the line that closes a heredoc, without its line ending


@dataclass(frozen=True, slots=True)
class Token:
    """A run of bytes of one kind; all tokens of a file, in order, are the file."""

    kind: TokenKind
    text: str
    raw: bytes
    span: Span
    line: int


@dataclass(frozen=True, slots=True)
class Directive:
    """A parser directive at the top of the file (``# syntax=``, ``# escape=``, ``# check=``)."""

    name: str  # lower case
    value: str
    line: int
    span: Span  # the whole comment, "#" to the end of the line
    value_span: Span


@dataclass(frozen=True, slots=True)
class Flag:
    """A ``--name[=value]`` flag of an instruction.

    ``value`` is what BuildKit sees: quotes removed and escapes applied; ``value_span`` is
    the raw text after the ``=``. :meth:`value_subspan` maps part of the value back to
    bytes.
    """

    name: str
    value: str | None
    text: str  # the whole flag as BuildKit reports it, e.g. "--from=build"
    span: Span
    value_span: Span | None
    value_offsets: tuple[int, ...] = field(repr=False, compare=False, default=())

    def value_subspan(self, start: int, end: int) -> Span | None:
        """The byte span of ``value[start:end]`` when those characters are contiguous bytes.

        ``None`` when a quote or escape character sits inside that part of the value, so
        that replacing the span would not replace just that text.
        """
        if self.value is None or not 0 <= start < end <= len(self.value):
            return None
        first, last = self.value_offsets[start], self.value_offsets[end - 1]
        expected = len(self.value[start:end].encode())
        last_len = len(self.value[end - 1].encode())
        if last + last_len - first != expected:
            return None
        return Span(first, last + last_len)


@dataclass(frozen=True, slots=True)
class Argument:
    """One argument as BuildKit's parser gives it, and the bytes it came from.

    For shell form ``RUN``/``CMD``/``ENTRYPOINT``/``SHELL`` the whole command is one
    argument; for exec (JSON) form each string is one (``text`` decoded, ``span`` with
    the quotes). A span may contain a continuation when the argument crosses lines.
    """

    text: str
    span: Span


@dataclass(frozen=True, slots=True)
class Heredoc:
    """A heredoc attached to a ``RUN``, ``COPY`` or ``ADD`` instruction.

    ``content`` is the body exactly as in the file (line endings included), as BuildKit
    stores it; :attr:`text` applies ``<<-``'s removal of leading tabs.
    """

    name: str
    content: str
    chomp: bool  # "<<-": leading tabs are removed from the body and the closing line
    expand: bool  # False when the delimiter is quoted: no variable expansion in the body
    file_descriptor: int
    start_line: int  # first body line (the closing line when the body is empty)
    end_line: int  # the closing line
    span: Span  # body and closing line, without the closing line's line ending
    body_span: Span
    terminator_span: Span

    @property
    def text(self) -> str:
        if not self.chomp:
            return self.content
        return re.sub(r"(?m)^\t+", "", self.content)


@dataclass(frozen=True, slots=True)
class Instruction:
    """One instruction; lines are 1-based and inclusive, as BuildKit's node StartLine/EndLine.

    ``original`` is BuildKit's logical line: the physical lines joined, with the
    continuation characters, comment lines and empty lines removed. For ``ONBUILD``,
    ``trigger`` is the instruction it wraps (``arguments`` are then the trigger's).
    """

    keyword: str
    keyword_span: Span
    start_line: int
    end_line: int
    flags: tuple[Flag, ...]
    arguments: tuple[Argument, ...]
    json_form: bool
    heredocs: tuple[Heredoc, ...]
    span: Span
    original: str
    trigger: Instruction | None = None

    def flag_values(self, name: str) -> list[str | None]:
        """The values of every ``--name`` flag, in order."""
        return [f.value for f in self.flags if f.name == name]


@dataclass(frozen=True, slots=True)
class Dockerfile:
    """A parsed Dockerfile: the original bytes and what they contain."""

    data: bytes
    filename: str
    bom: bool
    escape: str
    directives: tuple[Directive, ...]
    instructions: tuple[Instruction, ...]
    tokens: tuple[Token, ...] = field(repr=False)
    #: ``FILE:LINE: message`` for what a lenient parse accepted but BuildKit may refuse.
    warnings: tuple[str, ...] = ()

    def directive(self, name: str) -> Directive | None:
        for directive in self.directives:
            if directive.name == name:
                return directive
        return None


# --------------------------------------------------------------------------------------
# Implementation


class _Line(NamedTuple):
    start: int
    content_end: int  # before the trailing "\r"* "\n"
    end: int


class _Marker(NamedTuple):
    """A ``<<[-]NAME`` heredoc marker found on an instruction line."""

    name: str
    chomp: bool
    expand: bool
    file_descriptor: int


class _Word(NamedTuple):
    """A word of a logical line: [start, end) in the logical line and its processed text."""

    start: int
    end: int
    text: str
    offsets: tuple[int, ...]  # logical-line index of each character of text


@dataclass
class _Node:
    """An instruction inside a logical line, before spans are turned into bytes."""

    keyword: str
    keyword_range: tuple[int, int]
    flags: list[_Word]
    arguments: list[tuple[str, int, int]]
    json_form: bool
    token_words: list[tuple[int, int]]
    trigger: _Node | None = None


class _Parser:
    def __init__(self, data: bytes, filename: str, *, lenient: bool = False) -> None:
        self.lenient = lenient
        self.warnings: list[str] = []
        self.data = data
        self.filename = filename
        self.text = _decode(data, filename)
        if len(self.text) == len(data):
            self.byte_offsets: list[int] | None = None
        else:
            self.byte_offsets = [0, *accumulate(_utf8_len(ch) for ch in self.text)]
        self.lines = list(_split_lines(self.text))
        self.bom = self.text.startswith(_BOM)
        self.escape = "\\"
        self.continuation_re = _continuation_regex(self.escape)
        self.directives: list[Directive] = []
        self.directives_done = False
        self.instructions: list[Instruction] = []
        # labels[i]: (kind, id) of the token that character i belongs to
        self.labels: list[tuple[TokenKind, int] | None] = [None] * len(self.text)
        self.next_label = 0

    # -- helpers -------------------------------------------------------------------

    def error(self, line: int, message: str) -> DockerfileError:
        return DockerfileError(f"{self.filename}:{line}: {message}")

    def byte(self, index: int) -> int:
        return index if self.byte_offsets is None else self.byte_offsets[index]

    def span(self, start: int, end: int) -> Span:
        return Span(self.byte(start), self.byte(end))

    def label(self, start: int, end: int, kind: TokenKind) -> None:
        self.next_label += 1
        tag = (kind, self.next_label)
        for i in range(start, end):
            self.labels[i] = tag

    # -- the line loop -------------------------------------------------------------

    def run(self) -> Dockerfile:
        if self.bom:
            self.label(0, 1, TokenKind.BOM)
        index = 0
        while index < len(self.lines):
            index = self.logical_line(index)
        if not self.instructions:
            raise self.error(max(len(self.lines), 1), "file with no instructions")
        return Dockerfile(
            data=self.data,
            filename=self.filename,
            bom=self.bom,
            escape=self.escape,
            directives=tuple(self.directives),
            instructions=tuple(self.instructions),
            tokens=tuple(self.tokens()),
            warnings=tuple(self.warnings),
        )

    def logical_line(self, index: int) -> int:
        """Consume the physical lines of one comment, blank line or instruction."""
        line = self.lines[index]
        start = line.start + (1 if index == 0 and self.bom else 0)
        self.label(line.content_end, line.end, TokenKind.NEWLINE)
        body = start
        while body < line.content_end and is_go_space(self.text[body]):
            body += 1
        self.label(start, body, TokenKind.WHITESPACE)
        content = self.text[body : line.content_end]
        if not self.directives_done:
            self.possible_directive(index, body, content)
        if content.startswith("#"):
            kind = TokenKind.DIRECTIVE if self.is_directive_line(index) else TokenKind.COMMENT
            self.label(body, line.content_end, kind)
            return index + 1

        segments: list[tuple[int, int]] = []
        continued_from = 0
        match = self.continuation_re.search(content)
        if match is None:
            if not content:
                return index + 1
            segments.append((body, line.content_end))
        else:
            escape_at = body + match.start() + (1 if match.group(1) is not None else 0)
            segments.append((body, escape_at))
            self.label(escape_at, escape_at + 1, TokenKind.CONTINUATION)
            continued_from = index + 1
        first = index
        index += 1
        while continued_from and index < len(self.lines):
            line = self.lines[index]
            self.label(line.content_end, line.end, TokenKind.NEWLINE)
            raw = self.text[line.start : line.content_end]
            stripped = _lstrip_go(raw)
            if stripped.startswith("#"):
                lead = line.content_end - len(stripped)
                self.label(lead, line.content_end, TokenKind.COMMENT)
            elif stripped:
                match = self.continuation_re.search(raw)
                if match is None:
                    segments.append((line.start, line.content_end))
                    continued_from = 0
                else:
                    escape_at = line.start + match.start() + (1 if match.group(1) is not None else 0)
                    segments.append((line.start, escape_at))
                    self.label(escape_at, escape_at + 1, TokenKind.CONTINUATION)
                    continued_from = index + 1
            index += 1
        if continued_from:
            self.unterminated(continued_from)
        return self.instruction(first, index, segments)

    def unterminated(self, line: int) -> None:
        error = self.error(
            line,
            f"the file ends inside a line continuation: nothing follows the {self.escape!r} that ends this line",
        )
        if not self.lenient:
            raise error
        self.warnings.append(str(error))  # BuildKit builds it; the instruction ends there

    def possible_directive(self, index: int, body: int, content: str) -> None:
        """BuildKit's DirectiveParser: directives until the first line that is not one."""
        if not content.startswith("#"):
            self.directives_done = True
            return
        rest = content[1:]
        skipped = 0
        while skipped < len(rest) and is_go_space(rest[skipped]):
            skipped += 1
        match = _DIRECTIVE_RE.fullmatch(rest, skipped)
        if match is None or match.group(1).lower() not in _DIRECTIVE_NAMES:
            self.directives_done = True
            return
        name = match.group(1).lower()
        if any(d.name == name for d in self.directives):
            raise self.error(index + 1, f"only one {name} parser directive can be used")
        value = match.group(2)
        if name == "escape":
            if value not in ("\\", "`"):
                raise self.error(index + 1, f"invalid escape token {value!r} does not match ` or \\")
            self.escape = value
            self.continuation_re = _continuation_regex(value)
        value_start = body + 1 + match.start(2)
        self.directives.append(
            Directive(
                name=name,
                value=value,
                line=index + 1,
                span=self.span(body, self.lines[index].content_end),
                value_span=self.span(value_start, value_start + len(value)),
            )
        )

    def is_directive_line(self, index: int) -> bool:
        return any(d.line == index + 1 for d in self.directives)

    # -- one instruction -------------------------------------------------------------

    def instruction(self, first: int, index: int, segments: list[tuple[int, int]]) -> int:
        logical = "".join(self.text[a:b] for a, b in segments)
        positions: list[int] = []
        for a, b in segments:
            positions.extend(range(a, b))
        start_line = first + 1
        node = self.node(logical, 0, len(logical), start_line)
        if node is None:
            raise self.error(start_line, "empty instruction")
        self.label_node(node, positions)

        heredocs: list[Heredoc] = []
        if _can_contain_heredoc(node) and "<<" in logical:
            for marker in self.heredoc_markers(logical, start_line):
                heredoc, index = self.heredoc_body(index, marker, start_line)
                heredocs.append(heredoc)

        end_line = index
        last = self.lines[index - 1]
        span_start = segments[0][0] if segments else self.lines[first].start
        instruction = self.finish(
            node,
            positions,
            logical=logical,
            lines=(start_line, end_line),
            whole=self.span(span_start, last.content_end),
            heredocs=tuple(heredocs),
        )
        _check_instruction(instruction, self)
        self.instructions.append(instruction)
        return index

    def node(self, logical: str, lo: int, hi: int, line: int) -> _Node | None:
        """BuildKit's newNodeFromLine on ``logical[lo:hi]``."""
        while lo < hi and is_go_space(logical[lo]):
            lo += 1
        while hi > lo and is_go_space(logical[hi - 1]):
            hi -= 1
        if lo == hi:
            return None
        cut = lo
        while cut < hi and logical[cut] not in _SEPARATORS:
            cut += 1
        keyword = logical[lo:cut]
        flags: list[_Word] = []
        rest_lo = rest_hi = hi
        if cut < hi:
            args = cut
            while args < hi and logical[args] in _SEPARATORS:
                args += 1
            flags, rest_lo = self.extract_flags(logical, args, hi)
            while rest_lo < hi and is_go_space(logical[rest_lo]):
                rest_lo += 1
            rest_hi = hi
        node = _Node(
            keyword=keyword.upper(),
            keyword_range=(lo, cut),
            flags=flags,
            arguments=[],
            json_form=False,
            token_words=[],
        )
        self.dispatch(node, logical, rest_lo, rest_hi, line)
        return node

    def extract_flags(self, line: str, lo: int, hi: int) -> tuple[list[_Word], int]:
        """BuildKit's extractBuilderFlags: leading ``--`` words, quotes and escapes applied."""
        words: list[_Word] = []
        pos = lo
        escape = self.escape
        while True:
            while pos < hi and is_go_space(line[pos]):
                pos += 1
            if pos >= hi:
                return words, hi
            if not (line[pos] == "-" and pos + 1 < hi and line[pos + 1] == "-"):
                return words, pos
            start = pos
            chars: list[str] = []
            offsets: list[int] = []
            quote = ""
            blank_ok = False
            while pos < hi:
                ch = line[pos]
                if quote:
                    if ch == quote:
                        quote = ""
                        pos += 1
                        continue
                elif is_go_space(ch):
                    break
                elif ch in "'\"":
                    quote = ch
                    blank_ok = True
                    pos += 1
                    continue
                if ch == escape:
                    if pos + 1 == hi:
                        pos += 1
                        if quote:
                            quote = ""
                        continue
                    pos += 1
                    ch = line[pos]
                chars.append(ch)
                offsets.append(pos)
                pos += 1
            text = "".join(chars)
            if text == "--":
                return words, pos if pos < hi else hi
            if blank_ok or text:
                words.append(_Word(start, pos, text, tuple(offsets)))

    def dispatch(self, node: _Node, logical: str, lo: int, hi: int, line: int) -> None:
        """The per-keyword argument parsers of BuildKit's line_parsers.go."""
        keyword = node.keyword
        rest = logical[lo:hi]
        if keyword == "ONBUILD":
            if rest:
                node.trigger = self.node(logical, lo, hi, line)
            return
        node.token_words = _token_words(logical, lo, hi, self.escape)
        if keyword in ("RUN", "CMD", "ENTRYPOINT", "SHELL"):
            self.maybe_json(node, logical, lo, hi, line, to_list=False)
        elif keyword in ("ADD", "COPY", "VOLUME"):
            self.maybe_json(node, logical, lo, hi, line, to_list=True)
        elif keyword in ("FROM", "EXPOSE"):
            node.arguments = _split_separators(logical, lo, hi)
        elif keyword in ("MAINTAINER", "STOPSIGNAL", "USER", "WORKDIR"):
            if rest:
                node.arguments = [(rest, lo, hi)]
        elif keyword == "ARG":
            node.arguments = [(w.text, w.start, w.end) for w in _parse_words(logical, lo, hi, self.escape)]
        elif keyword in ("ENV", "LABEL"):
            self.name_values(node, logical, lo, hi, line)
        elif keyword == "HEALTHCHECK":
            sep = lo
            while sep < hi and not is_go_space(logical[sep]):
                sep += 1
            if sep == lo:
                return
            after = sep
            while after < hi and is_go_space(logical[after]):
                after += 1
            self.maybe_json(node, logical, after, hi, line, to_list=False)
            node.arguments.insert(0, (logical[lo:sep], lo, sep))

    def maybe_json(self, node: _Node, logical: str, lo: int, hi: int, line: int, *, to_list: bool) -> None:
        if lo == hi and not to_list:
            return
        strings = _json_strings(logical, lo, hi)
        if strings is _NOT_STRINGS:
            raise self.error(line, "when using JSON array syntax, arrays must be comprised of strings only")
        if isinstance(strings, list):
            node.arguments = strings
            node.json_form = True
        elif to_list:
            node.arguments = _split_separators(logical, lo, hi)
        else:
            node.arguments = [(logical[lo:hi], lo, hi)]

    def name_values(self, node: _Node, logical: str, lo: int, hi: int, line: int) -> None:
        words = _parse_words(logical, lo, hi, self.escape)
        if not words:
            return
        if "=" not in words[0].text:
            cut = lo
            while cut < hi and logical[cut] not in _SEPARATORS:
                cut += 1
            after = cut
            while after < hi and logical[after] in _SEPARATORS:
                after += 1
            if after == cut:
                raise self.error(line, f"{node.keyword} must have two arguments")
            node.arguments = [(logical[lo:cut], lo, cut), (logical[after:hi], after, hi)]
            return
        for word in words:
            if "=" not in word.text:
                raise self.error(
                    line,
                    f"Syntax error - can't find = in {json.dumps(word.text)}. Must be of the form: name=value",
                )
        node.arguments = [(w.text, w.start, w.end) for w in words]

    def heredoc_markers(self, logical: str, line: int) -> list[_Marker]:
        """BuildKit's heredocsFromLine: words of the line that are ``<<[-]WORD``."""
        lexer = ShellLexer("\\", raw_quotes=True, raw_escapes=True, skip_unset=True)
        try:
            words = lexer.process(logical, {}).words
        except ShellSyntaxError:
            return []
        markers: list[_Marker] = []
        for word in words:
            match = _HEREDOC_RE.fullmatch(word)
            if match is None or not match.group(3):
                continue
            rest = match.group(3)
            try:
                plain = ShellLexer("\\", skip_unset=True).process(rest, {}).words
                if len(plain) != 1:
                    continue
                raw = ShellLexer("\\", raw_quotes=True, skip_unset=True).process(rest, {}).words
            except ShellSyntaxError as exc:
                raise self.error(line, f"failed to process {json.dumps(rest)}: {exc}") from None
            if len(raw) != len(plain):
                raise self.error(line, f"internal lexing of heredoc produced inconsistent results: {rest}")
            name = plain[0]
            expand = _count_quotes(name) == _count_quotes(raw[0])
            digits = match.group(1)
            fd = int(digits) if digits and int(digits) < 2**64 else 0
            markers.append(_Marker(name, match.group(2) == "-", expand, fd))
        return markers

    def heredoc_body(self, index: int, marker: _Marker, start_line: int) -> tuple[Heredoc, int]:
        name = marker.name
        body_start = self.lines[index].start if index < len(self.lines) else len(self.text)
        first_line = index + 1
        while index < len(self.lines):
            line = self.lines[index]
            candidate = self.text[line.start : line.content_end]
            if marker.chomp:
                candidate = candidate.lstrip("\t")
            if candidate == name:
                if body_start < line.start:
                    self.label(body_start, line.start, TokenKind.HEREDOC_BODY)
                self.label(line.start, line.content_end, TokenKind.HEREDOC_END)
                self.label(line.content_end, line.end, TokenKind.NEWLINE)
                heredoc = Heredoc(
                    name=name,
                    content=self.text[body_start : line.start],
                    chomp=marker.chomp,
                    expand=marker.expand,
                    file_descriptor=marker.file_descriptor,
                    start_line=first_line,
                    end_line=index + 1,
                    span=self.span(body_start, line.content_end),
                    body_span=self.span(body_start, line.start),
                    terminator_span=self.span(line.start, line.content_end),
                )
                return heredoc, index + 1
            index += 1
        raise self.error(start_line, f"unterminated heredoc: no line {name!r} closes the heredoc <<{name}")

    # -- turning a node into an Instruction ------------------------------------------

    def label_node(self, node: _Node, positions: list[int]) -> None:
        def mark(start: int, end: int, kind: TokenKind) -> None:
            self.next_label += 1
            tag = (kind, self.next_label)
            for k in range(start, end):
                self.labels[positions[k]] = tag

        mark(*node.keyword_range, TokenKind.KEYWORD)
        for flag in node.flags:
            mark(flag.start, flag.end, TokenKind.FLAG)
        for start, end in node.token_words:
            mark(start, end, TokenKind.ARGUMENT)
        if node.trigger is not None:
            self.label_node(node.trigger, positions)

    def finish(
        self,
        node: _Node,
        positions: list[int],
        *,
        logical: str,
        lines: tuple[int, int],
        whole: Span,
        heredocs: tuple[Heredoc, ...],
    ) -> Instruction:
        start_line, end_line = lines

        def span(start: int, end: int) -> Span:
            if start == end:
                at = positions[start - 1] + 1 if start > 0 else positions[0]
                return self.span(at, at)
            return self.span(positions[start], positions[end - 1] + 1)

        flags = []
        for word in node.flags:
            name, has_value, value = word.text[2:].partition("=")
            value_span = None
            value_offsets: tuple[int, ...] = ()
            if has_value:
                equals = word.offsets[len(name) + 2]
                value_span = span(equals + 1, word.end)
                value_offsets = tuple(self.byte(positions[k]) for k in word.offsets[len(name) + 3 :])
            flags.append(
                Flag(
                    name=name,
                    value=value if has_value else None,
                    text=word.text,
                    span=span(word.start, word.end),
                    value_span=value_span,
                    value_offsets=value_offsets,
                )
            )
            if not _FLAG_NAME_RE.fullmatch(name):
                raise self.error(
                    start_line,
                    f"malformed flag {word.text!r}: flags are written --name or --name=value",
                )
        trigger = None
        if node.trigger is not None:
            trigger_span = Span(span(*node.trigger.keyword_range).start, whole.end)
            trigger = self.finish(
                node.trigger,
                positions,
                logical=logical[node.trigger.keyword_range[0] :],
                lines=lines,
                whole=trigger_span,
                heredocs=(),
            )
        arguments = tuple(Argument(text, span(a, b)) for text, a, b in node.arguments)
        if trigger is not None:
            arguments = trigger.arguments
        return Instruction(
            keyword=node.keyword,
            keyword_span=span(*node.keyword_range),
            start_line=start_line,
            end_line=end_line,
            flags=tuple(flags),
            arguments=arguments,
            json_form=node.json_form,
            heredocs=heredocs,
            span=whole,
            original=logical,
            trigger=trigger,
        )

    # -- tokens ----------------------------------------------------------------------

    def tokens(self) -> Iterator[Token]:
        text = self.text
        line = 1
        start = 0
        while start < len(text):
            tag = self.labels[start]
            end = start + 1
            while end < len(text) and self.labels[end] == tag:
                end += 1
            kind = tag[0] if tag is not None else TokenKind.WHITESPACE
            piece = text[start:end]
            span = self.span(start, end)
            yield Token(kind, piece, self.data[span.start : span.end], span, line)
            line += piece.count("\n")
            start = end


_NOT_STRINGS: list[tuple[str, int, int]] = []


def _json_strings(logical: str, lo: int, hi: int) -> list[tuple[str, int, int]] | None:
    """BuildKit's parseJSON: the strings of a JSON array, with their ranges.

    ``None`` when the text is not a JSON array (the caller falls back to shell form);
    the ``_NOT_STRINGS`` sentinel when it is one with a non-string element (an error).
    """
    text = logical[lo:hi]
    if not text.startswith("["):
        return None

    def reject_constant(name: str) -> object:
        raise ValueError(name)  # NaN and Infinity are not JSON to Go

    try:
        value = json.loads(text, parse_constant=reject_constant)
    except ValueError:
        return None
    except RecursionError:
        return _NOT_STRINGS  # arrays nested a thousand deep: certainly not all strings
    if not isinstance(value, list):
        return None
    if not all(isinstance(item, str) for item in value):
        return _NOT_STRINGS
    found: list[tuple[str, int, int]] = []
    pos = lo + 1
    for _ in value:
        while logical[pos] in " \t\r\n,":
            pos += 1
        decoded, end = json.decoder.scanstring(logical, pos + 1)  # type: ignore[attr-defined]
        found.append((str(decoded), pos, int(end)))
        pos = int(end)
    return found


def _split_separators(logical: str, lo: int, hi: int) -> list[tuple[str, int, int]]:
    """``reWhitespace.Split``: words separated by runs of space, tab, \\v, \\f, \\r."""
    words: list[tuple[str, int, int]] = []
    if lo == hi:
        return words
    start = lo
    pos = lo
    while pos < hi:
        if logical[pos] in _SEPARATORS:
            words.append((logical[start:pos], start, pos))
            while pos < hi and logical[pos] in _SEPARATORS:
                pos += 1
            start = pos
        else:
            pos += 1
    words.append((logical[start:hi], start, hi))
    return words


def _parse_words(logical: str, lo: int, hi: int, escape: str) -> list[_Word]:
    """BuildKit's parseWords: quote-aware words; quotes and escapes stay in the text."""
    words: list[_Word] = []
    pos = lo
    while True:
        while pos < hi and is_go_space(logical[pos]):
            pos += 1
        if pos >= hi:
            return words
        start = pos
        chars: list[str] = []
        quote = ""
        blank_ok = False
        while pos < hi:
            ch = logical[pos]
            if not quote:
                if is_go_space(ch):
                    break
                if ch in "'\"":
                    quote = ch
                    blank_ok = True
                if ch == escape:
                    if pos + 1 == hi:
                        pos += 1
                        continue
                    chars.append(ch)
                    pos += 1
                    ch = logical[pos]
                chars.append(ch)
                pos += 1
                continue
            if ch == quote:
                quote = ""
            if ch == escape and quote != "'":
                if pos + 1 == hi:
                    quote = ""
                    pos += 1
                    continue
                chars.append(ch)
                pos += 1
                ch = logical[pos]
            chars.append(ch)
            pos += 1
        if blank_ok or chars:
            words.append(_Word(start, pos, "".join(chars), ()))


def _token_words(logical: str, lo: int, hi: int, escape: str) -> list[tuple[int, int]]:
    """The lexical words of the arguments, for the token stream (quote-aware)."""
    return [(w.start, w.end) for w in _parse_words(logical, lo, hi, escape)]


def _can_contain_heredoc(node: _Node) -> bool:
    if node.keyword == "ONBUILD" and node.trigger is not None:
        node = node.trigger
    return node.keyword in _HEREDOC_KEYWORDS and not node.json_form


def _count_quotes(word: str) -> int:
    return word.count("'") + word.count('"')


def _continuation_regex(escape: str) -> re.Pattern[str]:
    e = re.escape(escape)
    return re.compile(rf"([^{e}]){e}[ \t]*$|^{e}[ \t]*$")


def _lstrip_go(text: str) -> str:
    start = 0
    while start < len(text) and is_go_space(text[start]):
        start += 1
    return text[start:]


def _check_instruction(instruction: Instruction, parser: _Parser) -> None:
    """Errors BuildKit reports when it turns FROM into a stage; repro reports them early."""
    if instruction.keyword != "FROM":
        return
    args = instruction.arguments
    line = instruction.start_line
    if not args:
        raise parser.error(line, "FROM needs an image: FROM [--platform=PLATFORM] IMAGE [AS NAME]")
    if len(args) == 3 and args[1].text.lower() == "as":
        name = args[2].text.lower()
        if not _STAGE_NAME_RE.fullmatch(name):
            error = parser.error(
                line,
                f"invalid name for build stage: {args[2].text!r}, name can't start with a number or contain symbols",
            )
            if parser.lenient:
                # Engines differ (buildah takes "platform-arm/v7", an ARG is expanded):
                # a text tool only needs to know the stage's name.
                parser.warnings.append(str(error))
                return
            raise error
    elif len(args) != 1:
        raise parser.error(line, "FROM requires either one or three arguments: FROM IMAGE [AS NAME]")


def _utf8_len(ch: str) -> int:
    code = ord(ch)
    if code < 0x80:
        return 1
    if code < 0x800:
        return 2
    if code < 0x10000:
        return 3
    return 4


def _decode(data: bytes, filename: str) -> str:
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise DockerfileError(
            f"{filename}:{line}: NUL byte at offset {nul}: this is binary data, not a Dockerfile"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad = data[exc.start : exc.start + 1].hex()
        raise DockerfileError(
            f"{filename}:{line}: invalid UTF-8 (byte 0x{bad} at offset {exc.start}); "
            "a Dockerfile must be UTF-8 text"
        ) from None


def _split_lines(text: str) -> Iterator[_Line]:
    """Physical lines as Go's scanner sees them: split after each "\\n"."""
    start = 0
    while start < len(text):
        newline = text.find("\n", start)
        end = len(text) if newline < 0 else newline + 1
        content_end = end
        while content_end > start and text[content_end - 1] in "\r\n":
            content_end -= 1
        yield _Line(start, content_end, end)
        start = end


def parse(data: bytes, *, filename: str = "Dockerfile", lenient: bool = False) -> Dockerfile:
    """Parse the bytes of a Dockerfile.

    ``filename`` is only used in error messages, which read ``FILENAME:LINE: message``.
    Raises :class:`~repro.errors.DockerfileError` for input that is not UTF-8 text, a bad
    ``escape`` directive, an unterminated heredoc, a JSON array with non-strings, a
    ``FROM`` without an image, a malformed flag, or a file that ends inside a line
    continuation. With ``lenient`` (a text tool such as ``pin``), a file that ends
    inside a continuation and a stage name some engines accept are warnings instead
    (:attr:`Dockerfile.warnings`).
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError("parse() takes the Dockerfile's bytes")
    from repro.dockerfile.files import collector_paused

    with collector_paused():
        return _Parser(bytes(data), filename, lenient=lenient).run()
