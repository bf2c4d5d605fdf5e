"""Everyone but the StandbyPair reads a pair through its ``PairView``
(``reconcilers/pairview.py``), never its raw memory: who serves, the epoch, whether a
failover runs, which old primary waits in quarantine."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

import pytest

from homeport.kinds import StandbyPair
from homeport.reconcilers.pairview import PairView
from homeport.reconcilers.standbypair.state import (
    IN_FLIGHT,
    Failover,
    PairState,
    Phase,
    Quarantine,
)
from tests.reconcilers.fixtures import resource

ROOT = Path(__file__).resolve().parents[2] / "homeport"
PACKAGE = ROOT / "reconcilers" / "standbypair"
# The registry declares the slot; the view is the one reader outside the pair's package.
MAY_NAME_THE_SLOT = (ROOT / "reconcilers" / "slots.py", ROOT / "reconcilers" / "pairview.py")
PAIR = resource("StandbyPair", "db", {"primary": "db-a", "standby": "db-b"})
assert isinstance(PAIR, StandbyPair)


def _outside_the_package() -> list[Path]:
    return [p for p in sorted(ROOT.rglob("*.py")) if PACKAGE not in p.parents]


def slot_readers(source: str) -> list[int]:
    """Lines naming ``PAIR_MEMORY`` (imported or used) or importing the pair's state."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        named = (isinstance(node, ast.Name) and node.id == "PAIR_MEMORY") or (
            isinstance(node, ast.Attribute) and node.attr == "PAIR_MEMORY"
        )
        imported = isinstance(node, ast.ImportFrom) and (
            any(alias.name == "PAIR_MEMORY" for alias in node.names)
            or node.module == "homeport.reconcilers.standbypair.state"
        )
        if named or imported:
            lines.append(node.lineno)
    return lines


def test_nobody_outside_the_pair_s_package_reads_its_raw_memory() -> None:
    found = [
        f"{path.relative_to(ROOT.parent)}:{line}"
        for path in _outside_the_package()
        if path not in MAY_NAME_THE_SLOT
        for line in slot_readers(path.read_text())
    ]
    assert not found, f"read a StandbyPair through reconcilers/pairview.py: {found}"


@pytest.mark.parametrize(
    "source",
    [
        "from homeport.reconcilers.slots import PAIR_MEMORY",
        "from homeport.reconcilers.slots import ESTATE_HOLD, PAIR_MEMORY as M",
        "x = slots.PAIR_MEMORY",
        "from homeport.reconcilers.standbypair.state import Phase",
    ],
)
def test_the_check_finds_a_raw_reader(source: str) -> None:
    assert slot_readers(source) == [1]


def test_the_check_lets_the_view_through() -> None:
    assert slot_readers("from homeport.reconcilers.pairview import pair_view") == []


def test_only_the_pair_s_package_spells_its_in_flight_phases() -> None:
    spelled = {p.value for p in IN_FLIGHT}
    found = [
        f"{path.relative_to(ROOT.parent)}:{node.lineno}"
        for path in _outside_the_package()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and node.value in spelled
    ]
    assert not found, found


def _view(state: PairState | None) -> PairView:
    return PairView.of(PAIR, state.dump() if state else None)


def test_a_pair_never_stored_is_seen_as_declared() -> None:
    assert _view(None) == PairView("db", "db-a", "db-b", 1, in_flight=False, quarantined=None)


@pytest.mark.parametrize("phase", list(Phase))
def test_a_failover_runs_exactly_in_the_phases_in_flight(phase: Phase) -> None:
    """The pair stores a failover's record with each phase in flight and drops it after."""
    record = Failover(3, "db-a", "db-b", "automatic") if phase.in_flight else None
    view = _view(PairState("db-b", "db-a", epoch=3, phase=phase, failover=record))
    assert view.in_flight is phase.in_flight
    assert (view.primary, view.standby, view.epoch) == ("db-b", "db-a", 3)
    assert (view.role_of("db-b"), view.role_of("db-a")) == ("primary", "standby")


def test_a_quarantined_old_primary_is_seen_until_it_was_stopped() -> None:
    state = PairState("db-b", "db-a", 2, Phase.DEGRADED, quarantine=Quarantine("db-a"))
    assert _view(state).quarantined == "db-a"
    stopped = Quarantine("db-a", stopped_at=datetime(2026, 1, 1, tzinfo=UTC))
    assert _view(PairState("db-b", "db-a", quarantine=stopped)).quarantined is None
