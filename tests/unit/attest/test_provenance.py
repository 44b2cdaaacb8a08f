"""Provenance that tells the truth about its source: the git commit, whether the work tree
was dirty, and the digest of the context actually built (checked against coreutils)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from repro.attest.provenance import context_dir_hash, git_source, inspect_source
from repro.attest.statements import BaseImage, ProvenanceInputs, SourceContext, build_type, slsa_provenance
from repro.build.pipeline import BuildSpec
from repro.config import Config
from repro.digest import Digest
from repro.errors import EXIT_RELEASE_PIN, EXIT_RELEASE_SOURCE, ReleaseError
from repro.release import ReleaseOptions, ReleaseReport, release
from tests.unit.attest import fixtures

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",
}


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    completed = subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)
    return completed.stdout.decode().strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository whose build context is its ``app/`` directory, committed clean."""
    root = tmp_path / "repo"
    (root / "app" / "src").mkdir(parents=True)
    (root / "app" / "Dockerfile").write_text("FROM debian:bookworm\n")
    (root / "app" / "src" / "main.py").write_text("print('hi')\n")
    (root / "README").write_text("outside the context\n")
    (root / ".gitignore").write_text("*.log\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "one")
    return root


def test_a_clean_checkout_without_a_remote_still_records_its_commit(repo: Path) -> None:
    source = git_source(repo / "app")
    assert source is not None
    assert source.commit == git(repo, "rev-parse", "HEAD")
    assert source.repository is None
    assert not source.dirty
    assert source.descriptor() == {"name": "source", "digest": {"gitCommit": source.commit}}


def test_the_remote_is_recorded_without_credentials(repo: Path) -> None:
    git(repo, "remote", "add", "origin", "https://user:ghp_secret@github.com/acme/app.git")
    source = git_source(repo / "app")
    assert source is not None
    assert source.repository == "https://github.com/acme/app.git"
    assert source.descriptor()["uri"] == "git+https://github.com/acme/app.git"


def test_changes_inside_the_context_make_it_dirty(repo: Path) -> None:
    context = repo / "app"
    (repo / "README").write_text("changed, but outside the context\n")
    (context / "build.log").write_text("ignored by git\n")
    (context / "dist").mkdir()
    (context / "dist" / "index.json").write_text("{}")
    source = git_source(context, exclude=[context / "dist"])
    assert source is not None
    assert not source.dirty
    (context / "src" / "main.py").write_text("print('changed')\n")
    (context / "new file.txt").write_text("untracked\n")
    source = git_source(context, exclude=[context / "dist"])
    assert source is not None
    assert source.dirty
    assert sorted(source.changed) == ["app/new file.txt", "app/src/main.py"]
    git(repo, "add", "-A")  # staged is still not committed
    source = git_source(context, exclude=[context / "dist"])
    assert source is not None
    assert source.dirty


def test_outside_git_there_is_no_source(repo: Path, tmp_path: Path) -> None:
    assert git_source(tmp_path) is None
    assert inspect_source(tmp_path).git is None
    # Nor in a directory of a checkout whose files git ignores or does not track yet.
    (repo / ".gitignore").write_text("*.log\n/build/\n")
    git(repo, "commit", "-q", "-am", "ignore build/")
    (repo / "build" / "app").mkdir(parents=True)
    (repo / "build" / "app" / "Dockerfile").write_text("FROM scratch\n")
    assert git_source(repo / "build" / "app") is None
    (repo / "new").mkdir()
    (repo / "new" / "Dockerfile").write_text("FROM scratch\n")
    assert git_source(repo / "new") is None


def test_the_dir_hash_is_in_totos_computed_by_coreutils(repo: Path, tmp_path: Path) -> None:
    context = repo / "app"
    (context / "src" / "bin").mkdir()
    (context / "src" / "bin" / "run").write_bytes(b"\x00binary\xff")
    (context / "Z-upper").write_text("sorted bytewise: upper case first\n")
    (context / "link").symlink_to("Dockerfile")  # find -type f skips symbolic links
    ours = context_dir_hash(context)
    # The reference: in-toto's definition, run by find, sort and sha256sum on a copy without .git.
    copy = tmp_path / "copy"
    shutil.copytree(context, copy, symlinks=True, ignore=shutil.ignore_patterns(".git"))
    reference = (
        subprocess.run(  # noqa: S602 (the documented reference pipeline, fixed text)
            "find . -type f | cut -c3- | LC_ALL=C sort | xargs -r sha256sum | sha256sum | cut -f1 -d' '",
            shell=True,
            cwd=copy,
            check=True,
            capture_output=True,
            env={**os.environ, "LC_ALL": "C"},
        )
        .stdout.decode()
        .strip()
    )
    assert ours.dir_hash == reference
    assert ours.files == 4
    (context / "Dockerfile").write_text("FROM debian:trixie\n")
    assert context_dir_hash(context).dir_hash != ours.dir_hash


def test_the_dir_hash_covers_only_what_dockerignore_lets_through(tmp_path: Path) -> None:
    context = tmp_path / "ctx"
    (context / "node_modules" / "pkg").mkdir(parents=True)
    (context / "logs").mkdir()
    (context / "Dockerfile").write_text("FROM scratch\nCOPY . /\n")
    (context / "app.py").write_text("print('v1')\n")
    (context / "notes.log").write_text("local notes\n")
    (context / "keep.log").write_text("shipped\n")
    (context / "node_modules" / "pkg" / "index.js").write_text("1\n")
    (context / "logs" / "today.txt").write_text("x\n")
    (context / ".dockerignore").write_text("node_modules\n*.log\n!keep.log\nlogs/\n")
    before = context_dir_hash(context)
    # Dockerfile, app.py, keep.log and the ignore file itself: what a build is sent.
    assert before.files == 4

    # An ignored file's change is not part of what was built.
    (context / "notes.log").write_text("changed notes\n")
    (context / "node_modules" / "pkg" / "index.js").write_text("2\n")
    (context / "logs" / "new.txt").write_text("y\n")
    assert context_dir_hash(context) == before

    # An included file's change is.
    (context / "keep.log").write_text("shipped, changed\n")
    after = context_dir_hash(context)
    assert after.dir_hash != before.dir_hash
    (context / "keep.log").write_text("shipped\n")
    assert context_dir_hash(context) == before
    (context / "app.py").write_text("print('v2')\n")
    assert context_dir_hash(context).dir_hash != before.dir_hash
    (context / "app.py").write_text("print('v1')\n")

    # So is the ignore file: it decides what is sent.
    (context / ".dockerignore").write_text("node_modules\n*.log\nlogs/\n")
    changed = context_dir_hash(context)
    assert changed.files == 3
    assert changed.dir_hash != before.dir_hash

    # The reference pipeline, run on exactly what the ignore file lets through.
    (context / ".dockerignore").write_text("node_modules\n*.log\n!keep.log\nlogs/\n")
    copy = tmp_path / "sent"
    copy.mkdir()
    for name in ("Dockerfile", "app.py", "keep.log", ".dockerignore"):
        shutil.copy2(context / name, copy / name)
    reference = subprocess.run(  # noqa: S602 (the documented reference pipeline, fixed text)
        "find . -type f | cut -c3- | LC_ALL=C sort | xargs -r sha256sum | sha256sum | cut -f1 -d' '",
        shell=True,
        cwd=copy,
        check=True,
        capture_output=True,
        env={**os.environ, "LC_ALL": "C"},
    )
    assert context_dir_hash(context).dir_hash == reference.stdout.decode().strip()


def test_provenance_says_dirty_and_what_was_built() -> None:
    source = SourceContext(None, "c" * 40, dirty=True, changed=("app/a.txt",))
    state = context_dir_hash(Path(__file__).parent / "golden")
    inputs = ProvenanceInputs(
        dockerfile="Dockerfile",
        started_on=datetime(2024, 5, 1, tzinfo=UTC),
        finished_on=datetime(2024, 5, 1, tzinfo=UTC),
        context=source,
        build_context=state,
    )
    predicate = slsa_provenance(fixtures.SUBJECTS, inputs, env={}).to_json()["predicate"]
    internal = predicate["buildDefinition"]["internalParameters"]["buildContext"]
    assert internal == {
        "digest": {"dirHash": state.dir_hash},
        "files": 3,
        "git": True,
        "gitCommit": "c" * 40,
        "dirty": True,
        "changed": ["app/a.txt"],
        "changedCount": 1,
    }
    dependencies = predicate["buildDefinition"]["resolvedDependencies"]
    assert {"name": "build-context", "digest": {"dirHash": state.dir_hash}} in dependencies
    assert {"name": "source", "digest": {"gitCommit": "c" * 40}} in dependencies


def test_each_engine_names_its_own_build_type() -> None:
    def named(*engines: str) -> str:
        inputs = dataclasses.replace(fixtures.PROVENANCE, engine_names=engines)
        return str(
            slsa_provenance(fixtures.SUBJECTS, inputs, env={}).to_json()["predicate"]["buildDefinition"][
                "buildType"
            ]
        )

    assert named("buildah", "buildah") == "https://repro.dev/buildtypes/buildah/v1"
    assert named("docker", "docker") == "https://repro.dev/buildtypes/docker/v1"
    # Two engines that agreed: both are named, in the order they built.
    assert named("buildah", "docker") == "https://repro.dev/buildtypes/buildah+docker/v1"
    for bad in ((), ("Docker",), ("a/b",)):
        with pytest.raises(ValueError, match="engine names"):
            build_type(bad)


def test_base_images_are_package_urls() -> None:
    digest = Digest("sha256", "4" * 64)
    hub = BaseImage(f"debian:bookworm@{digest}", digest)
    assert hub.uri == f"pkg:docker/library/debian@sha256%3A{'4' * 64}?repository_url=docker.io"
    local = BaseImage(f"localhost:5000/team/base/busybox:1@{digest}", digest)
    assert local.uri == f"pkg:docker/team/base/busybox@sha256%3A{'4' * 64}?repository_url=localhost:5000"


# -- repro release: the source stage ------------------------------------------------------------


def _release(repo: Path, tmp_path: Path, **options: object) -> ReleaseError:
    opts = ReleaseOptions(BuildSpec(repo / "app"), image="app:1.0", workdir=repo / "app", **options)  # type: ignore[arg-type]
    with pytest.raises(ReleaseError) as caught:
        release(opts, config=Config(), env={"REPRO_KEY_PASSWORD": "pw"})
    return caught.value


def test_a_dirty_work_tree_is_refused_before_anything_runs(repo: Path, tmp_path: Path) -> None:
    (repo / "app" / "src" / "main.py").write_text("print('not what was committed')\n")
    error = _release(repo, tmp_path)
    assert error.exit_code == EXIT_RELEASE_SOURCE
    assert "release stopped at the source stage" in str(error)
    assert "differs from commit" in str(error)
    assert "app/src/main.py" in str(error)
    assert "--allow-dirty" in error.hint
    report = error.report
    assert isinstance(report, ReleaseReport)
    assert [(s.name, s.status) for s in report.stages] == [("source", "failed")]
    # With --allow-dirty it goes on (to the pin stage, which this Dockerfile fails), and says so.
    error = _release(repo, tmp_path, allow_dirty=True)
    assert error.exit_code == EXIT_RELEASE_PIN
    report = error.report
    assert isinstance(report, ReleaseReport)
    source = report.stages[0]
    assert (source.name, source.status) == ("source", "passed")
    assert source.details["dirty"] is True
    assert any("dirty work tree" in note for note in report.notes)
    assert json.dumps(report.to_json())


def test_repros_own_outputs_in_the_context_are_not_dirt(repo: Path, tmp_path: Path) -> None:
    """The local key (.repro/) and the default layout (dist/) land in the working directory."""
    error = _release(repo, tmp_path)  # makes .repro/ in the context
    assert error.exit_code == EXIT_RELEASE_PIN
    (repo / "app" / "dist").mkdir()
    (repo / "app" / "dist" / "index.json").write_text("{}")
    assert _release(repo, tmp_path).exit_code == EXIT_RELEASE_PIN
