"""The composite action (action.yml) run the way a runner runs it: each step's script in
bash with its ``env`` (the ``INPUT_*`` values filled in from the inputs and their
defaults), with ``GITHUB_OUTPUT``, ``GITHUB_STEP_SUMMARY``, ``GITHUB_ENV`` and
``GITHUB_PATH`` files; the action's outputs read back from the step outputs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import repo_root

ACTION = repo_root() / "action.yml"
EXPRESSION = re.compile(r"\$\{\{\s*([\w.-]+)\s*\}\}")
DIGEST = "sha256:" + "a" * 64


def load() -> dict[str, Any]:
    data = yaml.safe_load(ACTION.read_text())
    assert isinstance(data, dict)
    return data


def read_outputs(path: Path) -> dict[str, str]:
    """``name=value`` lines and ``name<<DELIM`` blocks, as the runner reads them."""
    values: dict[str, str] = {}
    lines = iter(path.read_text().splitlines()) if path.exists() else iter(())
    for line in lines:
        if "<<" in line and "=" not in line.split("<<", 1)[0]:
            name, delimiter = line.split("<<", 1)
            block = []
            for inner in lines:
                if inner == delimiter:
                    break
                block.append(inner)
            values[name] = "\n".join(block)
        elif "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
    return values


class Run:
    def __init__(self, code: int, outputs: dict[str, str], summary: str, stdout: str) -> None:
        self.code, self.outputs, self.summary, self.stdout = code, outputs, summary, stdout


def run_action(inputs: dict[str, str], workdir: Path) -> Run:
    action = load()
    values = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    values.update(inputs)
    temp = workdir / "runner-temp"
    temp.mkdir()
    files = {
        name: workdir / name.lower()
        for name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ENV", "GITHUB_PATH")
    }
    context = {"github.action_path": str(repo_root()), "runner.temp": str(temp)}
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "REPRO_"))},
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",  # repro is here
        "RUNNER_TEMP": str(temp),
        "GITHUB_WORKSPACE": str(workdir),
    }

    def expand(text: str, step_outputs: dict[str, dict[str, str]]) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("inputs."):
                return values[name.removeprefix("inputs.")]
            if name.startswith("steps."):
                _, step, _, output = name.split(".", 3)
                return step_outputs.get(step, {}).get(output, "")
            return context[name]

        return EXPRESSION.sub(value, text)

    step_outputs: dict[str, dict[str, str]] = {}
    stdout = ""
    code = 0
    for step in action["runs"]["steps"]:
        assert step["shell"] == "bash"
        for path in files.values():
            if path.name == "github_output":
                path.write_text("")
        step_env = {**env, **{k.upper(): str(p) for k, p in files.items()}}
        step_env.update({key: expand(str(text), step_outputs) for key, text in step.get("env", {}).items()})
        assert "${{" not in step["run"], "scripts read inputs from env, never from expressions"
        # GitHub runs a bash step as: bash --noprofile --norc -eo pipefail {0}
        script = workdir / "step.sh"
        script.write_text(step["run"])
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            env=step_env, cwd=workdir, capture_output=True, text=True, check=False,
        )  # fmt: skip
        stdout += result.stdout
        if "id" in step:
            step_outputs[step["id"]] = read_outputs(files["GITHUB_OUTPUT"])
        for line in files["GITHUB_PATH"].read_text().splitlines() if files["GITHUB_PATH"].exists() else ():
            env["PATH"] = f"{line}{os.pathsep}{env['PATH']}"
        env.update(read_outputs(files["GITHUB_ENV"]))
        if result.returncode != 0:
            code = result.returncode
            stdout += result.stderr
            break
    outputs = {name: expand(str(spec["value"]), step_outputs) for name, spec in action["outputs"].items()}
    summary = files["GITHUB_STEP_SUMMARY"].read_text() if files["GITHUB_STEP_SUMMARY"].exists() else ""
    return Run(code, outputs, summary, stdout)


def test_action_declares_the_inputs_and_outputs_workflows_use() -> None:
    action = load()
    assert action["runs"]["using"] == "composite"
    assert {"command", "image", "push", "sign", "signing-key", "policy", "path"} <= set(action["inputs"])
    assert {"digest", "pinned", "sbom", "sarif"} <= set(action["outputs"])


def test_pin_check_passes_and_writes_sarif_and_summary(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "Dockerfile").write_text(f"FROM registry.example/base:1@{DIGEST}\nRUN true\n")
    run = run_action({"command": "pin-check", "path": str(project), "install": "false"}, tmp_path)
    assert run.code == 0, run.stdout
    assert "Every image reference is pinned to a digest." in run.summary
    sarif = Path(run.outputs["sarif"])
    assert sarif.is_file()
    import json

    assert json.loads(sarif.read_text())["version"] == "2.1.0"


def test_pin_check_fails_with_annotations_for_an_unpinned_image(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "Dockerfile").write_text("FROM registry.example/base:1\n")
    run = run_action({"command": "pin-check", "path": str(project), "install": "false"}, tmp_path)
    assert run.code == 1
    assert "::error file=" in run.stdout
    assert "Dockerfile" in run.stdout
    assert "Unpinned image references (exit 1)" in run.summary
    assert Path(run.outputs["sarif"]).is_file()  # findings are still reported


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"command": "release"}, "release needs the image input"),
        ({"command": "bogus"}, "unknown command 'bogus'"),
        ({"command": "release", "image": "x:1", "sign": "key"}, "sign: key needs the signing-key"),
    ],
)
def test_bad_inputs_fail_with_an_error_annotation(
    tmp_path: Path, inputs: dict[str, str], message: str
) -> None:
    run = run_action({**inputs, "install": "false"}, tmp_path)
    assert run.code != 0
    assert f"::error::{message}" in run.stdout


def test_plan_sets_the_matrix_output(tmp_path: Path) -> None:
    import json

    project = tmp_path / "project"
    for name in ("api", "web"):
        (project / name).mkdir(parents=True)
        (project / name / "Dockerfile").write_text(f"FROM registry.example/base:1@{DIGEST}\n")
    inputs = {"command": "plan", "path": str(project), "image": "ghcr.io/acme/{name}:1.0", "install": "false"}
    run = run_action(inputs, tmp_path)
    assert run.code == 0, run.stdout
    matrix = json.loads(run.outputs["matrix"])
    assert [
        (e["image"], Path(e["dockerfile"]).relative_to(project).as_posix()) for e in matrix["include"]
    ] == [
        ("ghcr.io/acme/api:1.0", "api/Dockerfile"),
        ("ghcr.io/acme/web:1.0", "web/Dockerfile"),
    ]
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "runner-temp").rename(tmp_path / "runner-temp-1")
    assert run_action({"command": "plan", "path": str(empty), "install": "false"}, tmp_path).code == 9


def test_release_passes_the_dockerfile_input(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    inputs = {"command": "release", "path": str(project), "image": "app:1", "install": "false"}
    run = run_action({**inputs, "dockerfile": str(project / "Dockerfile.missing")}, tmp_path)
    assert run.code != 0
    assert "Dockerfile.missing" in run.stdout
