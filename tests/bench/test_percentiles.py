"""The benchmark's latency line: a p99 needs at least 100 samples, else the maximum shows."""

from __future__ import annotations

from bench.stats import TAIL_SAMPLES, spread


def test_few_samples_print_p50_and_max_but_no_p99() -> None:
    shown = spread([float(n) for n in range(1, 25)])  # the default 24 timed pushes
    assert "p99" not in shown
    assert shown.startswith("p50 ")
    assert shown.endswith("max  24.00 s")


def test_a_hundred_samples_print_p99_beside_the_max() -> None:
    values = [float(n) for n in range(1, TAIL_SAMPLES + 1)]
    shown = spread(values)
    assert "p99  99.00 s" in shown
    assert shown.endswith("max 100.00 s")


def test_p99_is_not_printed_one_sample_short() -> None:
    assert "p99" not in spread([1.0] * (TAIL_SAMPLES - 1))
