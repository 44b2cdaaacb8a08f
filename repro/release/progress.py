"""Progress of ``repro release`` on stderr: a status line per stage.

On a terminal (``--progress tty``) the running stage is redrawn in place with a timer and
its last steps, and each finished stage leaves one line with its result; elsewhere (CI
logs, pipes, ``TERM=dumb``: ``--progress plain``) every event is a plain line of its own
with its time. Drawing and colour are :mod:`repro.terminal`'s (rich, imported lazily).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TextIO

if TYPE_CHECKING:
    from repro.terminal import LiveSteps

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
    """Renders :class:`StageEvent` s on ``out`` (stderr), through :mod:`repro.terminal`.

    ``mode`` is ``--progress``: ``tty`` shows the running stage with a timer and its last
    steps, redrawn in place, and a line per finished stage; ``plain`` one line per event
    with its time; None/``auto`` decides from ``out`` and ``TERM``. ``live`` (True/False)
    is the older spelling of tty/plain. ``verbose`` also prints every step on a terminal.
    Colour follows ``NO_COLOR``/``FORCE_COLOR``/``TERM``/TTY (:func:`repro.terminal.use_colour`).
    """

    def __init__(
        self,
        out: TextIO | None = None,
        *,
        live: bool | None = None,
        verbose: int = 0,
        mode: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        from repro.terminal import make_console, progress_mode

        self.out = out or sys.stderr
        if live is not None and mode is None:
            mode = "tty" if live else "plain"
        self.mode = progress_mode(mode, self.out, environ)
        self.live = self.mode == "tty"
        self.verbose = verbose
        self._console = make_console(self.out, mode=self.mode, environ=environ)
        self._steps: LiveSteps | None = None

    def __call__(self, event: StageEvent) -> None:
        event = dataclasses.replace(event, text=redact_text(event.text))
        if self.live:
            self._live(event)
        else:
            self._plain(event)

    def _print(self, text: str, style: str | None = None) -> None:
        from rich.text import Text

        self._console.print(Text(text, style=style or ""), soft_wrap=True)
        self.out.flush()

    def _plain(self, event: StageEvent) -> None:
        if event.kind == "start":
            self._print(f"repro release: {event.stage}: started")
        elif event.kind == "step":
            self._print(f"repro release: {event.stage}: {event.text}  (+{event.elapsed:.1f} s)")
        else:
            verdict = "passed" if event.kind == "done" else "FAILED"
            self._print(
                f"repro release: {event.stage}: {verdict} in {event.elapsed:.1f} s"
                + (f": {event.text}" if event.text else ""),
                "green" if event.kind == "done" else "bold red",
            )

    def _live(self, event: StageEvent) -> None:
        from repro.terminal import LiveSteps

        if self._steps is None:
            self._steps = LiveSteps(self._console)
        steps = self._steps
        if event.kind == "start":
            steps.start(event.stage, event.stage)
        elif event.kind == "step":
            if self.verbose:
                steps.line(f"    {event.stage}: {event.text}", style="dim")
            steps.output(event.stage, event.text)
        else:
            steps.finish(event.stage, failed=event.kind == "failed", note=event.text, elapsed=event.elapsed)
            if not steps.running:
                steps.close()
                self._steps = None

    def close(self) -> None:
        """Stop the live view (if one is drawn)."""
        if self._steps is not None:
            self._steps.close()
            self._steps = None
