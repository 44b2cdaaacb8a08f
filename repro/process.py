"""The one way repro runs external programs (buildah, skopeo, git, credential helpers).

:func:`run` raises :class:`~repro.errors.ProcessError` carrying the command, its exit
code and the tail of its stderr. Components that run programs take a ``runner``
parameter of type :data:`Runner` so tests can substitute their own.

    >>> run(["true"]).returncode
    0
"""

from __future__ import annotations

import logging
import shlex
import subprocess
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from repro.errors import ProcessError

logger = logging.getLogger(__name__)

STDERR_TAIL_LINES = 20


class Runner(Protocol):
    def __call__(
        self,
        argv: Sequence[str],
        *,
        input: bytes | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[bytes]: ...


def _tail(data: bytes, lines: int = STDERR_TAIL_LINES) -> str:
    text = data.decode("utf-8", "replace").rstrip()
    return "\n".join(text.splitlines()[-lines:])


def run(
    argv: Sequence[str],
    *,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``argv`` capturing stdout and stderr; raise ProcessError if it fails.

    ``input`` is sent on stdin (and never logged: credential helpers receive secrets
    there).
    """
    command = shlex.join(argv)
    logger.debug("run: %s", command)
    try:
        completed = subprocess.run(
            list(argv),
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            env=None if env is None else dict(env),
            cwd=cwd,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise ProcessError(
            f"{argv[0]}: program not found",
            hint=f"install {argv[0]} or put it on PATH",
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise ProcessError(f"{command}: timed out after {timeout} s") from exc
    if check and completed.returncode != 0:
        tail = _tail(completed.stderr)
        detail = f":\n{tail}" if tail else ""
        raise ProcessError(f"{command}: exit code {completed.returncode}{detail}")
    return completed


class LineSink(Protocol):
    def __call__(self, line: str, /) -> None: ...


class StreamRunner(Protocol):
    def __call__(
        self,
        argv: Sequence[str],
        *,
        on_line: LineSink | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[bytes]: ...


def run_streaming(
    argv: Sequence[str],
    *,
    on_line: LineSink | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``argv`` and hand each line it prints (stdout and stderr merged) to ``on_line``.

    For long-running programs whose progress a user should see (a build engine). The
    merged output is also returned as ``stdout`` (and as ``stderr``, so errors carry its
    tail). Raises ProcessError as :func:`run` does; on timeout the program is killed.
    """
    command = shlex.join(argv)
    logger.debug("run (streaming): %s", command)
    try:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=None if env is None else dict(env),
            cwd=cwd,
        )
    except FileNotFoundError as exc:
        raise ProcessError(
            f"{argv[0]}: program not found",
            hint=f"install {argv[0]} or put it on PATH",
        ) from exc
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        process.kill()

    timer = threading.Timer(timeout, kill) if timeout is not None else None
    output = bytearray()
    try:
        if timer is not None:
            timer.start()
        assert process.stdout is not None  # noqa: S101 (stdout=PIPE above)
        for raw in process.stdout:
            output += raw
            if on_line is not None:
                on_line(raw.decode("utf-8", "replace").rstrip("\r\n"))
        returncode = process.wait()
    except BaseException:
        process.kill()
        process.wait()
        raise
    finally:
        if timer is not None:
            timer.cancel()
        if process.stdout is not None:
            process.stdout.close()
    if timed_out.is_set():
        raise ProcessError(f"{command}: timed out after {timeout} s")
    completed = subprocess.CompletedProcess(list(argv), returncode, bytes(output), bytes(output))
    if check and returncode != 0:
        tail = _tail(completed.stderr)
        detail = f":\n{tail}" if tail else ""
        raise ProcessError(f"{command}: exit code {returncode}{detail}")
    return completed
