"""``repro plan``: the release matrix of the Dockerfiles under a path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from repro.cli import main
from repro.errors import (
    EXIT_NOTHING_CHECKED,
    EXIT_OK,
    EXIT_USAGE,
    DockerfileError,
    NothingCheckedError,
    UsageError,
)
from repro.pin.plan import MAX_MATRIX_JOBS, plan_releases
from repro.pin.scan import scan_paths


def tree(root: Path, *files: str) -> Path:
    for rel in files:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("FROM busybox:1.36@sha256:" + "a" * 64 + "\n")
    return root


@pytest.fixture
def monorepo(tmp_path: Path) -> Path:
    return tree(
        tmp_path / "mono",
        "Dockerfile",
        "services/api/Dockerfile",
        "services/web/Dockerfile",
        "services/web/Dockerfile.debug",
        "tools/Lint Tool/lint.Dockerfile",
        "tools/cli/Containerfile",
        "node_modules/dep/Dockerfile",  # skipped, as repro pin skips it
        ".git/Dockerfile",
        "docs/Dockerfile.md",  # passed over: documentation, not a Dockerfile
    )


def test_one_release_per_dockerfile_pin_would_see(monorepo: Path) -> None:
    plan = plan_releases([monorepo], pattern="ghcr.io/acme/{name}:1.0")
    assert [Path(r.dockerfile) for r in plan.releases] == [f.path for f in scan_paths([monorepo]).files]
    assert [(r.name, r.image) for r in plan.releases] == [
        ("mono", "ghcr.io/acme/mono:1.0"),
        ("api", "ghcr.io/acme/api:1.0"),
        ("web", "ghcr.io/acme/web:1.0"),
        ("web-debug", "ghcr.io/acme/web-debug:1.0"),
        ("lint-tool-lint", "ghcr.io/acme/lint-tool-lint:1.0"),  # "Lint Tool" sorts before "cli"
        ("cli", "ghcr.io/acme/cli:1.0"),
    ]
    for release in plan.releases:
        assert release.context == Path(release.dockerfile).parent.as_posix()
    assert any(path.endswith("Dockerfile.md") for path, _ in plan.passed_over)


def test_path_placeholder_keeps_the_directories(monorepo: Path) -> None:
    plan = plan_releases([monorepo], pattern="registry.example:5000/{path}")
    assert [r.image for r in plan.releases] == [
        "registry.example:5000/mono",
        "registry.example:5000/services/api",
        "registry.example:5000/services/web",
        "registry.example:5000/services/web-debug",
        "registry.example:5000/tools/lint-tool-lint",
        "registry.example:5000/tools/cli",
    ]


def test_order_and_bytes_are_stable(monorepo: Path) -> None:
    first = json.dumps(plan_releases([monorepo]).matrix(), sort_keys=True)
    (monorepo / "services" / "aaa").mkdir()  # an empty directory changes nothing
    assert json.dumps(plan_releases([monorepo]).matrix(), sort_keys=True) == first


def test_relative_paths_stay_relative(monorepo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(monorepo)
    plan = plan_releases(["."])
    assert plan.releases[0].dockerfile == "Dockerfile"
    assert plan.releases[0].context == "."
    assert plan.releases[0].name == "mono"  # "." is named by the directory it is
    assert plan.releases[1].dockerfile == "services/api/Dockerfile"
    assert plan.releases[1].context == "services/api"


def test_two_dockerfiles_as_one_image_are_refused(tmp_path: Path) -> None:
    tree(tmp_path, "a/api/Dockerfile", "b/api/Dockerfile")
    with pytest.raises(
        UsageError, match=r"a/api/Dockerfile and .*b/api/Dockerfile would both be released as x/api"
    ):
        plan_releases([tmp_path], pattern="x/{name}")
    assert len(plan_releases([tmp_path], pattern="x/{path}").releases) == 2


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("ghcr.io/acme/{nmae}:1", "unknown placeholder {nmae}"),
        ("ghcr.io/acme/{name!r}", "unknown placeholder {name}"),
        ("ghcr.io/acme/{name:>9}", "unknown placeholder {name}"),
        ("ghcr.io/acme/{name", "expected '}'"),
        ("ghcr.io/acme/{name}:bad tag", "not an image name"),
        ("ghcr.io/acme/{name}@sha256:" + "b" * 64, "a digest is what each release produces"),
    ],
)
def test_bad_patterns_are_usage_errors(tmp_path: Path, pattern: str, message: str) -> None:
    tree(tmp_path, "app/Dockerfile")
    with pytest.raises(UsageError, match=message.replace("{", r"\{").replace("(", r"\(")):
        plan_releases([tmp_path], pattern=pattern)


def test_a_directory_with_no_usable_name_is_refused(tmp_path: Path) -> None:
    tree(tmp_path, "---/Dockerfile")
    with pytest.raises(UsageError, match="gives no usable image name"):
        plan_releases([tmp_path])
    assert plan_releases([tmp_path], pattern="ghcr.io/acme/fixed").releases[0].image == "ghcr.io/acme/fixed"


def test_nothing_found_fails_unless_allowed(tmp_path: Path) -> None:
    tree(tmp_path, "node_modules/x/Dockerfile")
    (tmp_path / "dockerfile").write_text("FROM busybox\n")
    with pytest.raises(NothingCheckedError, match=r"nothing to release\n.*dockerfile: skipped"):
        plan_releases([tmp_path])
    assert plan_releases([tmp_path], allow_empty=True).matrix() == {"include": []}


def test_a_dockerfile_pin_cannot_read_fails_the_plan(tmp_path: Path) -> None:
    tree(tmp_path, "ok/Dockerfile")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "Dockerfile").write_text("FROM busybox AS\n")
    with pytest.raises(DockerfileError, match=r"cannot plan a release for .*bad/Dockerfile:1: "):
        plan_releases([tmp_path])
    (tmp_path / "bad" / "Dockerfile").write_text("# a template, no FROM at all\n")
    assert [r.name for r in plan_releases([tmp_path]).releases] == ["ok"]


def test_more_than_one_matrix_holds_is_refused(tmp_path: Path) -> None:
    tree(tmp_path, *(f"s{i:03}/Dockerfile" for i in range(MAX_MATRIX_JOBS + 1)))
    with pytest.raises(UsageError, match=f"at most {MAX_MATRIX_JOBS} jobs"):
        plan_releases([tmp_path])


# --- the command line ---------------------------------------------------------------


def test_cli_prints_the_matrix_as_json(
    monorepo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(monorepo)
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    assert main(["plan", "services", "--image", "ghcr.io/acme/{name}:2.0"]) == EXIT_OK
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {
        "include": [
            {"name": "api", "dockerfile": "services/api/Dockerfile", "context": "services/api",
             "image": "ghcr.io/acme/api:2.0"},
            {"name": "web", "dockerfile": "services/web/Dockerfile", "context": "services/web",
             "image": "ghcr.io/acme/web:2.0"},
            {"name": "web-debug", "dockerfile": "services/web/Dockerfile.debug", "context": "services/web",
             "image": "ghcr.io/acme/web-debug:2.0"},
        ]
    }  # fmt: skip
    assert "3 image(s) to release" in captured.err


def test_cli_github_format_appends_to_github_output(
    monorepo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "github_output"
    output.write_text("earlier=1\n")
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    assert main(["plan", str(monorepo / "services"), "--format", "github"]) == EXIT_OK
    assert capsys.readouterr().out == ""
    earlier, line = output.read_text().splitlines()
    assert earlier == "earlier=1"
    key, _, value = line.partition("=")
    assert key == "matrix"
    assert [entry["image"] for entry in json.loads(value)["include"]] == ["api", "web", "web-debug"]

    monkeypatch.delenv("GITHUB_OUTPUT")
    assert main(["plan", str(monorepo / "services"), "--format", "github"]) == EXIT_OK
    assert capsys.readouterr().out == line + "\n"


def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", str(tmp_path)]) == EXIT_NOTHING_CHECKED
    assert "pass --allow-empty" in capsys.readouterr().err
    assert main(["plan", str(tmp_path), "--allow-empty"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out) == {"include": []}
    assert main(["plan", str(tmp_path / "missing")]) == EXIT_USAGE
    assert main(["plan", str(tmp_path), "--image", "{nope}"]) == EXIT_USAGE
    assert main(["plan", str(tmp_path), "--json", "--format", "github"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "Traceback" not in err
