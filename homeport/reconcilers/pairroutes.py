"""How Caddy reaches the members of a StandbyPair: timeouts derived from the pair's probe.

Shared by the StandbyPair reconciler (which writes the routes while it fails over) and
the ProxyRoute reconciler (which keeps them afterwards): both must build the same JSON,
or they would rewrite each other's route.

A request to a hung primary must not wait longer than the pair needs to notice that the
primary is hung: past that, the pair fails over and the answer, if it ever comes, would
be the old primary's. So an upstream has the pair's detection time to send its response
headers (then Caddy answers 504 and drops the connection), and a probe's timeout to accept
a connection. Retries of a failed connection stay within that same short time: a retry can
only reach the same upstream (the request keeps the route it started with); the client's
own retry reaches the new primary.

Caddy 2.6 cannot abort a request in flight: it serves it to its end with the config it
started under, whatever the route becomes and whatever ``apps.http.grace_period`` says
(``tests/clients/test_caddy_inflight.py`` shows both with the real Caddy). What bounds it
is these timeouts: :meth:`MemberTimeouts.in_flight` is how long after the ingress cut a
request forwarded before it can still be answered by the old primary. A failover whose old
primary was not confirmed stopped routes to the new one only after that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeport.clients.caddy_config import TRY_INTERVAL, duration
from homeport.kinds.standbypair import Probe


@dataclass(frozen=True)
class MemberTimeouts:
    dial: float
    response_header: float
    try_duration: float

    @classmethod
    def of(cls, probe: Probe) -> MemberTimeouts:
        detection = probe.interval_seconds * probe.failure_threshold + probe.timeout_seconds
        return cls(
            dial=probe.timeout_seconds,
            response_header=detection,
            try_duration=probe.timeout_seconds,
        )

    def in_flight(self) -> float:
        """Seconds after the ingress cut until every request Caddy forwarded to the member
        before it has ended, once Caddy has the whole request: retries of a failed dial
        start within ``try_duration`` (plus one ``try_interval``), each dial takes at most
        ``dial``, and the member then has ``response_header`` to answer. A request that is
        still uploading its body counts from the end of the upload."""
        return self.try_duration + TRY_INTERVAL + self.dial + self.response_header

    def route_fields(self) -> dict[str, Any]:
        """The ``RouteSpec`` fields of a route to a pair member."""
        return {
            "dial_timeout": self.dial,
            "response_header_timeout": self.response_header,
            "try_duration": duration(self.try_duration),
        }
