"""A non-editable install finds the default policies (they live outside the package)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.conftest import repo_root


@pytest.mark.slow
def test_an_installed_wheel_finds_the_default_policies(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    root = repo_root()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(root / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(root / "repro", source / "repro", ignore=ignore)
    shutil.copytree(root / "policy", source / "policy", ignore=ignore)
    # The build backend comes from the index (build isolation), as for any user.
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(source), "-w", str(tmp_path / "dist")],
        check=True,
        cwd=tmp_path,
    )
    wheel = next((tmp_path / "dist").glob("repro-*.whl"))
    target = tmp_path / "venv"
    venv.create(target, with_pip=True)
    python = target / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True)
    found = subprocess.run(
        [python, "-c", "from repro.policy.engine import default_policy_dir as d; print(d())"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    ).stdout.strip()
    policy_dir = Path(found)
    assert policy_dir.is_relative_to(target)
    assert sorted(p.name for p in policy_dir.glob("*.rego")) == sorted(
        p.name for p in (root / "policy").glob("*.rego")
    )
