"""``.dockerignore`` read and matched as Docker does, and a context copy that honours it.

A pattern list is read like BuildKit's ``dockerignore.ReadAll`` (comments, ``!``
exceptions, ``filepath.Clean``, a leading ``/`` dropped) and matched like moby's
``patternmatcher``: the last pattern that matches a path or one of its parent
directories decides; ``*`` and ``?`` stop at ``/``, ``**`` crosses directories.

    >>> ignore = DockerIgnore.parse("node_modules\\n**/*.log\\n!keep.log\\n")
    >>> [ignore.excludes(p) for p in ("node_modules/a/b.js", "src/x.log", "keep.log", "src/app.js")]
    [True, True, False, False]

``repro verify`` copies a build context with :func:`copy_context`, so an ignored
``node_modules`` costs nothing. (buildah reads ``.containerignore`` first, then
``.dockerignore``: so does :func:`read_ignore_file`.)
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

IGNORE_FILES = (".containerignore", ".dockerignore")
_WILDCARDS = frozenset("*?[\\")


@dataclass(frozen=True)
class IgnorePattern:
    """One line of a ``.dockerignore``: the cleaned pattern and whether it is a ``!`` exception."""

    pattern: str
    exclusion: bool
    regex: re.Pattern[str]

    @classmethod
    def compile(cls, pattern: str, exclusion: bool) -> IgnorePattern:
        return cls(pattern, exclusion, re.compile(_translate(pattern), re.DOTALL))

    def match(self, path: str) -> bool:
        return self.regex.match(path) is not None

    @property
    def literal_prefix(self) -> str:
        """The pattern up to its first wildcard (every path it matches starts with this)."""
        for index, char in enumerate(self.pattern):
            if char in _WILDCARDS:
                return self.pattern[:index]
        return self.pattern


def _translate(pattern: str) -> str:
    """moby patternmatcher's pattern -> regular expression, for ``/``-separated paths."""
    out = ["^"]
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        i += 1
        if char == "*":
            if i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":  # "**/" is "**"
                    i += 1
                if i >= n:  # "**" at the end matches everything, as in .gitignore
                    out.append(".*")
                else:  # any number of directories, including none
                    out.append("(.*/)?")
            else:
                out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char in ".$":
            out.append("\\" + char)
        elif char == "\\":
            if i < n:
                out.append(re.escape(pattern[i]))
                i += 1
            else:
                out.append("\\\\")
        else:
            out.append(char if char in "[]" or char.isalnum() or char in "-_/!^" else re.escape(char))
    out.append("$")
    return "".join(out)


def _clean(pattern: str) -> str:
    """Go's ``filepath.Clean`` for a relative or absolute slash path."""
    cleaned = posixpath.normpath(pattern)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


@dataclass(frozen=True)
class DockerIgnore:
    """The patterns of one ``.dockerignore`` file (none: nothing is ignored)."""

    patterns: tuple[IgnorePattern, ...] = ()

    @classmethod
    def parse(cls, text: str) -> DockerIgnore:
        patterns: list[IgnorePattern] = []
        for number, raw in enumerate(text.splitlines()):
            line = raw.removeprefix("\ufeff") if number == 0 else raw
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            exclusion = line.startswith("!")
            if exclusion:
                line = line[1:].strip()
            if line:
                line = _clean(line)
                if len(line) > 1 and line.startswith("/"):
                    line = line[1:]
            patterns.append(IgnorePattern.compile(line, exclusion))
        return cls(tuple(patterns))

    @property
    def has_exceptions(self) -> bool:
        return any(p.exclusion for p in self.patterns)

    def excludes(self, path: str) -> bool:
        """Whether the context path ``path`` (relative, ``/``-separated) is left out."""
        path = _clean(path)
        parent = posixpath.dirname(path)
        parents = parent.split("/") if parent else []
        matched = False
        for pattern in self.patterns:
            if pattern.exclusion != matched:
                continue  # only an exception can undo a match, only a pattern can make one
            hit = pattern.match(path)
            if not hit:
                hit = any(pattern.match("/".join(parents[: i + 1])) for i in range(len(parents)))
            if hit:
                matched = not pattern.exclusion
        return matched

    def may_include_below(self, directory: str) -> bool:
        """Whether an exception could bring back something inside the excluded ``directory``."""
        prefix = directory.rstrip("/") + "/"
        for pattern in self.patterns:
            if not pattern.exclusion:
                continue
            literal = pattern.literal_prefix
            if literal.startswith(prefix) or prefix.startswith(literal) or literal == "":
                return True
        return False


def read_ignore_file(context: Path) -> DockerIgnore:
    """The ignore file of the build context ``context`` (``.containerignore``, else ``.dockerignore``)."""
    for name in IGNORE_FILES:
        path = context / name
        if path.is_file():
            return DockerIgnore.parse(path.read_text(encoding="utf-8", errors="replace"))
    return DockerIgnore()


def included_files(context: Path, ignore: DockerIgnore | None = None) -> Iterable[str]:
    """Every path of ``context`` (relative, ``/``-separated, directories included) that the
    ignore file lets through, parents before children; excluded directories that no
    exception reaches into are not walked at all."""
    rules = read_ignore_file(context) if ignore is None else ignore
    for root, dirs, files in os.walk(context):
        relative_root = os.path.relpath(root, context)
        base = "" if relative_root == "." else relative_root.replace(os.sep, "/") + "/"
        kept_dirs = []
        for name in sorted(dirs):
            path = base + name
            if (context / path).is_symlink():
                files.append(name)  # a link to a directory is copied as the link
                continue
            if rules.excludes(path):
                if rules.may_include_below(path):
                    kept_dirs.append(name)  # walk it: an exception may bring something back
                continue
            yield path
            kept_dirs.append(name)
        dirs[:] = kept_dirs
        for name in sorted(files):
            path = base + name
            if not rules.excludes(path):
                yield path


def copy_context(context: Path, destination: Path, *, always: Iterable[Path] = ()) -> None:
    """Copy what the ignore file of ``context`` lets through to ``destination`` (new).

    ``always`` are files copied anyway (the Dockerfile, the ignore file: the engine reads
    them; it applies the ignore file itself again when it reads the copy).
    """
    destination.mkdir(parents=True)
    shutil.copystat(context, destination)
    paths = list(included_files(context))
    for extra in always:
        try:
            relative = extra.resolve().relative_to(context.resolve())
        except ValueError:
            continue
        paths.append(relative.as_posix())
    for path in paths:
        source, target = context / path, destination / path
        if target.exists() or target.is_symlink():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(source.readlink())
        elif source.is_dir():
            target.mkdir()
            shutil.copystat(source, target)
        else:
            shutil.copy2(source, target)
    # Directory times last: creating their entries changed them.
    for path in sorted(paths, reverse=True):
        source = context / path
        if source.is_dir() and not source.is_symlink():
            shutil.copystat(source, destination / path)


__all__ = [
    "IGNORE_FILES",
    "DockerIgnore",
    "IgnorePattern",
    "copy_context",
    "included_files",
    "read_ignore_file",
]
