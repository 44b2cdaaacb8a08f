"""SOURCE_DATE_EPOCH for a build: the one time stamp every file and record gets.

Where it comes from, first match winning (https://reproducible-builds.org/specs/source-date-epoch/):

1. ``SOURCE_DATE_EPOCH`` in the environment (a non-negative integer, else a usage error);
2. the commit time of ``HEAD`` of the git repository holding the build context;
3. ``0`` (1970-01-01T00:00:00Z).

    >>> source_date_epoch(Path("."), environ={"SOURCE_DATE_EPOCH": "1704067200"})
    Epoch(value=1704067200, source='environment')
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from repro.errors import ProcessError, UsageError
from repro.process import Runner, run

logger = logging.getLogger(__name__)

ENV_VAR = "SOURCE_DATE_EPOCH"
EpochSource = Literal["environment", "git", "default"]


@dataclass(frozen=True)
class Epoch:
    """The epoch in seconds and where it came from."""

    value: int
    source: EpochSource

    @property
    def rfc3339(self) -> str:
        """``2024-01-01T00:00:00Z``"""
        return datetime.fromtimestamp(self.value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_epoch(text: str, where: str = ENV_VAR) -> int:
    """A SOURCE_DATE_EPOCH value: decimal digits only (the spec refuses anything else)."""
    stripped = text.strip()
    if not stripped.isascii() or not stripped.isdigit():
        raise UsageError(
            f"{where}: expected seconds since 1970 as a non-negative integer, got {text!r}",
            hint="unset SOURCE_DATE_EPOCH or set it to e.g. $(git log -1 --format=%ct)",
        )
    return int(stripped)


def git_commit_time(context: Path, *, runner: Runner = run) -> int | None:
    """The committer time of HEAD of the repository holding ``context``; None if there is none."""
    argv = ["git", "-C", str(context), "log", "-1", "--format=%ct", "HEAD"]
    try:
        completed = runner(argv, timeout=60, check=False)
    except ProcessError as exc:  # git is not installed
        logger.info("no git to read the commit time of %s: %s", context, exc)
        return None
    text = completed.stdout.decode("ascii", "replace").strip()
    if completed.returncode != 0 or not text.isdigit():
        logger.info("%s is not in a git repository with commits; SOURCE_DATE_EPOCH defaults to 0", context)
        return None
    return int(text)


def source_date_epoch(
    context: Path, *, environ: Mapping[str, str] | None = None, runner: Runner = run
) -> Epoch:
    """The epoch for building ``context``: the environment, else git HEAD's time, else 0."""
    env = os.environ if environ is None else environ
    raw = env.get(ENV_VAR)
    if raw is not None and raw != "":
        return Epoch(parse_epoch(raw), "environment")
    commit_time = git_commit_time(context, runner=runner)
    if commit_time is not None:
        return Epoch(commit_time, "git")
    return Epoch(0, "default")
