"""The benchmarks' one way of reporting a figure: interleaved rounds, min/median/max, per-round ratios."""

from __future__ import annotations

import pytest

from bench.stats import Spread, interleaved, ratio


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
