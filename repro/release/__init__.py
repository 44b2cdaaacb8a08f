"""``repro release``: pin check, build twice and verify, SBOM, policy gate, sign, push,
and the consumer's check of what was pushed — fail-closed, one report.

    >>> from repro.release import ReleaseOptions, release          # doctest: +SKIP
    >>> report = release(ReleaseOptions(BuildSpec(Path(".")), image="registry.example/app:1.0",
    ...                                 push="registry.example/app:1.0"), config=config)

:mod:`~repro.release.pipeline` runs the stages (:mod:`~repro.release.stages` times and
records each), :mod:`~repro.release.publish` pushes, checks and tags at the destination,
:mod:`~repro.release.report` renders the Markdown summary and the JSON report,
:mod:`~repro.release.progress` shows progress.
"""

from __future__ import annotations

from repro.release.pipeline import (
    DEFAULT_DIST,
    KEY_DIR,
    Destination,
    LocalKey,
    ReleaseOptions,
    destination_for,
    local_key,
    release,
)
from repro.release.progress import ConsoleProgress, StageEvent, StageProgress
from repro.release.report import STAGES, ReleaseReport, StageRecord, append_step_summary, write_json_report

__all__ = [
    "DEFAULT_DIST",
    "KEY_DIR",
    "STAGES",
    "ConsoleProgress",
    "Destination",
    "LocalKey",
    "ReleaseOptions",
    "ReleaseReport",
    "StageEvent",
    "StageProgress",
    "StageRecord",
    "append_step_summary",
    "destination_for",
    "local_key",
    "release",
    "write_json_report",
]
