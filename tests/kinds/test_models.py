from __future__ import annotations

import pytest
from pydantic import ValidationError

from homeport.kinds import VM, App, BackupPolicy, ProxyRoute, lookup_kind
from homeport.kinds.backuppolicy import Retention


def _vm(**spec: object) -> VM:
    return VM.model_validate(
        {
            "apiVersion": "homeport.dev/v1alpha1",
            "kind": "VM",
            "metadata": {"name": "web"},
            "spec": {"machine": "m1", **spec},
        }
    )


def test_vm_defaults_follow_the_estate_standard() -> None:
    vm = _vm()
    assert vm.spec.template.vmid == 9000
    assert vm.spec.template.name == "ubuntu-2404-base"
    assert vm.spec.disk.size_gib == 32
    assert vm.spec.onboot is True
    assert vm.spec.power_state == "running"
    assert vm.dependencies()[0].kind == "Machine"


def test_unknown_fields_are_errors() -> None:
    with pytest.raises(ValidationError):
        _vm(colour="red")


def test_retention_renders_pve_property_string() -> None:
    assert Retention().as_prune_backups() == "keep-daily=7,keep-weekly=4,keep-monthly=12"
    assert (
        Retention(keep_daily=None, keep_weekly=None, keep_monthly=None).as_prune_backups()
        == "keep-all=1"
    )


def test_route_references_pair_or_app() -> None:
    route = ProxyRoute.model_validate(
        {
            "apiVersion": "homeport.dev/v1alpha1",
            "kind": "ProxyRoute",
            "metadata": {"name": "r"},
            "spec": {"host": "shop.example.com", "standbyPair": "shop"},
        }
    )
    assert [str(r) for r in route.references()] == ["StandbyPair/shop"]


def test_app_paths() -> None:
    app = App.model_validate(
        {
            "apiVersion": "homeport.dev/v1alpha1",
            "kind": "App",
            "metadata": {"name": "shop"},
            "spec": {
                "vm": "v",
                "source": {"repo": "https://g/x.git"},
                "execStart": "/bin/x",
                "port": 80,
            },
        }
    )
    assert app.app_dir == "/srv/apps/shop"
    assert app.data_dir == "/srv/apps/shop/data"


def test_lookup_kind_accepts_plural_and_short_names() -> None:
    assert lookup_kind("vms") is VM
    assert lookup_kind("backup") is BackupPolicy
    assert lookup_kind("nope") is None
    # `homeport get routes` answered "unknown kind": a short name takes a plural too.
    assert lookup_kind("routes") is ProxyRoute
    assert lookup_kind("Pairs") is lookup_kind("standbypairs")
    assert lookup_kind("apps") is App
    assert lookup_kind("nopes") is None
