"""The rooms of repro import one way only: a lower room never imports a higher one.

Every ``import`` in ``repro/`` (at the top of a module, inside a function, or under
``TYPE_CHECKING``: each is a dependency) is read with :mod:`ast` and checked against
:data:`ROOMS`, highest first. The order, and why it is this one:

- ``cli`` parses, calls the library, prints. ``doctor`` (the library of ``repro doctor``)
  inspects the whole installation, engines and registries included, so it sits with cli.
- ``release`` runs every stage below it; ``policy`` gates on what ``attest`` and ``sbom``
  know; ``attest`` signs and verifies statements about images and their SBOMs.
- ``sbom`` catalogs an image's filesystem; ``reproduce`` (two builds compared, diffs,
  culprits) builds through ``build``; ``build`` checks pins with ``pin``.
- ``images`` (locations, stores, push, pull) works on ``layers`` and talks to ``registry``;
  ``registry`` speaks the ``oci`` data model; ``dockerfile`` parses text.
- Base modules (config, errors, reference, digest, platform, process, fsutil, lock,
  redact, terminal, threads) import only each other.

``repro`` never imports ``tests`` or ``devtools``; ``devtools`` (the test bed, used by
tests, ``make demo`` and bench/) never imports pytest or ``tests``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import repo_root

#: The rooms, highest first. A module may import its own room and any room after it.
ROOMS = (
    ("cli", "doctor"),
    ("release",),
    ("policy",),
    ("attest",),
    ("sbom",),
    ("reproduce",),
    ("build",),
    ("pin",),
    ("images",),
    ("layers",),
    ("registry",),
    ("oci",),
    ("dockerfile",),
)
BASE = frozenset(
    {
        "config",
        "errors",
        "reference",
        "digest",
        "platform",
        "process",
        "fsutil",
        "lock",
        "redact",
        "terminal",
        "threads",
    }
)
#: Entry points above every room.
TOP = frozenset({"__main__"})


def rank(module: str) -> int:
    """The room of ``repro.X…`` as an index into ROOMS; BASE ranks below every room."""
    parts = module.split(".")
    if len(parts) == 1:
        return len(ROOMS)  # the package itself: its version, nothing else
    name = parts[1]
    if name in TOP:
        return -1
    for index, room in enumerate(ROOMS):
        if name in room:
            return index
    if name in BASE:
        return len(ROOMS)
    raise AssertionError(f"{module}: in no room; add it to ROOMS or BASE in {__file__}")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> Iterator[tuple[str, int]]:
    """Every absolute module an ``import`` in ``path`` names, with its line."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            if node.level:
                raise AssertionError(f"{path}:{node.lineno}: relative import; repro imports absolutely")
            yield node.module, node.lineno


def sources(directory: str) -> list[Path]:
    return sorted((repo_root() / directory).rglob("*.py"))


def test_every_module_is_in_a_room() -> None:
    for path in sources("repro"):
        rank(module_name(path, repo_root()))


def test_lower_rooms_never_import_higher_ones() -> None:
    problems = []
    for path in sources("repro"):
        here = module_name(path, repo_root())
        mine = rank(here)
        for imported, line in imports(path):
            top = imported.split(".")[0]
            if top in {"tests", "devtools"}:
                problems.append(f"{path}:{line}: repro imports {imported}")
            if top != "repro":
                continue
            theirs = rank(imported)
            if theirs < mine:
                problems.append(f"{path}:{line}: {here} imports {imported}, a room above it")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("forbidden", ["pytest", "_pytest", "tests"])
def test_devtools_never_imports_the_tests(forbidden: str) -> None:
    problems = [
        f"{path}:{line}: {imported}"
        for path in sources("devtools")
        for imported, line in imports(path)
        if imported.split(".")[0] == forbidden
    ]
    assert not problems, "\n".join(problems)


def test_the_check_sees_a_violation(tmp_path: Path) -> None:
    """The checker itself: an upward import is found (a check that finds nothing proves nothing)."""
    module = tmp_path / "repro" / "oci" / "bad.py"
    module.parent.mkdir(parents=True)
    module.write_text("def f() -> None:\n    from repro.release import release\n")
    found = [(imported, line) for imported, line in imports(module)]
    assert found == [("repro.release", 2)]
    assert rank("repro.release") < rank(module_name(module, tmp_path))


#: A module longer than this says at the top of its docstring why it is one module.
MAX_LINES = 700


def test_a_long_module_says_why_it_is_one() -> None:
    problems = []
    for path in sources("repro"):
        text = path.read_text()
        if text.count("\n") <= MAX_LINES:
            continue
        docstring = ast.get_docstring(ast.parse(text)) or ""
        if "One module, though" not in docstring:
            problems.append(f"{path}: {text.count(chr(10))} lines and no 'One module, though …' reason")
    assert not problems, "\n".join(problems)
