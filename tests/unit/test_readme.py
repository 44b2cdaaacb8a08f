"""The README's help blocks are the real --help output of each command."""

from __future__ import annotations

import re

import pytest

from repro.cli import main
from tests.conftest import repo_root

HELP_BLOCK = re.compile(r"```text\n\$ repro ((?:[a-z-]+ )*)--help\n(.*?)```", re.DOTALL)


def readme_help_blocks() -> list[tuple[str, str]]:
    text = (repo_root() / "README.md").read_text()
    return [(command.strip(), body) for command, body in HELP_BLOCK.findall(text)]


def test_readme_documents_help_for_commands() -> None:
    assert readme_help_blocks(), "the README shows at least one command's --help"


@pytest.mark.parametrize(("command", "documented"), readme_help_blocks())
def test_readme_help_matches_the_cli(
    command: str, documented: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    assert main([*command.split(), "--help"]) == 0
    assert capsys.readouterr().out == documented
