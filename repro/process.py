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
