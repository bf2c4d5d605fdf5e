"""How the benchmarks summarise timings: p50, a p99 only where there are samples for one.

Below ``TAIL_SAMPLES`` samples a "p99" is just the maximum under another name; the
benchmarks print the maximum, labelled so, instead.
"""

from __future__ import annotations

TAIL_SAMPLES = 100
"""Below this many samples a p99 is just the maximum: print the maximum, labelled so."""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def spread(values: list[float], *, digits: int = 2) -> str:
    """p50, then p99 when there are enough samples for one, then the maximum."""
    width = digits + 4
    shown = f"p50 {percentile(values, 0.5):{width}.{digits}f} s"
    if len(values) >= TAIL_SAMPLES:
        shown += f"  p99 {percentile(values, 0.99):{width}.{digits}f} s"
    return shown + f"  max {max(values):{width}.{digits}f} s"
