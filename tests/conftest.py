"""Suite-wide fixtures: every async test must leave no task running behind it, and every
request to a simulated Proxmox API and its answer must be one real PVE would take and give
(`tests.pve_referee`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from homeport.simulator.proxmox_api.exchanges import listening
from tests.pve_referee import REFUSAL_MARKER, Recorder, vendor_schema, verdict


@pytest.fixture(autouse=True)
async def no_leftover_tasks() -> AsyncIterator[None]:
    yield
    current = asyncio.current_task()
    # Give cancelled tasks one turn to finish unwinding.
    await asyncio.sleep(0)
    leftover = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    for task in leftover:
        task.cancel()
    assert not leftover, f"tasks left running after the test: {leftover}"


@pytest.fixture(scope="session")
def pve_exchanges() -> Iterator[Recorder]:
    recorder = Recorder()
    with listening(recorder):
        yield recorder


@pytest.fixture(autouse=True)
def pve_referee(request: pytest.FixtureRequest, pve_exchanges: Recorder) -> Iterator[None]:
    """Fails the test on any exchange real PVE would refuse or could not have answered."""
    # Not emptied first: what wider-scoped fixtures sent since the last test is this one's.
    yield
    exchanges = pve_exchanges.take()
    if not exchanges:
        return
    expected = request.node.get_closest_marker(REFUSAL_MARKER) is not None
    objections = verdict(vendor_schema(), exchanges, refusals_expected=expected)
    assert not objections, "the PVE 9.1 API schema refuses:\n  " + "\n  ".join(objections)
