"""refresh --commit's git part, on a real repository: only the named files, one new branch."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from repro.errors import UsageError
from repro.pin.gitcommit import commit_files


def git(repo: Path, *argv: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *argv], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.name", "T")
    git(repo, "config", "user.email", "t@example.invalid")
    for name in ("Dockerfile", "other.txt"):
        (repo / name).write_text("old\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "start")
    return repo


def test_commits_only_the_files_on_a_branch_named_after_the_change(repo: Path) -> None:
    (repo / "Dockerfile").write_text("new\n")
    (repo / "other.txt").write_text("unrelated edit\n")
    branch = commit_files([repo / "Dockerfile"], "Refresh\n\n| a | b |\n")
    assert branch.startswith("repro/refresh-")
    assert git(repo, "branch", "--show-current").strip() == branch
    assert git(repo, "show", "--name-only", "--format=", "HEAD").split() == ["Dockerfile"]
    assert git(repo, "log", "-1", "--format=%B").strip() == "Refresh\n\n| a | b |"
    assert git(repo, "status", "--porcelain").strip() == "M other.txt"


def test_outside_a_repository_or_with_nothing_it_refuses(tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / "Dockerfile").write_text("x\n")
    with pytest.raises(UsageError, match="not in a git work tree"):
        commit_files([loose / "Dockerfile"], "m")
    with pytest.raises(UsageError, match="nothing to commit"):
        commit_files([], "m")


def test_an_existing_branch_of_the_same_change_is_an_error(repo: Path) -> None:
    (repo / "Dockerfile").write_text("new\n")
    commit_files([repo / "Dockerfile"], "m")
    git(repo, "switch", "-q", "main")
    (repo / "Dockerfile").write_text("new\n")
    with pytest.raises(UsageError, match="git switch failed"):
        commit_files([repo / "Dockerfile"], "m")
