"""Talking to a person on stderr: colour and live progress, decided once, drawn by ``rich``.

Two decisions, each from the stream and the environment, never from guesswork elsewhere:

- **colour** (:func:`use_colour`): ``NO_COLOR`` (non-empty) turns it off, whatever else is
  set; else ``FORCE_COLOR`` (non-empty) turns it on, even into a pipe or a CI log; else
  it is on only on a terminal whose ``TERM`` is not ``dumb``.
- **progress** (:func:`progress_mode`, ``--progress auto|tty|plain`` as in ``docker
  buildx``): ``tty`` redraws a live view (the running step, a timer, its last output
  lines); ``plain`` prints one line per event with its time, fit for CI logs and pipes;
  ``auto`` is ``tty`` on a terminal whose ``TERM`` is not ``dumb``, else ``plain``.

``rich`` is imported only when a console is made (:func:`make_console`): commands that
print no progress (``repro pin --check``) never pay for it.

    >>> use_colour(io.StringIO(), {"FORCE_COLOR": "1"})            # doctest: +SKIP
    True
    >>> progress_mode("auto", io.StringIO(), {})                   # doctest: +SKIP
    'plain'
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal, TextIO

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

__all__ = [
    "PROGRESS_MODES",
    "LiveSteps",
    "ProgressMode",
    "make_console",
    "progress_mode",
    "use_colour",
]

ProgressMode = Literal["auto", "tty", "plain"]
PROGRESS_MODES: Final = ("auto", "tty", "plain")
#: How many of the running step's last output lines the tty view shows (buildx shows 6).
TAIL_LINES: Final = 6


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _dumb(environ: Mapping[str, str]) -> bool:
    return environ.get("TERM", "").lower() in ("dumb", "unknown")


def use_colour(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """Whether to colour what goes to ``stream`` (see the module documentation)."""
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR", ""):
        return False
    if env.get("FORCE_COLOR", ""):
        return True
    return _isatty(stream) and not _dumb(env)


def progress_mode(
    requested: str | None, stream: TextIO, environ: Mapping[str, str] | None = None
) -> Literal["tty", "plain"]:
    """``tty`` or ``plain`` for ``--progress`` (None or ``auto``: decided from the stream)."""
    env = os.environ if environ is None else environ
    if requested == "tty":
        return "tty"
    if requested == "plain":
        return "plain"
    return "tty" if _isatty(stream) and not _dumb(env) else "plain"


def make_console(
    stream: TextIO, *, mode: Literal["tty", "plain"], environ: Mapping[str, str] | None = None
) -> Console:
    """A rich Console on ``stream`` that follows :func:`use_colour` and the progress mode."""
    from rich.console import Console

    env = dict(os.environ if environ is None else environ)
    colour = use_colour(stream, env)
    return Console(
        file=stream,
        force_terminal=colour or mode == "tty",
        force_interactive=mode == "tty",
        no_color=not colour,
        color_system="standard" if colour else None,
        highlight=False,
        markup=False,
        emoji=False,
        soft_wrap=mode == "plain",
        _environ=env,
    )


@dataclass
class _Running:
    text: str
    started: float
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))


class LiveSteps:
    """The tty view: one running step per key (a build, a stage) with a timer and its last
    output lines, redrawn in place; finished steps become permanent lines above it.

    Thread-safe: two builds running at once report through the same view.
    """

    def __init__(self, console: Console, *, clock: Any = time.monotonic) -> None:
        self.console = console
        self._clock = clock
        self._lock = threading.Lock()
        self._running: dict[str, _Running] = {}
        self._live: Any = None

    def _ensure_live(self) -> None:
        if self._live is None:
            from rich.live import Live

            self._live = Live(
                get_renderable=self._render,
                console=self.console,
                refresh_per_second=4,
                transient=True,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._live.start()

    def _render(self) -> RenderableType:
        from rich.console import Group
        from rich.text import Text

        now = self._clock()
        rows: list[RenderableType] = []
        with self._lock:
            for running in self._running.values():
                line = Text(f"  => {running.text} ", style="bold")
                line.append(f"{now - running.started:5.1f}s", style="cyan")
                line.truncate(max(20, self.console.width - 1), overflow="ellipsis")
                rows.append(line)
                for output in running.tail:
                    tail = Text(f"    {output}", style="dim")
                    tail.truncate(max(20, self.console.width - 1), overflow="ellipsis")
                    rows.append(tail)
        return Group(*rows)

    def start(self, key: str, text: str) -> None:
        """A new step for ``key``: the previous one of that key is done."""
        self.finish(key)
        with self._lock:
            self._running[key] = _Running(text, self._clock())
        self._ensure_live()

    @property
    def running(self) -> bool:
        """Whether a step is still running."""
        with self._lock:
            return bool(self._running)

    def output(self, key: str, line: str) -> None:
        with self._lock:
            running = self._running.get(key)
            if running is not None:
                running.tail.append(line.rstrip())

    def finish(self, key: str, *, failed: bool = False, note: str = "", elapsed: float | None = None) -> None:
        """The step of ``key`` ended: a permanent line with its time (``elapsed`` if the
        caller measured it, else since :meth:`start`) and ``note``."""
        with self._lock:
            running = self._running.pop(key, None)
        if running is None and not (failed or note):
            return
        text = running.text if running is not None else key
        if elapsed is None:
            elapsed = self._clock() - running.started if running is not None else 0.0
        mark = "FAILED" if failed else "done"
        self.line(
            f"{mark:>6} {text}  {elapsed:.1f}s" + (f": {note}" if note else ""),
            style="bold red" if failed else "green",
        )

    def line(self, text: str, *, style: str | None = None) -> None:
        """A permanent line above the live view."""
        from rich.text import Text

        self.console.print(Text(text, style=style or ""), overflow="ellipsis", no_wrap=True)

    def close(self) -> None:
        """Finish every running step and stop redrawing."""
        for key in list(self._running):
            self.finish(key)
        if self._live is not None:
            self._live.stop()
            self._live = None
