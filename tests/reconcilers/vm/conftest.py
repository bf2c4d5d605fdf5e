"""The simulated estate the VM reconciler's act tests act on (``acting.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from homeport.simulator.estate import SimulatedEstate
from homeport.simulator.settings import EstateConfig
from testkit.harness import FAST, assert_sound


@pytest.fixture
async def estate(tmp_path: Path) -> AsyncIterator[SimulatedEstate]:
    config = EstateConfig(
        state_dir=tmp_path / "estate", time_scale=100.0, tls="off", caddy=False, timings=FAST
    )
    async with SimulatedEstate(config) as estate:
        yield estate
        assert_sound(estate)
