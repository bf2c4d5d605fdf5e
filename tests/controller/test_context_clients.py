"""Each kind is served only the clients its reconciler declares (``Reconciler.uses``): the
engine refuses to start when one is not configured, and a client a kind did not declare
fails on first use, naming the kind and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from homeport.clients.bundle import Clients, MissingClient
from homeport.controller.clock import FakeClock
from homeport.controller.config import ControllerSettings
from homeport.controller.context import ControllerContext
from homeport.controller.engine import Engine
from homeport.controller.store import Store
from homeport.reconcilers.machine import MachineReconciler
from homeport.reconcilers.proxyroute import ProxyRouteReconciler
from tests.controller.fakes import AlwaysLeader


class Caddy:
    """Stands in for the Caddy client (never called here)."""


class Proxmox:
    """Stands in for the Proxmox client (never called here)."""


def context(tmp_path: Path, clients: Clients) -> ControllerContext:
    return ControllerContext(
        store=Store.open(tmp_path / "state.db"), clock=FakeClock(), clients=clients
    )


def test_a_kind_sees_the_clients_it_declared_and_no_other(tmp_path: Path) -> None:
    caddy, proxmox = Caddy(), Proxmox()
    base = context(tmp_path, Clients(caddy=caddy, proxmox=proxmox))  # type: ignore[arg-type]
    base.serve({"ProxyRoute": ProxyRouteReconciler(), "Machine": MachineReconciler()})
    route = base.for_object(("ProxyRoute", "shop")).clients
    assert route.caddy is caddy
    with pytest.raises(MissingClient, match="ProxyRoute reconciler did not declare the 'proxmox'"):
        _ = route.proxmox
    assert base.for_object(("Machine", "pve1")).clients.proxmox is proxmox


def test_the_engine_refuses_to_start_without_a_declared_client(tmp_path: Path) -> None:
    base = context(tmp_path, Clients(proxmox=Proxmox()))  # type: ignore[arg-type]
    with pytest.raises(MissingClient, match="ProxyRoute reconciler needs the 'caddy' client"):
        Engine(
            store=base.store,
            reconcilers={"ProxyRoute": ProxyRouteReconciler()},
            context=base,
            clock=base.clock,
            settings=ControllerSettings(),
            leadership=AlwaysLeader(),  # type: ignore[arg-type]
        )


def test_a_context_nobody_served_holds_every_client_given(tmp_path: Path) -> None:
    proxmox = Proxmox()
    base = context(tmp_path, Clients(proxmox=proxmox))  # type: ignore[arg-type]
    clients = base.for_object(("Machine", "pve1")).clients
    assert clients.proxmox is proxmox
    with pytest.raises(MissingClient, match="no 'ssh' client configured"):
        _ = clients.ssh


def test_the_set_is_frozen() -> None:
    clients = Clients()
    with pytest.raises(AttributeError, match="frozen"):
        clients.proxmox = Proxmox()  # type: ignore[misc,assignment]
