from __future__ import annotations

from pathlib import Path

import pytest

from repro.errors import EXIT_USAGE, UsageError
from repro.pin.discovery import find_dockerfiles, is_dockerfile_name


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Dockerfile", True),
        ("Containerfile", True),
        ("Dockerfile.dev", True),
        ("Containerfile.arm64", True),
        ("api.Dockerfile", True),
        ("Dockerfile.", False),
        (".Dockerfile", False),
        ("Dockerfile.dockerignore", False),
        ("dockerfile", False),
        ("MyDockerfile", False),
        ("README.md", False),
    ],
)
def test_names(name: str, expected: bool) -> None:
    assert is_dockerfile_name(name) is expected


def test_walks_directories_skipping_vendored_trees(tmp_path: Path) -> None:
    for rel in [
        "Dockerfile",
        "b/Containerfile",
        "a/api.Dockerfile",
        "a/Dockerfile.dev",
        "a/notes.txt",
        ".git/Dockerfile",
        "node_modules/x/Dockerfile",
        ".venv/lib/Dockerfile",
    ]:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("FROM scratch\n")
    found = [p.relative_to(tmp_path).as_posix() for p in find_dockerfiles([tmp_path])]
    assert found == ["Dockerfile", "a/Dockerfile.dev", "a/api.Dockerfile", "b/Containerfile"]


def test_named_files_are_taken_whatever_their_name_and_only_once(tmp_path: Path) -> None:
    odd = tmp_path / "build.txt"
    odd.write_text("FROM scratch\n")
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    found = find_dockerfiles([odd, tmp_path, tmp_path / "Dockerfile"])
    assert found == [odd, tmp_path / "Dockerfile"]


def test_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file") as info:
        find_dockerfiles([tmp_path / "nope"])
    assert info.value.exit_code == EXIT_USAGE
