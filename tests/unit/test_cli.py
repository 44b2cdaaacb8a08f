from __future__ import annotations

import subprocess
import sys

import pytest

from repro import __version__
from repro.cli import main
from repro.errors import EXIT_CONFIG, EXIT_USAGE


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"repro {__version__}"


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "resolve" in out


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "repro: error: no command given" in err


def test_bad_arguments_exit_with_the_usage_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["resolve"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "the following arguments are required: REF" in err
    assert "hint: run 'repro --help'" in err


def test_invalid_reference_is_one_line_and_a_hint(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["resolve", "Not/Valid"]) == EXIT_USAGE
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("repro: error: ")
    assert "Not/Valid" in err[0]
    assert err[1].startswith("hint: ")
    assert len(err) == 2, "no traceback without -v"


def test_traceback_only_with_verbose(capsys: pytest.CaptureFixture[str], tmp_path: object) -> None:
    assert main(["-v", "resolve", "Not/Valid"]) == EXIT_USAGE
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_config_errors_use_the_config_exit_code(
    capsys: pytest.CaptureFixture[str], tmp_path: pytest.TempPathFactory
) -> None:
    assert main(["--config", "/nonexistent/repro.toml", "resolve", "busybox"]) == EXIT_CONFIG
    assert "configuration file not found" in capsys.readouterr().err


def test_python_dash_m_runs_the_same_cli() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "repro", "--version"], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0
    assert completed.stdout.strip() == f"repro {__version__}"
