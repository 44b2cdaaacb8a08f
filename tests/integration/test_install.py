"""The README's Install section, followed as written in a clean virtual environment.

The venv block is run as is (with HOME pointing at a temporary directory, from this
checkout); repro itself comes from the local checkout, its dependencies from the
configured package index. Then the installed ``repro`` answers ``--version`` and
``doctor``."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from repro import __version__
from tests.conftest import repo_root


def install_blocks() -> list[str]:
    text = (repo_root() / "README.md").read_text()
    section = text[text.index("## Install\n") : text.index("\n## ", text.index("## Install\n") + 1)]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.S)


def test_the_readme_no_longer_installs_into_the_system_python() -> None:
    blocks = install_blocks()
    assert not any("python3 -m pip install" in block for block in blocks)
    assert any("pipx install ." in block for block in blocks)


@pytest.mark.slow
def test_the_venv_install_works_as_written(tmp_path: Path) -> None:
    (venv_block,) = [block for block in install_blocks() if "python3 -m venv" in block]
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("VIRTUAL_ENV", None)
    # pip's cache stays where it is (outside HOME), so a second run does not download again.
    env.setdefault("PIP_CACHE_DIR", str(Path(os.environ.get("HOME", "/root")) / ".cache" / "pip"))
    subprocess.run(
        ["bash", "-euo", "pipefail", "-c", venv_block],
        cwd=repo_root(), env=env, check=True, capture_output=True, timeout=1200,
    )  # fmt: skip
    repro = home / ".local" / "bin" / "repro"
    version = subprocess.run([str(repro), "--version"], env=env, capture_output=True, text=True, check=True)
    assert version.stdout.strip() == f"repro {__version__}"
    doctor = subprocess.run(
        [str(repro), "doctor", "--offline", "--json", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert doctor.returncode in (0, 1), doctor.stderr
    assert {check["name"] for check in json.loads(doctor.stdout)["checks"]} >= {"configuration", "buildah"}
