"""The pair's state machine as data (``standbypair/transitions.py``) and ``act`` as a table
from action type to one handler."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from homeport.reconcilers.base import Action
from homeport.reconcilers.standbypair import (
    StandbyPairReconciler,
    actions,
    finalsync,
    hungstandby,
    replkeys,
    selffence,
    storagerepl,
)
from homeport.reconcilers.standbypair.actions import (
    EnterPhase,
    FinishFailover,
    FinishRebuild,
    StartFailover,
)
from homeport.reconcilers.standbypair.state import Phase
from homeport.reconcilers.standbypair.transitions import (
    BEGIN,
    END,
    TRANSITIONS,
    allowed,
    entered,
    markdown_table,
    with_table,
)

START = StartFailover(2, "automatic", "a", "b", "down")


def test_every_phase_is_reached_and_left_and_in_flight_phases_lead_on() -> None:
    sources = {t.source for t in TRANSITIONS}
    targets = {t.target for t in TRANSITIONS}
    assert sources == targets == set(Phase)
    for phase in Phase:
        if phase.in_flight:  # a failover never stops half-way: each leads to one next phase
            assert [t.target for t in TRANSITIONS if t.source == phase]


@pytest.mark.parametrize(
    ("source", "action", "ok"),
    [
        (Phase.HEALTHY, START, True),
        (Phase.DEGRADED, START, False),  # the standby must be rebuilt first
        (Phase.FENCING, EnterPhase(2, Phase.PROMOTING), True),
        (Phase.FENCING, EnterPhase(2, Phase.REROUTING), False),  # never promote unfenced
        (Phase.PROMOTING, EnterPhase(2, Phase.REROUTING), True),
        (Phase.REROUTING, FinishFailover(2, Phase.DEGRADED), True),
        (Phase.REROUTING, FinishFailover(2, Phase.HEALTHY), True),
        (Phase.FENCING, FinishFailover(2, Phase.HEALTHY), False),
        (Phase.DEGRADED, FinishRebuild("a"), True),
        (Phase.HEALTHY, EnterPhase(2, Phase.DEGRADED), False),  # not the action of the row
    ],
)
def test_a_phase_change_is_allowed_only_along_the_table(
    source: Phase, action: Action, ok: bool
) -> None:
    assert allowed(source, action) is ok


def test_the_actions_that_change_the_phase_carry_the_phase_they_enter() -> None:
    assert entered(START) is Phase.FENCING
    assert entered(FinishRebuild("a")) is Phase.HEALTHY
    assert entered(EnterPhase(3, Phase.REROUTING)) is Phase.REROUTING
    assert entered(actions.ClearRequest("failover", "done")) is None


def test_the_docs_table_has_one_row_per_transition() -> None:
    rows = markdown_table().splitlines()
    assert len(rows) == 2 + len(TRANSITIONS)
    assert rows[2].startswith("| Healthy | Fencing | `StartFailover` |")


def _action_types() -> set[type[Action]]:
    found: set[type[Action]] = set()
    for module in (actions, finalsync, hungstandby, replkeys, selffence, storagerepl):
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, Action) and value.__module__ == module.__name__:
                found.add(value)
    return found


def test_act_has_one_handler_for_every_action_type_of_the_pair() -> None:
    assert _action_types() - set(StandbyPairReconciler.HANDLERS) == set()
    assert set(StandbyPairReconciler.HANDLERS) - _action_types() == set()


def test_the_failover_page_s_table_is_the_generated_one() -> None:
    page = (Path(__file__).resolve().parents[3] / "docs" / "failover.md").read_text()
    assert with_table(page) == page, "regenerate with: homeport docs --out docs/manifests.md"
    assert markdown_table() in page


def test_a_page_without_the_block_is_refused_not_rewritten() -> None:
    with pytest.raises(ValueError, match="no <!-- transitions"):
        with_table("# Failover\n\nno table here\n")


def test_homeport_docs_writes_the_table_into_the_failover_page_beside_its_output(
    tmp_path: Path,
) -> None:
    from typer.testing import CliRunner

    from homeport.cli.main import app

    page = tmp_path / "failover.md"
    page.write_text(f"# Failover\n\n{BEGIN}\nold rows\n{END}\n\nmore text\n")
    out = str(tmp_path / "manifests.md")
    runner = CliRunner()
    assert runner.invoke(app, ["docs", "--check", "--out", out]).exit_code == 1  # stale
    assert runner.invoke(app, ["docs", "--out", out]).exit_code == 0
    assert page.read_text() == f"# Failover\n\n{BEGIN}\n{markdown_table()}{END}\n\nmore text\n"
    assert runner.invoke(app, ["docs", "--check", "--out", out]).exit_code == 0
    page.write_text("# Failover without the block\n")
    refused = runner.invoke(app, ["docs", "--out", out])
    assert refused.exit_code == 1 and "no <!-- transitions" in refused.output
    assert page.read_text() == "# Failover without the block\n"
