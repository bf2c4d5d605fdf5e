"""Benchmark: how fast a StandbyPair fails over, measured from the outside.

Starts a simulated estate (Proxmox + guests + tailnet + real Caddy) with one pair, runs
the daemon, keeps HTTP traffic flowing through Caddy, and crashes the current primary's
VM again and again (the old primary is rebuilt as the standby between runs). Prints, over
the runs, the time from the failure to the first request served by the standby (p50, and p99 over at least 100 runs; ``bench/stats.py``)
and its split into detection, fencing, promotion and reroute from the failover timelines.

    .venv/bin/python bench/failover.py [--runs 20]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.stats import spread
from homeport.controller.logs import configure_logging
from homeport.controller.store import Store
from testkit.harness import EstateHarness, until
from testkit.traffic import Traffic

MANIFESTS = Path(__file__).parent / "failover_manifests"
PHASES = [
    ("detection", "FailureStarted", "Detected"),
    ("fencing", "Fencing", "Fenced"),
    ("promotion", "Fenced", "Promoted"),
    ("reroute", "Promoted", "Rerouted"),
]


def memory(h: EstateHarness) -> dict[str, object]:
    store = Store.open(h.settings.store.path, readonly=True)
    try:
        return store.memory.get("StandbyPair", "shop")
    finally:
        store.close()


def last_record(h: EstateHarness) -> dict[str, object]:
    store = Store.open(h.settings.store.path, readonly=True)
    try:
        return store.failovers.for_pair("shop")[-1]
    finally:
        store.close()


def phase_durations(record: dict[str, object]) -> dict[str, float]:
    steps = {s["phase"]: datetime.fromisoformat(s["at"]) for s in record["timeline"]}  # type: ignore[index, union-attr]
    return {
        label: (steps[end] - steps[begin]).total_seconds()
        for label, begin, end in PHASES
        if begin in steps and end in steps
    }


async def run(runs: int) -> None:
    configure_logging(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        async with EstateHarness.running(Path(tmp), manifests=MANIFESTS) as h:
            await h.converged(timeout=120)
            await until(
                lambda: bool(memory(h).get("established")), timeout=60, what="pair established"
            )
            traffic = Traffic(h.estate.endpoints()["caddy"]["http"] + "/", "shop.example.com")
            stop = asyncio.Event()
            task = asyncio.create_task(traffic.run(stop, interval=0.01))
            served: list[float] = []
            phases: dict[str, list[float]] = {label: [] for label, _, _ in PHASES}
            try:
                for number in range(1, runs + 1):
                    mem = memory(h)
                    old, new, epoch = str(mem["primary"]), str(mem["standby"]), int(mem["epoch"])  # type: ignore[call-overload]
                    vm = h.object("VM", old)
                    assert vm is not None
                    crashed = time.monotonic()
                    await h.estate.guests.crash_vm(int(vm.status.details["vmid"]))  # type: ignore[union-attr]
                    unit = f"homeport-{new}"
                    await until(
                        lambda crashed=crashed, unit=unit: any(
                            s.at > crashed and s.app == unit for s in traffic.samples
                        ),  # type: ignore[misc]
                        timeout=30,
                        what="the standby serving",
                    )
                    first = next(s.at for s in traffic.samples if s.at > crashed and s.app == unit)
                    served.append(first - crashed)
                    await until(
                        lambda epoch=epoch: int(memory(h).get("epoch", 0)) == epoch + 1,  # type: ignore[misc]
                        timeout=30,
                        what="epoch",
                    )
                    for label, value in phase_durations(last_record(h)).items():
                        phases[label].append(value)
                    print(
                        f"run {number:2}: {old} → {new}: served by the standby after {served[-1]:.2f}s",
                        flush=True,
                    )
                    await until(
                        lambda: memory(h).get("phase") == "Healthy",
                        timeout=60,
                        what="standby rebuilt",
                    )
                    await until(lambda: bool(memory(h).get("last_sync")), timeout=30, what="synced")
            finally:
                stop.set()
                await task
    print()
    print("StandbyPair failover, probe interval 1 s, timeout 0.5 s, failureThreshold 3")
    print(f"runs: {len(served)} (primary VM crash; traffic through Caddy every 10 ms)")
    print(f"failure → first request served by the standby: {spread(served)}")
    for label, values in phases.items():
        if values:
            print(f"  {label:<10} {spread(values, digits=3)}  mean {statistics.mean(values):.3f} s")
    after = [
        sum(v) for v in zip(*(phases[p] for p in ("fencing", "promotion", "reroute")), strict=True)
    ]
    if after:
        print(f"after detection (fencing + promotion + reroute): {spread(after, digits=3)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(run(args.runs))


if __name__ == "__main__":
    main()
