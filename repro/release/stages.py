"""Running the stages of a release: each timed, recorded in the report, its failure a ReleaseError.

    runner = StageRunner(report, notify)
    with runner.stage("sbom") as st:
        st.step("reading the layers")
        st.summary = "96 component(s)"

An :class:`~repro.errors.Error` or :class:`OSError` raised inside a stage becomes the
:class:`~repro.errors.ReleaseError` of that stage (its exit code names the stage), with
the report attached; nothing after it runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from repro.errors import Error, ReleaseError
from repro.release.progress import StageEvent, StageProgress
from repro.release.report import ReleaseReport, StageRecord


class Stage:
    """The stage being run: what it will record, and a way to report steps."""

    def __init__(self, name: str, notify: StageProgress, started: float) -> None:
        self.name = name
        self.summary = ""
        self.details: dict[str, Any] = {}
        self._notify = notify
        self._started = started

    def step(self, text: str) -> None:
        self._notify(StageEvent("step", self.name, text, time.monotonic() - self._started))


class StageRunner:
    """Runs stages: times them, records them, and turns a failure into a ReleaseError."""

    def __init__(self, report: ReleaseReport, notify: StageProgress) -> None:
        self.report = report
        self.notify = notify

    @contextmanager
    def stage(self, name: str) -> Iterator[Stage]:
        started = time.monotonic()
        current = Stage(name, self.notify, started)
        self.notify(StageEvent("start", name, "", 0.0))
        try:
            yield current
        except (Error, OSError) as exc:
            raise self.fail(current, started, exc) from exc
        seconds = time.monotonic() - started
        self.report.stages.append(StageRecord(name, "passed", seconds, current.summary, current.details))
        self.notify(StageEvent("done", name, current.summary, seconds))

    def fail(self, current: Stage, started: float, exc: BaseException) -> ReleaseError:
        seconds = time.monotonic() - started
        error = ReleaseError.at(current.name, exc)
        summary = current.summary or (exc.message if isinstance(exc, Error) else str(exc))
        self.report.stages.append(StageRecord(current.name, "failed", seconds, summary, current.details))
        self.report.error = {
            "stage": current.name,
            "message": error.message,
            "hint": error.hint,
            "exit_code": error.exit_code,
            "cause": type(exc).__name__,
        }
        error.report = self.report
        self.notify(StageEvent("failed", current.name, summary, seconds))
        return error
