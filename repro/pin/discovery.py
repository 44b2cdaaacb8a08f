"""Finding the Dockerfiles and Containerfiles that ``repro pin`` works on.

A directory is searched recursively for ``Dockerfile``, ``*.Dockerfile``,
``Dockerfile.*``, ``Containerfile`` and ``Containerfile.*`` (skipping ``.git``,
``node_modules`` and virtual environments); a file named on the command line is taken
whatever its name.

    >>> is_dockerfile_name("api.Dockerfile"), is_dockerfile_name("Dockerfile.dev")
    (True, True)
    >>> is_dockerfile_name("Dockerfile.dockerignore"), is_dockerfile_name("README.md")
    (False, False)
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from repro.errors import UsageError

__all__ = ["SKIPPED_DIRECTORIES", "find_dockerfiles", "is_dockerfile_name"]

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


def _walk(directory: Path) -> list[Path]:
    found: list[Path] = []

    def fail(err: OSError) -> None:
        raise UsageError(f"{err.filename}: cannot read directory: {err.strerror}")

    for root, dirs, files in os.walk(directory, onerror=fail):
        # Pruned in place so os.walk does not descend; sorted for a stable order.
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRECTORIES)
        found.extend(Path(root, name) for name in sorted(files) if is_dockerfile_name(name))
    return found


def find_dockerfiles(paths: Iterable[Path | str]) -> list[Path]:
    """The Dockerfiles under ``paths``, each once, in a stable order.

    Raises :class:`~repro.errors.UsageError` for a path that does not exist.
    """
    result: list[Path] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            candidates = _walk(path)
        elif path.is_file():
            candidates = [path]
        else:
            raise UsageError(f"{path}: no such file or directory")
        for candidate in candidates:
            key = candidate.resolve()
            if key not in seen:
                seen.add(key)
                result.append(candidate)
    return result
