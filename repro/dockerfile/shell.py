"""The shell-word language of Dockerfiles: quotes, escapes and ``$VAR`` expansion.

BuildKit runs one small shell-like lexer over instruction words: to find heredoc markers
in a ``RUN``/``COPY``/``ADD`` line, to expand ``ARG`` defaults and ``FROM`` lines, and to
check that ``--from`` values carry no variables. This module implements the same language
so that repro reads those words exactly as a build would.

    >>> ShellLexer().process("${IMAGE:-alpine}:3.20", {}).result
    'alpine:3.20'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass, field

__all__ = [
    "ShellLexer",
    "ShellSyntaxError",
    "UnknownVariableError",
    "WordResult",
    "is_go_space",
]

# Go's unicode.IsSpace, which BuildKit uses to trim and split; Python's str.isspace()
# also counts the ASCII separators \x1c-\x1f, which Go does not.
_GO_SPACES = frozenset("\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | frozenset(
    chr(c) for c in range(0x2000, 0x200B)
)

_SPECIAL_PARAMS = frozenset("@*#?-$!0")


def is_go_space(ch: str) -> bool:
    """Whether ``ch`` is white space to BuildKit (Go's ``unicode.IsSpace``)."""
    return ch in _GO_SPACES


class ShellSyntaxError(ValueError):
    """A word is not valid in the Dockerfile shell-word language (BuildKit's message)."""


class UnknownVariableError(LookupError):
    """A variable whose value only the builder knows (e.g. ``TARGETARCH``) was needed."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


@dataclass(frozen=True, slots=True)
class WordResult:
    """What processing one word gives.

    ``matched`` are the variables that were set and used, ``unmatched`` those looked up but
    unset; ``unset_plain`` those of them used as a bare ``$NAME``/``${NAME}``, which
    silently expand to nothing.
    """

    result: str
    words: tuple[str, ...]
    matched: frozenset[str] = field(default_factory=frozenset)
    unmatched: frozenset[str] = field(default_factory=frozenset)
    unset_plain: frozenset[str] = field(default_factory=frozenset)


class _Words:
    """Splits processed text into words at unquoted white space."""

    def __init__(self) -> None:
        self.buf: list[str] = []
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if is_go_space(ch):
            if self.in_word and self.buf:
                self.words.append("".join(self.buf))
                self.buf = []
                self.in_word = False
        else:
            self.add_raw_char(ch)

    def add_raw_char(self, ch: str) -> None:
        self.buf.append(ch)
        self.in_word = True

    def add_string(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def add_raw_string(self, text: str) -> None:
        self.buf.append(text)
        self.in_word = True

    def finish(self) -> list[str]:
        if self.buf:
            self.words.append("".join(self.buf))
            self.buf = []
            self.in_word = False
        return self.words


_EOF = ""

#: How deeply ``${a:-${b:-...}}`` may nest; real files use two or three levels.
MAX_NESTING = 64


class _Scan:
    """One pass over one word, with the lexer's options and the variables it touched."""

    def __init__(self, lexer: ShellLexer, text: str, env: Mapping[str, str], unknown: Set[str]) -> None:
        self.lexer = lexer
        self.text = text
        self.pos = 0
        self.env = env
        self.unknown = unknown
        self.raw_escapes = lexer.raw_escapes
        self.matched: set[str] = set()
        self.unmatched: set[str] = set()
        self.unset_plain: set[str] = set()
        self.depth = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else _EOF

    def next(self) -> str:
        if self.pos >= len(self.text):
            return _EOF
        ch = self.text[self.pos]
        self.pos += 1
        return ch

    def get_env(self, name: str) -> tuple[str, bool]:
        if name in self.unknown and name not in self.env:
            raise UnknownVariableError(name)
        if name in self.env:
            self.matched.add(name)
            return self.env[name], True
        self.unmatched.add(name)
        return "", False

    def stop_on(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        # Each nested ${...} recurses once; a bound keeps hostile nesting a syntax error
        # rather than a RecursionError.
        if self.depth >= MAX_NESTING:
            raise ShellSyntaxError(f"substitutions nested deeper than {MAX_NESTING} levels")
        saved = self.raw_escapes
        self.raw_escapes = raw_escapes
        self.depth += 1
        try:
            return self._stop_on(stop)
        finally:
            self.raw_escapes = saved
            self.depth -= 1

    def _stop_on(self, stop: str) -> tuple[str, list[str]]:
        result: list[str] = []
        words = _Words()
        escape = self.lexer.escape
        special: dict[str, Callable[[], str]] = {"$": self.dollar, "<": self.possible_heredoc}
        special["'"] = self.single_quote
        special['"'] = self.double_quote
        while self.peek() != _EOF:
            ch = self.peek()
            if stop != _EOF and ch == stop:
                self.next()
                return "".join(result), words.finish()
            handler = special.get(ch)
            if handler is not None:
                piece = handler()
                result.append(piece)
                if ch == "$":
                    words.add_string(piece)
                else:
                    words.add_raw_string(piece)
                continue
            ch = self.next()
            if ch == escape:
                if self.raw_escapes:
                    words.add_raw_char(ch)
                    result.append(ch)
                ch = self.next()
                if ch == _EOF:
                    break
                words.add_raw_char(ch)
            else:
                words.add_char(ch)
            result.append(ch)
        if stop != _EOF:
            raise ShellSyntaxError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.finish()

    def single_quote(self) -> str:
        out: list[str] = []
        ch = self.next()
        if self.lexer.raw_quotes:
            out.append(ch)
        while True:
            ch = self.next()
            if ch == _EOF:
                raise ShellSyntaxError("unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                if self.lexer.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def double_quote(self) -> str:
        out: list[str] = []
        escape = self.lexer.escape
        ch = self.next()
        if self.lexer.raw_quotes:
            out.append(ch)
        while True:
            peek = self.peek()
            if peek == _EOF:
                raise ShellSyntaxError("unexpected end of statement while looking for matching double-quote")
            if peek == '"':
                ch = self.next()
                if self.lexer.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if peek == "$":
                out.append(self.dollar())
                continue
            ch = self.next()
            if ch == escape:
                if self.raw_escapes:
                    out.append(ch)
                after = self.peek()
                if after == _EOF:
                    continue
                if after in ('"', "$", escape):
                    ch = self.next()
            out.append(ch)

    def name(self) -> str:
        out: list[str] = []
        while self.peek() != _EOF:
            ch = self.peek()
            if not out and ch.isdigit():
                while self.peek() != _EOF and self.peek().isdigit():
                    out.append(self.next())
                return "".join(out)
            if not out and ch in _SPECIAL_PARAMS:
                return self.next()
            if not (ch.isalpha() or ch.isdigit() or ch == "_"):
                break
            out.append(self.next())
        return "".join(out)

    def dollar(self) -> str:
        self.next()
        skip_unset = self.lexer.skip_unset
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            value, found = self.get_env(name)
            if not found:
                if skip_unset:
                    return "$" + name
                self.unset_plain.add(name)
            return value
        self.next()
        if self.peek() == _EOF:
            raise ShellSyntaxError("syntax error: missing '}'")
        if self.peek() in "{}:":
            raise ShellSyntaxError("syntax error: bad substitution")
        name = self.name()
        ch = self.next()
        modifier = ch or "\ufffd"
        null_is_unset = False
        if ch == "}":
            value, found = self.get_env(name)
            if not found:
                if skip_unset:
                    return "${" + name + "}"
                self.unset_plain.add(name)
            return value
        if ch == "/":
            return self._replace(name)
        if ch == ":":
            null_is_unset = True
            ch = self.next()
            modifier += ch
        elif ch not in ("+", "-", "?", "#", "%") or ch == _EOF:
            raise ShellSyntaxError(f"unsupported modifier ({modifier}) in substitution")
        return self._modifier(name, ch, modifier, null_is_unset=null_is_unset)

    def _modifier(self, name: str, ch: str, modifier: str, *, null_is_unset: bool) -> str:
        """``${NAME-word}`` and the other forms with a modifier, after the modifier."""
        raw_escapes = ch in ("#", "%")
        if null_is_unset and raw_escapes:
            raise ShellSyntaxError(f"unsupported modifier ({modifier}) in substitution")
        try:
            word, _ = self.stop_on("}", raw_escapes)
        except ShellSyntaxError:
            if self.peek() == _EOF:
                raise ShellSyntaxError("syntax error: missing '}'") from None
            raise
        value, found = self.get_env(name)
        if self.lexer.skip_unset and not found:
            return "${" + name + modifier + word + "}"
        empty = not found or (null_is_unset and value == "")
        if ch == "-":
            return word if empty else value
        if ch == "+":
            return "" if empty else word
        if ch == "?":
            if not found:
                raise ShellSyntaxError(f"{name}: {word or 'is not allowed to be unset'}")
            if null_is_unset and value == "":
                raise ShellSyntaxError(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        if ch in ("#", "%"):
            greedy = word.startswith(ch)
            if greedy:
                word = word[1:]
            return _trim(value, word, greedy=greedy, suffix=ch == "%")
        raise ShellSyntaxError(f"unsupported modifier ({modifier}) in substitution")

    def _replace(self, name: str) -> str:
        replace_all = self.peek() == "/"
        if replace_all:
            self.next()
        try:
            pattern, _ = self.stop_on("/", True)
        except ShellSyntaxError:
            if self.peek() == _EOF:
                raise ShellSyntaxError("syntax error: missing '/' in ${}") from None
            raise
        try:
            replacement, _ = self.stop_on("}", True)
        except ShellSyntaxError:
            if self.peek() == _EOF:
                raise ShellSyntaxError("syntax error: missing '}'") from None
            raise
        value, found = self.get_env(name)
        if self.lexer.skip_unset and not found:
            return "${" + name + "/" + pattern + "/" + replacement + "}"
        regex = _pattern_regex(pattern, greedy=True)
        if replace_all:
            return regex.sub(lambda _m: replacement, value)
        return regex.sub(lambda _m: replacement, value, count=1)

    def possible_heredoc(self) -> str:
        self.next()
        if self.peek() != "<":
            return "<"
        self.next()
        spaces: list[str] = []
        while self.peek() in ("\t", "\r", " ") and self.peek() != _EOF:
            spaces.append(self.next())
        return "<<" + "".join(spaces)


def _pattern_regex(pattern: str, *, greedy: bool) -> re.Pattern[str]:
    """A shell wildcard pattern (``*``, ``?``, ``\\`` escapes; no brackets) as a regex."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append(".*" if greedy else ".*?")
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            if i < len(pattern) and pattern[i] in "}/":
                continue
            nxt = pattern[i] if i < len(pattern) else ""
            i += 1
            if nxt not in ("*", "?", "\\"):
                raise ShellSyntaxError(
                    f"invalid pattern ({pattern}) in substitution: invalid escape '\\{nxt}'"
                )
            out.append(re.escape(nxt))
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.DOTALL)


def _trim(value: str, pattern: str, *, greedy: bool, suffix: bool) -> str:
    """``${v#p}``/``${v##p}`` (prefix) and ``${v%p}``/``${v%%p}`` (suffix) trimming."""
    regex = _pattern_regex(pattern, greedy=True)
    cuts = range(len(value) + 1)
    if suffix:
        starts = cuts if greedy else reversed(cuts)
        for start in starts:
            if regex.fullmatch(value, start):
                return value[:start]
        return value
    ends = reversed(cuts) if greedy else cuts
    for end in ends:
        if regex.fullmatch(value, 0, end):
            return value[end:]
    return value


@dataclass(frozen=True, slots=True)
class ShellLexer:
    """BuildKit's shell-word lexer with its options.

    ``raw_quotes``/``raw_escapes`` keep quote and escape characters in the result (used to
    find heredoc markers); ``skip_unset`` leaves unset ``$VAR`` references as written.
    """

    escape: str = "\\"
    raw_quotes: bool = False
    raw_escapes: bool = False
    skip_unset: bool = False

    def process(self, word: str, env: Mapping[str, str], *, unknown: Set[str] = frozenset()) -> WordResult:
        """Expand ``word`` with ``env``; names in ``unknown`` raise :class:`UnknownVariableError`.

        Raises :class:`ShellSyntaxError` with BuildKit's message on malformed input.
        """
        scan = _Scan(self, word, env, unknown)
        result, words = scan.stop_on(_EOF, self.raw_escapes)
        return WordResult(
            result=result,
            words=tuple(words),
            matched=frozenset(scan.matched),
            unmatched=frozenset(scan.unmatched),
            unset_plain=frozenset(scan.unset_plain),
        )
