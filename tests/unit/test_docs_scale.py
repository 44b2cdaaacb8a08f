"""docs/scale.md stays true: the flags, settings and files it names exist as it says."""

from __future__ import annotations

import re

import pytest
import yaml

from repro.cli import main
from repro.config import DEFAULT_MAX_CONCURRENCY
from tests.conftest import repo_root

DOC = repo_root() / "docs" / "scale.md"


def test_the_engine_flags_it_names_are_release_flags(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["release", "--help"]) == 0
    release_help = capsys.readouterr().out
    spans = re.findall(r"`([^`\n]+)`", DOC.read_text())
    named = {flag for span in spans for flag in re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", span)}
    assert {"--engine", "--docker-host", "--builder"} <= named
    # Flags of other programs and commands it quotes: docker build, buildx create, pin, plan.
    others = {"--pull", "--no-cache", "--driver", "--check", "--format", "--allow-empty"}
    for flag in named - others:
        assert flag in release_help, flag


def test_the_default_concurrency_it_quotes_is_the_real_one() -> None:
    assert f"(default {DEFAULT_MAX_CONCURRENCY};" in DOC.read_text()


def test_its_links_exist_and_its_workflow_inputs_are_the_actions() -> None:
    text = DOC.read_text()
    for link in re.findall(r"\]\((\.\./[^)#]+)\)", text):
        assert (DOC.parent / link).resolve().is_file(), link
    inputs = set(yaml.safe_load((repo_root() / "action.yml").read_text())["inputs"])
    snippet = re.search(r"```yaml\n(.*?)```", text, re.DOTALL)
    assert snippet is not None
    for step in [s for job in yaml.safe_load(snippet.group(1))["jobs"].values() for s in job["steps"]]:
        if "with" in step and "repro" in step["uses"]:
            assert set(step["with"]) <= inputs
