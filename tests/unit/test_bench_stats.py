"""The benchmarks' one way of reporting a figure: interleaved rounds, min/median/max, per-round ratios."""

from __future__ import annotations

import pytest

from bench.stats import Spread, interleaved, interleaved_measured, ratio


def test_every_case_runs_once_per_round_in_order() -> None:
    calls: list[str] = []
    times = interleaved(3, {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")})
    assert calls == ["a", "b"] * 3
    assert {name: len(spread.values) for name, spread in times.items()} == {"a": 3, "b": 3}


def test_spread_reports_min_median_max() -> None:
    spread = Spread((3.0, 1.0, 2.0, 10.0, 2.5))
    assert (spread.min, spread.median, spread.max) == (1.0, 2.5, 10.0)
    assert str(spread) == "median   2.50 s (min 1.00, max 10.00; 5 runs)"


def test_ratio_is_taken_per_round() -> None:
    slow, fast = Spread((4.0, 9.0, 2.0)), Spread((2.0, 3.0, 2.0))
    speedup = ratio(slow, fast)
    assert speedup.values == (2.0, 3.0, 1.0)
    assert str(speedup) == "2.00x (min 1.00, max 3.00)"


def test_ratio_refuses_spreads_from_different_rounds() -> None:
    with pytest.raises(ValueError, match="same rounds"):
        ratio(Spread((1.0,)), Spread((1.0, 2.0)))


def test_no_rounds_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one round"):
        interleaved(0, {"a": lambda: None})


def test_self_timed_cases_report_the_seconds_they_return() -> None:
    calls: list[str] = []

    def case(name: str, seconds: float) -> float:
        calls.append(name)
        return seconds

    times = interleaved_measured(2, {"a": lambda: case("a", 1.5), "b": lambda: case("b", 3.0)})
    assert calls == ["a", "b"] * 2
    assert times["a"].values == (1.5, 1.5)
    per_round = ratio(times["b"], times["a"])
    assert (per_round.min, per_round.median, per_round.max) == (2.0, 2.0, 2.0)
    with pytest.raises(ValueError, match="at least one round"):
        interleaved_measured(0, {"a": lambda: 1.0})
