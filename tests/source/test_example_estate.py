"""The example estate in manifests/ validates clean and covers seed 000's shape."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from homeport.kinds import VM, App, StandbyPair
from homeport.source.validate import Estate, validate_paths

ROOT = Path(__file__).parents[2]


def test_example_estate_is_valid() -> None:
    result = validate_paths([ROOT / "manifests"])
    assert result.errors == []
    counts = Counter(obj.kind for obj in result.objects)
    assert counts["Machine"] == 3
    assert counts["StandbyPair"] >= 2
    assert counts["BackupPolicy"] >= 1


def test_example_estate_pairs_span_machines_and_router_exists() -> None:
    estate = Estate.index(validate_paths([ROOT / "manifests"]).objects)
    vms = [o.resource for o in estate.of_kind("VM")]
    assert any(isinstance(v, VM) and v.spec.role == "router" for v in vms)
    assert any(isinstance(v, VM) and v.spec.role == "dev" for v in vms)
    for obj in estate.of_kind("StandbyPair"):
        pair = obj.resource
        assert isinstance(pair, StandbyPair)
        _, primary_machine = estate.machine_of_app(pair.spec.primary)
        _, standby_machine = estate.machine_of_app(pair.spec.standby)
        assert primary_machine != standby_machine
    for obj in estate.of_kind("App"):
        assert isinstance(obj.resource, App)
        assert obj.resource.app_dir.startswith("/srv/apps/")
