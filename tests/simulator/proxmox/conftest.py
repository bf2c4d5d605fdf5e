"""Fixtures for the Proxmox contract tests: a simulator (or a real node) behind proxmoxer.

`pve` is parametrized over targets: the simulator always, and a real Proxmox VE node when
`HOMEPORT_REAL_PVE="host[:port],user@realm!tokenid=secret[,/path/ca.pem]"` is set (marked
`real_proxmox`, skipped otherwise). Tests that change state or inject faults use `sim`,
which is the simulator only. Assertions go through proxmoxer / requests; the simulator's
own objects are used only to start it, inject faults and advance simulated time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from homeport.simulator.settings import SimulatorConfig, Timings
from homeport.simulator.threaded import SimulatorThread
from tests.simulator.proxmox.target import Target, real_target, sim_target

TIME_SCALE = 100.0
REAL_ENV = "HOMEPORT_REAL_PVE"


@pytest.fixture(scope="session")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pki")


def make_config(tmp_path: Path, pki_dir: Path, **overrides: object) -> SimulatorConfig:
    timings = overrides.pop("timings", Timings())
    assert isinstance(timings, Timings)
    return SimulatorConfig(
        seed=int(overrides.pop("seed", 7)),  # type: ignore[call-overload]
        time_scale=float(overrides.pop("time_scale", TIME_SCALE)),  # type: ignore[arg-type]
        state_dir=overrides.pop("state_dir", tmp_path / "state"),  # type: ignore[arg-type]
        pki_dir=pki_dir,
        timings=timings,
        **overrides,  # type: ignore[arg-type]
    )


@pytest.fixture
def sim(tmp_path: Path, pki_dir: Path) -> Iterator[Target]:
    thread = SimulatorThread(make_config(tmp_path, pki_dir))
    thread.start()
    target = sim_target(thread)
    try:
        yield target
        assert target.check() == []
    finally:
        target.close()
        thread.stop()


@pytest.fixture
def make_sim(tmp_path: Path, pki_dir: Path) -> Iterator[Callable[..., Target]]:
    """Start simulators with config overrides (e.g. `start_epoch`, `timings`, `state_dir`)."""
    started: list[tuple[SimulatorThread, Target]] = []

    def start(**overrides: object) -> Target:
        overrides.setdefault("state_dir", tmp_path / f"state{len(started)}")
        config = make_config(tmp_path, pki_dir, **overrides)
        thread = SimulatorThread(config)
        thread.start()
        target = sim_target(thread)
        started.append((thread, target))
        return target

    try:
        yield start
        for _, target in started:
            assert target.check() == []
    finally:
        for thread, target in started:
            target.close()
            thread.stop()


@pytest.fixture(params=["sim", pytest.param("real", marks=pytest.mark.real_proxmox)])
def pve(request: pytest.FixtureRequest, tmp_path: Path, pki_dir: Path) -> Iterator[Target]:
    if request.param == "real":
        spec = os.environ.get(REAL_ENV)
        if not spec:
            pytest.skip(f"set {REAL_ENV} to run contract tests against a real Proxmox VE node")
        target = real_target(spec)
        try:
            yield target
        finally:
            target.close()
        return
    thread = SimulatorThread(make_config(tmp_path, pki_dir))
    thread.start()
    target = sim_target(thread)
    try:
        yield target
        assert target.check() == []
    finally:
        target.close()
        thread.stop()
