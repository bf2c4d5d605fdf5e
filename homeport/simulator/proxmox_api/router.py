"""Routes of the simulated API: path templates, schemas, handlers, and how a path finds one.

A template segment `{name}` matches one path segment; `{volume}` at the end takes the rest of
the path, slashes included (PVE's `fragmentDelimiter`), so raw volids like
`local:backup/vzdump-...` work. A path with no route, or no route for the method, is PVE's
`501 Method 'GET /x' not implemented`. Handlers get a `Call`; the `routes_*` modules build
the table.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from homeport.simulator.errors import PveError
from homeport.simulator.proxmox_api.auth import Identity
from homeport.simulator.schema import Schema

if TYPE_CHECKING:
    from homeport.simulator.proxmox_api.context import ApiContext
    from homeport.simulator.pve.world import World


@dataclass(frozen=True)
class Result:
    """A handler result with top-level siblings of `data` (e.g. `total`)."""

    data: Any
    extra: dict[str, Any]


@dataclass
class Call:
    api: ApiContext
    identity: Identity
    params: dict[str, Any]

    @property
    def world(self) -> World:
        return self.api.world

    @property
    def user(self) -> str:
        return self.identity.task_user

    @property
    def node(self) -> str:
        return str(self.params["node"])

    @property
    def vmid(self) -> int:
        return int(self.params["vmid"])


Handler = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    handler: Handler
    schema: Schema
    proxied: bool
    pattern: re.Pattern[str]


def route(
    method: str,
    template: str,
    handler: Handler,
    schema: Schema | None = None,
    *,
    proxied: bool | None = None,
) -> Route:
    return Route(
        method=method,
        template=template,
        handler=handler,
        schema=schema or Schema(),
        proxied="{node}" in template if proxied is None else proxied,
        pattern=_compile(template),
    )


def _compile(template: str) -> re.Pattern[str]:
    parts = []
    for segment in template.strip("/").split("/"):
        if segment == "{volume}":
            parts.append("(?P<volume>.+)")
        elif segment.startswith("{"):
            parts.append(f"(?P<{segment[1:-1]}>[^/]+)")
        else:
            parts.append(re.escape(segment))
    return re.compile("^/" + "/".join(parts) + "$")


class Router:
    def __init__(self, routes: list[Route]) -> None:
        self._routes = routes

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        normalized = "/" + "/".join(p for p in path.split("/") if p)
        for candidate in self._routes:
            match = candidate.pattern.match(normalized)
            if match is not None and candidate.method == method:
                return candidate, match.groupdict()
        raise PveError(f"Method '{method} {path}' not implemented", status=501)
