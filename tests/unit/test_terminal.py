"""Colour and progress follow NO_COLOR, FORCE_COLOR, TERM=dumb and whether stderr is a
terminal; plain progress never carries an escape sequence; rich stays off the fast path."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from repro.build import BuildEvent
from repro.cli.build import _Progress
from repro.release.progress import ConsoleProgress, StageEvent
from repro.terminal import LiveSteps, make_console, progress_mode, use_colour


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("environ", "tty", "colour"),
    [
        ({}, True, True),
        ({}, False, False),
        ({"NO_COLOR": "1"}, True, False),
        ({"NO_COLOR": ""}, True, True),  # empty means unset (no-color.org)
        ({"FORCE_COLOR": "1"}, False, True),
        ({"FORCE_COLOR": ""}, False, False),
        ({"NO_COLOR": "1", "FORCE_COLOR": "1"}, True, False),  # NO_COLOR wins
        ({"TERM": "dumb"}, True, False),
        ({"TERM": "dumb", "FORCE_COLOR": "1"}, True, True),
        ({"TERM": "xterm-256color"}, True, True),
    ],
)
def test_colour_rules(environ: dict[str, str], tty: bool, colour: bool) -> None:
    stream = Terminal() if tty else io.StringIO()
    assert use_colour(stream, environ) is colour
    console = make_console(stream, mode="plain", environ=environ)
    console.print("x", style="red")
    assert ("\033[" in stream.getvalue()) is colour


@pytest.mark.parametrize(
    ("requested", "environ", "tty", "mode"),
    [
        ("auto", {}, True, "tty"),
        (None, {}, True, "tty"),
        ("auto", {}, False, "plain"),
        ("auto", {"TERM": "dumb"}, True, "plain"),
        ("auto", {"FORCE_COLOR": "1"}, False, "plain"),  # colour into a log, still one line per event
        ("tty", {}, False, "tty"),
        ("plain", {}, True, "plain"),
    ],
)
def test_progress_mode(requested: str | None, environ: dict[str, str], tty: bool, mode: str) -> None:
    assert progress_mode(requested, Terminal() if tty else io.StringIO(), environ) == mode


def release_events(progress: ConsoleProgress) -> None:
    progress(StageEvent("start", "build", "", 0.0))
    progress(StageEvent("step", "build", "[A] step 1/3: FROM x", 0.5))
    progress(StageEvent("done", "build", "reproducible", 3.25))
    progress(StageEvent("failed", "sign", "no key", 0.1))
    progress.close()


def test_term_dumb_on_a_terminal_gets_plain_lines_without_escapes() -> None:
    out = Terminal()
    release_events(ConsoleProgress(out, environ={"TERM": "dumb"}))
    text = out.getvalue()
    assert "\r" not in text
    assert "\033" not in text
    assert text.splitlines()[0] == "repro release: build: started"


def test_force_color_colours_the_verdicts_in_a_log_and_no_color_does_not() -> None:
    coloured = io.StringIO()
    release_events(ConsoleProgress(coloured, environ={"FORCE_COLOR": "1"}))
    assert "\033[32mrepro release: build: passed in 3.2 s: reproducible\033[0m" in coloured.getvalue()
    assert "\r" not in coloured.getvalue()  # plain mode: colour, but no redrawing
    plain = io.StringIO()
    release_events(ConsoleProgress(plain, environ={"FORCE_COLOR": "1", "NO_COLOR": "1"}))
    assert "\033" not in plain.getvalue()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_tty_view_shows_the_running_step_its_timer_and_last_output_lines() -> None:
    out = Terminal()
    clock = Clock()
    steps = LiveSteps(make_console(out, mode="tty", environ={}), clock=clock)
    steps.start("A", "[A] step 2/3: RUN make")
    for n in range(10):
        steps.output("A", f"line {n}")
    clock.now += 12.5
    console = make_console(io.StringIO(), mode="plain", environ={})
    with console.capture() as capture:
        console.print(steps._render())
    shown = capture.get().splitlines()
    assert shown[0].strip() == "=> [A] step 2/3: RUN make  12.5s"
    assert [line.strip() for line in shown[1:]] == [f"line {n}" for n in range(4, 10)]  # the last six
    steps.start("A", "[A] step 3/3: COPY . /")  # the previous step is done: a permanent line
    clock.now += 1
    steps.close()
    assert "done [A] step 2/3: RUN make  12.5s" in out.getvalue()
    assert "done [A] step 3/3: COPY . /  1.0s" in out.getvalue()


def test_build_progress_plain_and_tty() -> None:
    step = BuildEvent("step", "", 1.5, stage=1, stages=1, step=1, steps=2, instruction="FROM busybox")
    output = BuildEvent("output", "downloading", 1.6)
    plain = io.StringIO()
    with _Progress(0, plain, mode="plain") as progress:
        progress(step)
        progress(output)
    assert plain.getvalue() == "repro: step 1/2: FROM busybox  (+1.5 s)\n"
    tty = Terminal()
    with _Progress(0, tty, mode="tty", environ={}) as progress:
        progress(step)
        progress(output)
    assert "done step 1/2: FROM busybox" in tty.getvalue()


def test_rich_is_not_imported_on_the_pin_check_path() -> None:
    code = (
        "import sys; from repro.cli import main; main(['pin', '--check', '/nonexistent']); "
        "print(sorted(m for m in sys.modules if m == 'rich' or m.startswith('rich.')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
