"""``.dockerignore`` as Docker reads and matches it, and verify's context copy that honours it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from repro.build.dockerignore import DockerIgnore, copy_context, included_files, read_ignore_file


@pytest.mark.parametrize(
    ("patterns", "path", "excluded"),
    [
        ("node_modules", "node_modules", True),
        ("node_modules", "node_modules/a/b.js", True),  # a parent directory matches
        ("node_modules", "src/node_modules", False),  # patterns are anchored at the root
        ("**/node_modules", "src/node_modules/x", True),
        ("**/node_modules", "node_modules/x", True),  # "**/" matches no directory too
        ("*.log", "a.log", True),
        ("*.log", "logs/a.log", False),  # "*" does not cross "/"
        ("**/*.log", "logs/deep/a.log", True),
        ("logs/**", "logs/deep/a.log", True),
        ("logs/**", "logs", False),  # "**" at the end matches below, not the directory itself
        ("?.txt", "a.txt", True),
        ("?.txt", "ab.txt", False),
        ("/secret.txt", "secret.txt", True),  # a leading "/" is dropped
        ("./build/../dist", "dist/app", True),  # patterns are cleaned
        ("*.md\n!README.md", "README.md", False),  # an exception brings a file back
        ("*.md\n!README.md", "CHANGES.md", True),
        ("*.md\n!README.md\nREADME.md", "README.md", True),  # the last matching line wins
        ("docs\n!docs/keep.txt", "docs/keep.txt", False),
        ("docs\n!docs/keep.txt", "docs/other.txt", True),
        ("# a comment\n\n   \n  spaced.txt  ", "spaced.txt", True),
        ("#not-a-comment.txt", "#not-a-comment.txt", False),  # "#" starts a comment
        ("a[bc].txt", "ab.txt", True),
        ("a\\*.txt", "a*.txt", True),
        ("a\\*.txt", "ab.txt", False),
        ("file.txt", "fileXtxt", False),  # "." is literal
        ("a+b", "a+b", True),
    ],
)
def test_patterns_match_as_docker_matches_them(patterns: str, path: str, excluded: bool) -> None:
    assert DockerIgnore.parse(patterns).excludes(path) is excluded


def tree(root: Path, paths: list[str]) -> None:
    for path in paths:
        target = root / path
        if path.endswith("/"):
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(path)


def test_copy_takes_only_what_the_ignore_file_lets_through(tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    tree(
        ctx,
        [
            "Dockerfile",
            ".dockerignore",
            "src/app.js",
            "src/debug.log",
            "node_modules/big/index.js",
            "docs/keep.txt",
            "docs/drop.txt",
            "empty/",
        ],
    )
    (ctx / ".dockerignore").write_text("node_modules\n**/*.log\ndocs\n!docs/keep.txt\nDockerfile\n")
    (ctx / "link").symlink_to("src/app.js")
    os.utime(ctx / "src" / "app.js", (1_000_000, 1_000_000))
    copy = tmp_path / "copy"
    copy_context(ctx, copy, always=[ctx / "Dockerfile", ctx / ".dockerignore"])
    found = sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*"))
    assert found == [
        ".dockerignore",
        "Dockerfile",  # ignored, but the engine must read it
        "docs",
        "docs/keep.txt",
        "empty",
        "link",
        "src",
        "src/app.js",
    ]
    assert (copy / "link").readlink() == Path("src/app.js")
    assert (copy / "src" / "app.js").stat().st_mtime == 1_000_000


def test_an_excluded_directory_without_exceptions_is_not_walked(tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    tree(ctx, ["keep.txt", "node_modules/a/b.js", "docs/x/keep.txt", "docs/x/drop.txt"])
    (ctx / ".dockerignore").write_text("node_modules\ndocs\n!docs/x/keep.txt\n")
    asked: list[str] = []
    rules = read_ignore_file(ctx)

    class Spy(DockerIgnore):
        def excludes(self, path: str) -> bool:
            asked.append(path)
            return rules.excludes(path)

    kept = list(included_files(ctx, Spy(rules.patterns)))
    assert kept == [".dockerignore", "keep.txt", "docs/x/keep.txt"]
    assert not [p for p in asked if p.startswith("node_modules/")]  # never looked inside
    assert "docs/x/drop.txt" in asked  # an exception may reach in there: walked


def test_containerignore_wins_over_dockerignore(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("a\n")
    (tmp_path / ".containerignore").write_text("b\n")
    rules = read_ignore_file(tmp_path)
    assert rules.excludes("b")
    assert not rules.excludes("a")
    assert not read_ignore_file(tmp_path / "missing").excludes("anything")
