"""The GitHub workflows are valid YAML, least-privilege, and pin every action by commit."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import repo_root

WORKFLOWS = sorted((repo_root() / ".github" / "workflows").glob("*.yml"))
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_by_commit(path: Path) -> None:
    uses = [step["uses"] for step in steps(load(path)) if "uses" in step]
    assert uses, "every workflow here checks out the code"
    for action in uses:
        if action == "./":
            continue  # repro's own action, from the same commit as the workflow
        assert PINNED.match(action), f"{path.name}: {action} is not pinned to a commit SHA"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_default_permissions_are_read_only(path: Path) -> None:
    assert load(path)["permissions"] == {"contents": "read"}


def test_only_the_release_gate_may_mint_an_oidc_token() -> None:
    for path in WORKFLOWS:
        for name, job in load(path)["jobs"].items():
            granted = job.get("permissions", {}).get("id-token")
            if path.name == "release-gate.yml":
                assert granted == "write", name
            else:
                assert granted is None, f"{path.name}:{name} does not sign anything"


def test_the_matrix_example_releases_what_repro_plan_lists(tmp_path: Path) -> None:
    """examples/workflows/release-matrix.yml: the plan job's matrix keys are the ones
    `repro plan` writes, and its inputs are ones the action declares."""
    from repro.pin.plan import plan_releases

    workflow = load(repo_root() / "examples" / "workflows" / "release-matrix.yml")
    assert workflow["permissions"] == {"contents": "read"}
    action_inputs = set(yaml.safe_load((repo_root() / "action.yml").read_text())["inputs"])
    for step in steps(workflow):
        if step.get("uses") == "./":
            assert set(step["with"]) <= action_inputs
        elif "uses" in step:
            assert PINNED.match(step["uses"]), step["uses"]
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile").write_text("FROM busybox\n")
    keys = set(plan_releases([tmp_path]).matrix()["include"][0])
    release = workflow["jobs"]["release"]
    used = set(re.findall(r"matrix\.(\w+)", yaml.safe_dump(release)))
    assert used
    assert used <= keys
    assert "fromJSON(needs.plan.outputs.matrix)" in release["strategy"]["matrix"]
