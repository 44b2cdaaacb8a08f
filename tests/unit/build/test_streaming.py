"""repro.process.run_streaming, the runner build engines use: lines as they come."""

from __future__ import annotations

import time

import pytest

from repro.errors import ProcessError
from repro.process import run_streaming


def test_lines_of_stdout_and_stderr_arrive_in_order() -> None:
    lines: list[str] = []
    completed = run_streaming(
        ["sh", "-c", "echo one; echo two >&2; printf 'three\\r\\n'; printf 'no newline'"],
        on_line=lines.append,
    )
    assert lines == ["one", "two", "three", "no newline"]
    assert completed.returncode == 0
    assert completed.stdout == b"one\ntwo\nthree\r\nno newline"


def test_failure_raises_with_the_tail_unless_check_is_off() -> None:
    with pytest.raises(ProcessError, match=r"exit code 3:\nlast words"):
        run_streaming(["sh", "-c", "echo last words; exit 3"])
    assert run_streaming(["sh", "-c", "exit 3"], check=False).returncode == 3


def test_timeout_kills_the_program() -> None:
    start = time.monotonic()
    with pytest.raises(ProcessError, match=r"timed out after 0\.5 s"):
        run_streaming(["sleep", "30"], timeout=0.5)
    assert time.monotonic() - start < 10


def test_missing_program() -> None:
    with pytest.raises(ProcessError, match="program not found") as info:
        run_streaming(["repro-no-such-program"])
    assert "install repro-no-such-program" in info.value.hint
