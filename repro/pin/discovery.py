"""Finding the Dockerfiles and Containerfiles that ``repro pin`` works on.

A directory is searched recursively for ``Dockerfile``, ``*.Dockerfile``,
``Dockerfile.*``, ``Containerfile`` and ``Containerfile.*`` (skipping ``.git``,
``node_modules`` and virtual environments); a file named on the command line is taken
whatever its name.

:func:`discover` also says where each file was found (the tree it belongs to, and
whether it was named explicitly) and lists the near misses a search passed over (a
directory called ``Dockerfile``, a file called ``dockerfile`` or ``Dockerfile-prod``), so
that a command that found nothing can say what it skipped and why.

    >>> is_dockerfile_name("api.Dockerfile"), is_dockerfile_name("Dockerfile.dev")
    (True, True)
    >>> is_dockerfile_name("Dockerfile.dockerignore"), is_dockerfile_name("README.md")
    (False, False)
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from repro.errors import UsageError

__all__ = [
    "SKIPPED_DIRECTORIES",
    "Candidate",
    "Discovery",
    "discover",
    "find_dockerfiles",
    "is_dockerfile_name",
    "not_a_dockerfile_name",
]

SKIPPED_DIRECTORIES: Final = frozenset({".git", "node_modules", ".venv", "venv", "__pycache__", ".tox"})
# Files next to a Dockerfile that share its prefix but are not Dockerfiles.
_NOT_DOCKERFILES: Final = (".dockerignore", ".containerignore")


def is_dockerfile_name(name: str) -> bool:
    """Whether a file called ``name`` is a Dockerfile or Containerfile by its name."""
    if name.endswith(_NOT_DOCKERFILES):
        return False
    for base in ("Dockerfile", "Containerfile"):
        if name == base or (name.startswith(base + ".") and len(name) > len(base) + 1):
            return True
    return name.endswith(".Dockerfile") and len(name) > len(".Dockerfile")


# Names with these endings are source, documentation or backups that happen to start with
# "Dockerfile." (dockerfile.go, Dockerfile.md, Dockerfile.orig): found by a search, they
# are passed over with a note.
_OTHER_SUFFIXES: Final = frozenset(
    {
        ".go", ".py", ".rs", ".js", ".ts", ".rb", ".java", ".c", ".h", ".sh", ".ps1", ".md",
        ".rst", ".txt", ".json", ".yml", ".yaml", ".toml", ".xml", ".html", ".orig", ".rej",
        ".bak", ".swp", ".patch", ".diff",
    }
)  # fmt: skip


def not_a_dockerfile_name(name: str) -> str:
    """Why a file found by a search is not a Dockerfile by its name ("" when it may be one)."""
    suffix = Path(name).suffix.lower()
    if suffix in _OTHER_SUFFIXES:
        return f"a {suffix} file is not a Dockerfile"
    return ""


@dataclass(frozen=True)
class Candidate:
    """A file to work on: its path as found, the tree it belongs to, how it was found."""

    path: Path
    #: The directory searched, or for a file named on the command line its directory:
    #: a file is never written through a link that leaves it.
    root: Path
    explicit: bool


@dataclass
class Discovery:
    """What a search found, and what it passed over (``(path, why)``)."""

    candidates: list[Candidate] = field(default_factory=list)
    passed_over: list[tuple[str, str]] = field(default_factory=list)


def _near_miss(name: str) -> bool:
    lowered = name.lower()
    return "dockerfile" in lowered or "containerfile" in lowered


def _walk(directory: Path, discovery: Discovery) -> list[Path]:
    found: list[Path] = []

    def fail(err: OSError) -> None:
        raise UsageError(f"{err.filename}: cannot read directory: {err.strerror}")

    for root, dirs, files in os.walk(directory, onerror=fail):
        for name in sorted(d for d in dirs if _near_miss(d)):
            discovery.passed_over.append((str(Path(root, name)), "a directory, not a Dockerfile"))
        # Pruned in place so os.walk does not descend; sorted for a stable order.
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRECTORIES)
        for name in sorted(files):
            if is_dockerfile_name(name):
                found.append(Path(root, name))
            elif _near_miss(name) and not name.endswith(_NOT_DOCKERFILES):
                discovery.passed_over.append(
                    (
                        str(Path(root, name)),
                        "not a Dockerfile name (Dockerfile, Dockerfile.*, *.Dockerfile, Containerfile*); "
                        "name the file on the command line to use it",
                    )
                )
    return found


def discover(paths: Iterable[Path | str]) -> Discovery:
    """The Dockerfiles under ``paths``, each once, in a stable order, with what was passed over.

    Raises :class:`~repro.errors.UsageError` for a path that does not exist.
    """
    discovery = Discovery()
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = [Candidate(p, path, explicit=False) for p in _walk(path, discovery)]
        elif path.exists() or path.is_symlink():
            # A FIFO, a device or a dangling link named on the command line: the reader
            # says what it is, for this file alone.
            found = [Candidate(path, path.parent, explicit=True)]
        else:
            raise UsageError(f"{path}: no such file or directory")
        for candidate in found:
            key = Path(os.path.realpath(candidate.path))
            if key not in seen:
                seen.add(key)
                discovery.candidates.append(candidate)
    return discovery


def find_dockerfiles(paths: Iterable[Path | str]) -> list[Path]:
    """The Dockerfiles under ``paths``, each once, in a stable order.

    Raises :class:`~repro.errors.UsageError` for a path that does not exist.
    """
    return [candidate.path for candidate in discover(paths).candidates]
