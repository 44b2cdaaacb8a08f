"""Progress of ``repro release`` on stderr: a status line per stage.

On a terminal each stage has one line, rewritten in place as the stage moves on (its
current step and elapsed time) and finished with the stage's result; elsewhere (CI logs,
pipes) every event is a plain line of its own. Nothing is coloured, so ``NO_COLOR`` needs
no special case.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TextIO

from repro.redact import redact_text

__all__ = ["ConsoleProgress", "StageEvent", "StageProgress"]

EventKind = Literal["start", "step", "done", "failed"]


@dataclass(frozen=True)
class StageEvent:
    """A stage started, moved on to a step, finished, or failed; ``elapsed`` since its start."""

    kind: EventKind
    stage: str
    text: str
    elapsed: float


StageProgress = Callable[[StageEvent], None]


class ConsoleProgress:
    """Renders :class:`StageEvent` s on ``out`` (stderr): live on a TTY, plain lines otherwise.

    ``verbose`` also shows every step on a terminal as a line of its own.
    """

    def __init__(self, out: TextIO | None = None, *, live: bool | None = None, verbose: int = 0) -> None:
        self.out = out or sys.stderr
        self.live = self.out.isatty() if live is None else live
        self.verbose = verbose
        self._open = False  # a live status line is on screen, not yet ended

    def __call__(self, event: StageEvent) -> None:
        event = dataclasses.replace(event, text=redact_text(event.text))
        if self.live:
            self._live(event)
        else:
            self._plain(event)

    def _plain(self, event: StageEvent) -> None:
        if event.kind == "start":
            line = f"repro release: {event.stage}: started"
        elif event.kind == "step":
            line = f"repro release: {event.stage}: {event.text}  (+{event.elapsed:.1f} s)"
        else:
            verdict = "passed" if event.kind == "done" else "FAILED"
            line = f"repro release: {event.stage}: {verdict} in {event.elapsed:.1f} s" + (
                f": {event.text}" if event.text else ""
            )
        print(line, file=self.out, flush=True)

    def _live(self, event: StageEvent) -> None:
        width = max(40, shutil.get_terminal_size((100, 24)).columns - 1)
        if event.kind in ("start", "step"):
            if event.kind == "step" and self.verbose:
                self._end_line()
                print(f"    {event.text}"[:width], file=self.out, flush=True)
            status = f"  … {event.stage:<12} {event.elapsed:6.1f} s  {event.text}"
            self.out.write("\r\033[K" + status[:width])
            self.out.flush()
            self._open = True
            return
        mark = "ok" if event.kind == "done" else "FAILED"
        line = f"{mark:>6} {event.stage:<12} {event.elapsed:6.1f} s  {event.text}"
        self.out.write("\r\033[K" + line[:width] + "\n")
        self.out.flush()
        self._open = False

    def _end_line(self) -> None:
        if self._open:
            self.out.write("\n")
            self._open = False
