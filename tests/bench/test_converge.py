"""Smoke test of ``bench/converge.py --quick``: it runs standalone, prints its figures
under its headings, and finds no mutating call in a converged resync. No speed asserted."""

from __future__ import annotations

import subprocess
import sys

import pytest

from testkit.harness import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HEADINGS = (
    "== cold convergence (git push → every object Ready) ==",
    "== push-to-converged latency (one changed object among 20) ==",
    "== calls per resync when converged (20 objects) ==",
)


def test_quick_benchmark_prints_its_figures() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "converge.py"), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for heading in HEADINGS:
        assert heading in result.stdout, result.stdout
    assert "mutating calls              : 0 (OK)" in result.stdout, result.stdout
    # The simulator ran in its own process, so the CPU figures are the daemon's alone.
    assert "the simulator runs in a child process" in result.stdout, result.stdout
    for line in (
        "wall ms per object",
        "CPU ms per object",
        "resync CPU of this process",
        "resync CPU per object",
        "resync wall per object",
        "reads per object",
        "stages, p50 in s",
        "CPU s of the simulator",
        "reconciles of VM",
        "push → revision adopted",
        "Ready → benchmark noticed",
        "CPU s: event loop's thread",
        "new HTTPS connections",
        "peak RSS of the daemon's process, 20 objects:",
        "simulator excluded",
    ):
        assert line in result.stdout, result.stdout
    # 4 timed pushes: far too few for a p99, so the tail is the maximum, labelled so.
    assert "p99" not in result.stdout, result.stdout
    assert "max" in result.stdout, result.stdout


def test_the_driver_loads_no_simulator_server() -> None:
    """The driver's process is the daemon's, whose peak memory the benchmark reports with
    the simulator excluded: the simulator's code (its servers, aiohttp) stays in the
    simulator's process (``bench/world.py``)."""
    probe = (
        "import sys, bench.converge; "
        "print(sorted(m for m in sys.modules if m.startswith(('aiohttp', 'bench.world', "
        "'homeport.simulator.estate', 'homeport.simulator.guest', 'homeport.simulator.pve'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]", result.stdout
