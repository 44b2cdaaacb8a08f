"""``repro refresh --commit`` in a real git repository: a moved tag becomes one commit on a
new branch, holding only the files refresh wrote, with the Markdown summary as message."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from devtools.testbed import BaseImages, RunningRegistry
from devtools.testbed.images import skopeo_copy
from repro.cli import main
from repro.errors import EXIT_CHANGED, EXIT_OK


def git(repo: Path, *argv: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *argv], capture_output=True, text=True, check=True).stdout


def test_refresh_commit_makes_one_branch_with_the_summary(
    base_images: BaseImages,
    fresh_registry: RunningRegistry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    host = fresh_registry.host
    skopeo_copy(f"oci:{base_images.busybox.layout}:latest", fresh_registry, "app/base:1")
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.name", "Refresh Bot")
    git(repo, "config", "user.email", "bot@example.invalid")
    (repo / "repro.toml").write_text(f'[registries."{host}"]\ninsecure = true\n')
    (repo / "Dockerfile").write_text(f"FROM {host}/app/base:1\nRUN true\n")
    (repo / "notes.txt").write_text("v1\n")
    assert main(["pin", str(repo)]) == EXIT_OK
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "pinned")
    (repo / "notes.txt").write_text("a local edit refresh must not commit\n")

    skopeo_copy(f"oci:{base_images.multi.layout}:latest", fresh_registry, "app/base:1", all_images=True)
    capsys.readouterr()
    assert main(["refresh", "--commit", "--exit-code", str(repo)]) == EXIT_CHANGED
    err = capsys.readouterr().err
    branch = git(repo, "branch", "--show-current").strip()
    assert branch.startswith("repro/refresh-")
    assert f"committed on branch {branch}" in err

    assert sorted(git(repo, "show", "--name-only", "--format=", "HEAD").split()) == [
        "Dockerfile",
        "repro.lock",
    ]
    message = git(repo, "log", "-1", "--format=%B")
    assert message.startswith("Refresh pinned base images\n\n")
    assert (
        f"| `{host}/app/base:1` | `{base_images.busybox.digest}` | `{base_images.multi.digest}` |" in message
    )
    assert git(repo, "status", "--porcelain").strip() == "M notes.txt"  # left as it was

    assert main(["refresh", "--commit", "--dry-run", str(repo)]) == 64
