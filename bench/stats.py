"""Interleaved timing with its spread: the one way every benchmark here reports a figure.

The machine these run on is shared and noisy, so a single number (or a best case) says
little. Each round runs every case once, in the same order, so a burst of load hits all
of them alike; the figures are min / median / max over the rounds, and a ratio is taken
per round (the same load for both sides) before its spread is reported.

    >>> times = interleaved(5, {"repro": run_repro, "syft": run_syft})   # doctest: +SKIP
    >>> print(times["repro"])                                             # doctest: +SKIP
    median 1.92 s (min 1.80, max 2.41; 5 runs)
    >>> print(ratio(times["syft"], times["repro"]))                       # doctest: +SKIP
    2.54x (min 2.31, max 2.70)
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Spread:
    """Wall times of one case, one per round, in seconds."""

    values: tuple[float, ...]

    @property
    def min(self) -> float:
        return min(self.values)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def max(self) -> float:
        return max(self.values)

    def __str__(self) -> str:
        return (
            f"median {self.median:6.2f} s (min {self.min:.2f}, max {self.max:.2f}; {len(self.values)} runs)"
        )


@dataclass(frozen=True)
class Ratio:
    """``numerator / denominator`` per round: how many times slower the numerator was."""

    values: tuple[float, ...]

    @property
    def min(self) -> float:
        return min(self.values)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def max(self) -> float:
        return max(self.values)

    def __str__(self) -> str:
        return f"{self.median:.2f}x (min {min(self.values):.2f}, max {max(self.values):.2f})"


def timed(action: Callable[[], object]) -> float:
    """Seconds ``action`` took."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def interleaved(rounds: int, cases: Mapping[str, Callable[[], object]]) -> dict[str, Spread]:
    """Run every case once per round, ``rounds`` times, and return each case's spread."""
    if rounds < 1:
        raise ValueError("at least one round")
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, action in cases.items():
            times[name].append(timed(action))
    return {name: Spread(tuple(values)) for name, values in times.items()}


def interleaved_measured(rounds: int, cases: Mapping[str, Callable[[], float]]) -> dict[str, Spread]:
    """As :func:`interleaved`, for cases that time themselves: each returns the seconds that
    count, so that its set-up and clean-up (fresh storage made and removed) stay out."""
    if rounds < 1:
        raise ValueError("at least one round")
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, action in cases.items():
            times[name].append(action())
    return {name: Spread(tuple(values)) for name, values in times.items()}


def ratio(numerator: Spread, denominator: Spread) -> Ratio:
    """The per-round ratio of two spreads measured in the same rounds."""
    if len(numerator.values) != len(denominator.values):
        raise ValueError("ratios are taken per round: the two spreads need the same rounds")
    return Ratio(tuple(n / d for n, d in zip(numerator.values, denominator.values, strict=True)))
