"""ProxyRoute: a hostname on the Caddy router (public or tailnet-only), sent to an App or a
StandbyPair.

Converged by ``reconcilers/proxyroute.py`` as one Caddy route whose ``@id`` homeport owns.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import ValidationInfo, field_validator, model_validator

from homeport.kinds.common import DnsLabel, Hostname, ObjectRef, RefPath, Resource, SpecBase


class ProxyRouteSpec(SpecBase):
    """Desired state of a ProxyRoute. Routes are HTTPS only; plain HTTP is redirected."""

    exposure: Literal["public", "tailnet"] = "public"
    """`public`: served on the router's public listener. `tailnet`: served only on the
    router's tailnet address (`[caddy] tailnet_listen`), never on the public listener, with a
    certificate from Caddy's internal CA."""
    host: Hostname
    """Hostname, e.g. `shop.example.com`; a private name (`.local`, `.internal`, `.lan`,
    `.home.arpa`, ...) only with `exposure: tailnet`."""
    app: DnsLabel | None = None
    """The App to send traffic to (exactly one of `app` and `standbyPair`)."""
    standby_pair: DnsLabel | None = None
    """The StandbyPair to send traffic to: always its current primary."""
    path_prefix: str | None = None
    """Only requests under this path prefix, e.g. `/api`."""
    upstream_health_check: bool = True
    """Let Caddy actively check the upstream with the App's health check."""

    @field_validator("host")
    @classmethod
    def _public_host(cls, value: str, info: ValidationInfo) -> str:
        # `exposure` is declared first so that it is known here and the error is on `host:`.
        if info.data.get("exposure") == "public" and (zone := private_zone(value)) is not None:
            raise ValueError(
                f"host {value!r} is a private name ({zone!r} is not resolvable on the "
                "internet) on a public route: set 'exposure: tailnet' to serve it only on the "
                "router's tailnet address, or use a public hostname"
            )
        return value

    @field_validator("path_prefix")
    @classmethod
    def _prefix(cls, value: str | None) -> str | None:
        if value is not None and (not value.startswith("/") or "*" in value):
            raise ValueError(f"pathPrefix {value!r} must start with '/' and contain no '*'")
        return value

    @model_validator(mode="after")
    def _one_target(self) -> ProxyRouteSpec:
        if (self.app is None) == (self.standby_pair is None):
            raise ValueError("set exactly one of 'app' and 'standbyPair'")
        return self


PRIVATE_ZONES = (
    "local",
    "internal",
    "lan",
    "home.arpa",
    "localhost",
    "intranet",
    "private",
    "corp",
    "home",
    "localdomain",
)
"""Names that exist only inside a site (RFC 6762 appendix G, RFC 8375, ICANN's .internal)."""


def private_zone(host: str) -> str | None:
    """The private zone ``host`` belongs to, if any (``chat.yourdomain.local`` → ``local``)."""
    name = host.lower().rstrip(".")
    for zone in PRIVATE_ZONES:
        if name == zone or name.endswith(f".{zone}"):
            return zone
    return None


class ProxyRoute(Resource):
    """A public hostname routed by Caddy."""

    kind_name: ClassVar[str] = "ProxyRoute"
    plural: ClassVar[str] = "proxyroutes"
    short_names: ClassVar[tuple[str, ...]] = ("proxyroute", "route", "pr")

    kind: Literal["ProxyRoute"]
    """Always `ProxyRoute`."""
    spec: ProxyRouteSpec
    """Desired state."""

    def reference_paths(self) -> list[tuple[RefPath, ObjectRef]]:
        if self.spec.app is not None:
            return [(("spec", "app"), ObjectRef(kind="App", name=self.spec.app))]
        assert self.spec.standby_pair is not None
        ref = ObjectRef(kind="StandbyPair", name=self.spec.standby_pair)
        return [(("spec", "standbyPair"), ref)]
