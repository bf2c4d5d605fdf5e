"""The vendor-schema referee, wired into the suite (`tests/conftest.py` uses it).

Every `/api2/json` exchange of every simulator in the test process is heard
(`simulator.proxmox_api.exchanges`) and, when the test ends, checked against PVE's own API
schema (`../shared/reference/pve-apidata-9.1.json`, see `apidata_path`) by
`simulator.proxmox_api.referee`. A request real PVE would refuse, or an answer real PVE
could not give, fails the test with the method, path, parameter and rule.

Tests that send refused requests on purpose (the simulator's own error-path tests) carry
the `pve_refusal_expected` marker: for them a request the simulator also refused (4xx/501)
is the expected verdict; a refused-by-PVE request the simulator *accepted* still fails.
Known disagreements that are not fixed yet live in `ALLOWED`, each with its reason.
"""

from __future__ import annotations

import functools
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from homeport.simulator.proxmox_api.exchanges import Exchange
from homeport.simulator.proxmox_api.referee import ApiSchema, Violation

APIDATA = Path("shared") / "reference" / "pve-apidata-9.1.json"
APIDATA_ENV = "HOMEPORT_PVE_APIDATA"
ROOT = Path(__file__).parents[1]
REFUSAL_MARKER = "pve_refusal_expected"


@dataclass(frozen=True)
class Allowed:
    """A known disagreement with the vendor schema, tolerated until fixed."""

    method: str
    template: str
    where: str  # the violation's `where` ("parameter 'x'", "returns.data.y"), exact
    reason: str

    def covers(self, violation: Violation) -> bool:
        return (self.method, self.template, self.where) == (
            violation.method,
            violation.template,
            violation.where,
        )


# Every entry says why it is tolerated; an entry that no longer matches anything is harmless
# but should be deleted with the fix that made it unnecessary.
ALLOWED: tuple[Allowed, ...] = (
    Allowed(
        "POST",
        "/nodes/{node}/replication/{id}/schedule_now",
        "returns.data",
        "the schema says 'string', but PVE's handler (PVE::API2::ReplicationNode "
        "schedule_now) ends with `schedule_job_now($jobcfg)` and returns no value of its own; "
        "PVE verifies returns only in debug builds. The simulator answers null, homeport "
        "reads nothing from it (ProxmoxReplication.schedule_now returns None).",
    ),
)


def apidata_path() -> Path:
    """`$HOMEPORT_PVE_APIDATA`, else `shared/reference/...` beside the repository (or above)."""
    override = os.environ.get(APIDATA_ENV)
    if override:
        return Path(override)
    for parent in ROOT.parents:
        if (parent / APIDATA).exists():
            return parent / APIDATA
    raise FileNotFoundError(
        f"the PVE API schema {APIDATA} is not beside the repository ({ROOT.parent}) or above;"
        f" set {APIDATA_ENV} to its path"
    )


@functools.cache
def vendor_schema() -> ApiSchema:
    """Loaded once, by the first test that talked to a simulated PVE."""
    return ApiSchema.load(apidata_path())


class Recorder:
    """Collects exchanges from every thread; a test reads the ones since it started."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._exchanges: list[Exchange] = []

    def __call__(self, exchange: Exchange) -> None:
        with self._lock:
            self._exchanges.append(exchange)

    def take(self) -> list[Exchange]:
        with self._lock:
            taken, self._exchanges = self._exchanges, []
        return taken


def verdict(schema: ApiSchema, exchanges: list[Exchange], *, refusals_expected: bool) -> list[str]:
    """What the referee objects to, one line per violation (empty when all is well)."""
    lines: list[str] = []
    for exchange in exchanges:
        refused = exchange.status >= 400
        for violation in schema.check(exchange):
            if any(entry.covers(violation) for entry in ALLOWED):
                continue
            if refusals_expected and refused and not violation.where.startswith("returns"):
                continue
            lines.append(f"{violation} [the simulator answered {exchange.status}]")
    return sorted(set(lines))
