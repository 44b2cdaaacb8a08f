"""Start-up: the commands a developer waits for import only what they use.

``repro pin --check`` runs in pre-commit hooks and ``repro --version`` in scripts; their
time is mostly imports, so the heavy libraries (Sigstore, CycloneDX, Rego, HTTP, rich)
and the other commands' modules must stay out of them. The parser of a command is built
only when that command runs (repro.cli._commands); every command's ``--help`` is checked
to be what the complete parser prints.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from repro.cli import _command_parsers, build_parser, main
from repro.errors import EXIT_CONFIG, EXIT_USAGE, UsageError

#: Packages no start-up path may import: each costs tens of milliseconds or more.
HEAVY = (
    "sigstore",
    "cyclonedx",
    "regopy",
    "requests",
    "urllib3",
    "rich",
    "cryptography",
    "jsonschema",
    "shtab",
    "repro.registry",
    "repro.build.pipeline",
    "repro.sbom",
    "repro.attest",
    "repro.policy",
    "repro.release",
    "repro.reproduce",
)

PINNED = "FROM registry.example/busybox:1.36@sha256:" + "a" * 64 + "\nRUN true\n"


def _imported(tmp_path: Path, *argv: str) -> set[str]:
    """The modules ``python -m repro ARGV`` imports, from ``-X importtime``."""
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop("REPRO_CONFIG", None)
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "repro", *argv],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    modules = {
        line.rpartition("|")[2].strip()
        for line in completed.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "repro.cli" in modules  # the report was read: the test is not vacuous
    return modules


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_pin_check_imports_no_heavy_module(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(PINNED)
    modules = _imported(tmp_path, "pin", "--check", str(dockerfile))
    assert "repro.pin.service" in modules  # it did check
    assert _heavy(modules) == []
    assert not any(m.startswith("repro.build") for m in modules)


def test_version_imports_no_command_module(tmp_path: Path) -> None:
    modules = _imported(tmp_path, "--version")
    assert _heavy(modules) == []
    command_modules = ("repro.pin", "repro.build", "repro.dockerfile", "repro.config", "repro.images")
    assert sorted(m for m in modules if any(m == c or m.startswith(c + ".") for c in command_modules)) == []


def _leaf_commands() -> list[list[str]]:
    return [parser.prog.split()[1:] for parser in _command_parsers(build_parser())]


def test_every_command_is_in_the_table() -> None:
    assert len(_leaf_commands()) >= 15
    top_level = {words[0] for words in _leaf_commands()}
    listed = {parser.prog.split()[1] for parser in _command_parsers(build_parser(""))}
    assert top_level == listed


@pytest.mark.parametrize("words", _leaf_commands(), ids=" ".join)
def test_every_command_help_is_the_complete_parsers(
    words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    complete = {p.prog: p for p in _command_parsers(build_parser())}[" ".join(["repro", *words])]
    assert main([*words, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: repro {' '.join(words)}")
    assert out == complete.format_help()


def test_top_level_help_is_the_complete_parsers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert capsys.readouterr().out == build_parser().format_help()


def test_a_misread_command_line_is_parsed_again_completely(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # "--conf" (argparse's abbreviation of --config) takes a value that the start-up guess
    # cannot know about: the guess is wrong, and the complete parser decides.
    missing = str(tmp_path / "missing.toml")
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(PINNED)
    for config_flag in ("--config", "--conf"):
        assert main([config_flag, missing, "pin", "--check", str(dockerfile)]) == EXIT_CONFIG
        assert "configuration file not found" in capsys.readouterr().err


def test_a_placeholder_is_never_what_runs(capsys: pytest.CaptureFixture[str]) -> None:
    partial = build_parser("pin")
    assert callable(partial.parse_args(["pin", "--check", "x"]).handler)
    # The other commands are placeholders: no options, no handler ...
    assert getattr(partial.parse_args(["resolve"]), "handler", None) is None
    with pytest.raises(UsageError):
        partial.parse_args(["resolve", "busybox"])
    # ... which main() never runs: it parses with the complete parser instead.
    assert main(["resolve"]) == EXIT_USAGE
    assert "the following arguments are required: REF" in capsys.readouterr().err
