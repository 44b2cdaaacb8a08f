"""``repro completion SHELL`` prints a script generated from the real parser; bash runs it."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from repro.cli import main


def script(shell: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["completion", shell]) == 0
    return capsys.readouterr().out


def bash_complete(text: str, words: list[str]) -> list[str]:
    """What bash offers after ``words`` (the last one being completed), with the script loaded."""
    line = " ".join(words)
    program = (
        f"{text}\n"
        f"COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}\n"
        "func=$(complete -p repro | sed -E 's/.*-F ([^ ]+).*/\\1/')\n"
        '"$func" repro "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"\n'
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    result = subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=True)
    return sorted(filter(None, (word.strip() for word in result.stdout.splitlines())))


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completes_commands_and_flags(capsys: pytest.CaptureFixture[str]) -> None:
    text = script("bash", capsys)
    subprocess.run(["bash", "-n"], input=text, text=True, check=True)
    assert bash_complete(text, ["repro", "do"]) == ["doctor"]
    assert "--progress" in bash_complete(text, ["repro", "build", "--pro"])
    assert bash_complete(text, ["repro", "completion", "f"]) == ["fish"]


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_other_shells_get_their_own_script(shell: str, capsys: pytest.CaptureFixture[str]) -> None:
    text = script(shell, capsys)
    assert "doctor" in text
    assert "--progress" in text
    if shutil.which(shell) is not None:
        subprocess.run([shell, "-n"], input=text, text=True, check=True)


def test_unknown_shell_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", "powershell"]) == 64
