"""SOURCE_DATE_EPOCH: environment, else git HEAD's commit time (a real repository), else 0."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from repro.build.epoch import Epoch, source_date_epoch
from repro.errors import ProcessError, UsageError
from repro.process import run

COMMIT_TIME = 1700000000


def git_repo(path: Path) -> Path:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_AUTHOR_DATE": "@1600000000 +0000",
        "GIT_COMMITTER_DATE": f"@{COMMIT_TIME} +0200",
    }
    path.mkdir(parents=True)
    run(["git", "init", "-q", str(path)], env=env)
    (path / "app").mkdir()
    (path / "app" / "Dockerfile").write_text("FROM scratch\n")
    run(["git", "-C", str(path), "add", "."], env=env)
    run(["git", "-C", str(path), "commit", "-q", "-m", "init"], env=env)
    return path


def test_environment_wins(tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "repo")
    assert source_date_epoch(repo, environ={"SOURCE_DATE_EPOCH": "42"}) == Epoch(42, "environment")


def test_commit_time_of_head_for_a_context_inside_the_repository(tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "repo")
    epoch = source_date_epoch(repo / "app", environ={})
    assert epoch == Epoch(COMMIT_TIME, "git")
    assert epoch.rfc3339 == "2023-11-14T22:13:20Z"


def test_empty_variable_is_unset(tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "repo")
    assert source_date_epoch(repo, environ={"SOURCE_DATE_EPOCH": ""}).source == "git"


def test_zero_outside_a_repository(tmp_path: Path) -> None:
    assert source_date_epoch(tmp_path, environ={}) == Epoch(0, "default")
    assert Epoch(0, "default").rfc3339 == "1970-01-01T00:00:00Z"


def test_zero_in_a_repository_without_commits(tmp_path: Path) -> None:
    run(["git", "init", "-q", str(tmp_path)])
    assert source_date_epoch(tmp_path, environ={}) == Epoch(0, "default")


def test_zero_without_git(tmp_path: Path) -> None:
    def no_git(argv: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
        raise ProcessError("git: program not found")

    assert source_date_epoch(tmp_path, environ={}, runner=no_git) == Epoch(0, "default")


@pytest.mark.parametrize("value", ["-1", "1.5", "yesterday", "1e9", "١٢"])
def test_invalid_values_are_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(UsageError, match="SOURCE_DATE_EPOCH"):
        source_date_epoch(tmp_path, environ={"SOURCE_DATE_EPOCH": value})
