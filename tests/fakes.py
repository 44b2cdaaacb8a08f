"""The fakes unit tests share: one process runner that plays an external program.

Engines are faked in :mod:`tests.unit.build.fakes` (``FakeEngine`` writes a real image
and runs nothing). Nothing here stands in for a registry, buildah or another program in
an integration test: those run for real.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from repro.errors import ProcessError
from repro.process import LineSink


@dataclass(frozen=True)
class Call:
    """One command the runner was asked to run."""

    argv: list[str]
    env: dict[str, str] | None
    input: bytes | None = None
    timeout: float | None = None
    check: bool = True


@dataclass
class FakeRunner:
    """A :data:`~repro.process.Runner` (``run``/``__call__``) and streaming runner (``stream``).

    ``run`` answers with ``stdout`` (or ``answer(argv)`` when given) and ``returncode``,
    or raises ``error``; ``stream`` feeds ``lines`` to ``on_line`` and exits with
    ``stream_returncode``. Every call is recorded in ``calls``, in order.
    """

    stdout: bytes = b""
    returncode: int = 0
    error: ProcessError | None = None
    answer: Callable[[list[str]], bytes] | None = None
    lines: Sequence[str] = ()
    stream_returncode: int = 0
    calls: list[Call] = field(default_factory=list)

    def __call__(
        self,
        argv: Sequence[str],
        *,
        input: bytes | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[bytes]:
        self.calls.append(Call(list(argv), dict(env) if env is not None else None, input, timeout, check))
        if self.error is not None:
            raise self.error
        stdout = self.answer(list(argv)) if self.answer is not None else self.stdout
        return subprocess.CompletedProcess(list(argv), self.returncode, stdout, b"")

    run = __call__

    def stream(
        self,
        argv: Sequence[str],
        *,
        on_line: LineSink | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[bytes]:
        self.calls.append(Call(list(argv), dict(env or {}), None, timeout, check))
        for line in self.lines:
            if on_line is not None:
                on_line(line)
        output = "".join(f"{line}\n" for line in self.lines).encode()
        return subprocess.CompletedProcess(list(argv), self.stream_returncode, output, output)
