"""``Clients``: the frozen, typed set of clients homeport talks to the world through.

``homeport.controller.wiring`` builds one (every protocol); the engine hands each
reconciler the part it declared (``Reconciler.uses``, checked when the engine starts) and
reconcilers reach a client as ``ctx.clients.proxmox``, typed, so mypy checks every call.
A client that was not declared (or not configured: a test's partial set) raises
``MissingClient`` on first use, naming who asked and how to fix it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Literal, NoReturn, TypeVar, cast, get_args

from homeport.clients.caddy import CaddyClient
from homeport.clients.probes import Prober
from homeport.clients.proxmox import ProxmoxClient
from homeport.clients.ssh import SSHPool
from homeport.clients.systemd import Systemd
from homeport.clients.tailscale import TailscaleClient

ClientName = Literal["proxmox", "ssh", "systemd", "caddy", "tailscale", "prober"]
CLIENT_NAMES: tuple[ClientName, ...] = get_args(ClientName)
SHARED: frozenset[ClientName] = frozenset({"systemd"})
"""Clients that own nothing of their own (``systemd`` runs over the ``ssh`` pool): never
closed, or the pool would be closed twice."""

T = TypeVar("T")


class MissingClient(LookupError):
    """A client was asked for that this set does not hold (see ``Clients.only``)."""


class Clients:
    """One client per protocol; frozen. Absent ones raise ``MissingClient`` when used."""

    __slots__ = ("_given", "_owner")
    _given: dict[ClientName, object]
    _owner: str

    def __init__(
        self,
        *,
        proxmox: ProxmoxClient | None = None,
        ssh: SSHPool | None = None,
        systemd: Systemd | None = None,
        caddy: CaddyClient | None = None,
        tailscale: TailscaleClient | None = None,
        prober: Prober | None = None,
    ) -> None:
        given: dict[ClientName, object | None] = {
            "proxmox": proxmox,
            "ssh": ssh,
            "systemd": systemd,
            "caddy": caddy,
            "tailscale": tailscale,
            "prober": prober,
        }
        self._seal({n: c for n, c in given.items() if c is not None}, owner="")

    def _seal(self, given: dict[ClientName, object], *, owner: str) -> None:
        object.__setattr__(self, "_given", given)
        object.__setattr__(self, "_owner", owner)

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError(f"Clients is frozen: cannot set {name!r}")

    @property
    def proxmox(self) -> ProxmoxClient:
        return self._need("proxmox", ProxmoxClient)

    @property
    def ssh(self) -> SSHPool:
        return self._need("ssh", SSHPool)

    @property
    def systemd(self) -> Systemd:
        return self._need("systemd", Systemd)

    @property
    def caddy(self) -> CaddyClient:
        return self._need("caddy", CaddyClient)

    @property
    def tailscale(self) -> TailscaleClient:
        return self._need("tailscale", TailscaleClient)

    @property
    def prober(self) -> Prober:
        return self._need("prober", Prober)

    def _need(self, name: ClientName, kind: type[T]) -> T:
        """The client ``name``; its static type is ``kind`` (tests hand in fakes of the
        same shape, so the value is not checked against it at run time)."""
        try:
            client = self._given[name]
        except KeyError:
            raise MissingClient(self._missing(name)) from None
        return cast(T, client)

    def _missing(self, name: ClientName) -> str:
        if self._owner:
            return (
                f"the {self._owner} reconciler did not declare the {name!r} client: "
                f"add it to its `uses`"
            )
        return f"no {name!r} client configured"

    def has(self, name: ClientName) -> bool:
        return name in self._given

    def missing(self, names: Iterable[ClientName]) -> list[ClientName]:
        """Which of ``names`` this set does not hold, in declaration order."""
        wanted = set(names)
        return [n for n in CLIENT_NAMES if n in wanted and n not in self._given]

    def only(self, names: Iterable[ClientName], *, owner: str) -> Clients:
        """The part of this set ``owner`` (a kind) declared: the others raise
        ``MissingClient`` naming ``owner``, so an undeclared use fails in its first test."""
        wanted = set(names)
        part = Clients()
        part._seal({n: c for n, c in self._given.items() if n in wanted}, owner=owner)
        return part

    def closable(self) -> Iterator[tuple[ClientName, object]]:
        """The clients this set owns connections of (``SHARED`` ones excluded)."""
        return ((n, c) for n, c in self._given.items() if n not in SHARED)

    def __repr__(self) -> str:
        held = ", ".join(self._given)
        return f"Clients({held})" + (f" for {self._owner}" if self._owner else "")
