"""``bench/stages.py`` cuts one push→converged into stages that add up to the whole."""

from __future__ import annotations

import pytest

from bench.stages import STAGES, Reconcile, Step, since, stages


def test_stages_split_reconciles_into_acting_looking_and_waiting() -> None:
    figures = stages(
        pushed=0.30,
        adopted=0.32,
        reconciles=[
            Reconcile(0.10, 0.12, "converged"),  # before the revision: not this push's
            Reconcile(0.35, 0.55, "progressing"),  # acted 0.15 of its 0.20
            Reconcile(0.60, 0.62, "waiting", 1.0),
            Reconcile(0.90, 0.95, "converged"),  # wrote Ready at 0.95
        ],
        steps=[Step("install-env", 0.36, 0.41), Step("restart", 0.42, 0.52)],
        ready=0.95,
        noticed=0.97,
    )
    assert list(figures) == list(STAGES)
    assert figures == pytest.approx(
        {
            "git push (hooks, validation)": 0.30,
            "push → revision adopted": 0.02,
            "adopted → first reconcile": 0.03,
            "acting (journaled actions)": 0.15,
            "observing and planning": 0.12,
            "waiting between reconciles": 0.33,
            "Ready → benchmark noticed": 0.02,
        }
    )
    assert sum(figures.values()) == pytest.approx(0.97)


def test_since_reads_the_stores_timestamps() -> None:
    assert since(1_700_000_000.0, "2023-11-14T22:13:21.500000+00:00") == pytest.approx(1.5)
