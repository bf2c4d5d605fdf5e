"""Agents on the simulated estate: the unit runs on every selected VM beside its App (never
counted against maxApps), a converged estate plans nothing, a VM that stops matching has
the unit removed (its packages stay), a newly labelled VM gets it, and deleting the Agent
removes it everywhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from homeport.simulator.guest.dpkg import STATUS
from homeport.simulator.guest.guest import SimulatedGuest
from testkit.harness import ROOT, EstateHarness, until

pytestmark = pytest.mark.integration

UNIT = "homeport-agent-node-exporter.service"
UNIT_PATH = f"/etc/systemd/system/{UNIT}"


def vms(monitored: set[str]) -> str:
    documents = []
    for name in ("web-a", "web-b"):
        labels = '{monitor: "yes"}' if name in monitored else "{}"
        documents.append(
            "apiVersion: homeport.dev/v1alpha1\nkind: VM\n"
            f"metadata: {{name: {name}, labels: {labels}}}\n"
            "spec: {machine: dell, disk: {sizeGiB: 20}}\n"
        )
    documents.append(
        "apiVersion: homeport.dev/v1alpha1\nkind: App\nmetadata: {name: web-a}\n"
        "spec:\n  vm: web-a\n  source: {repo: https://git.example.com/edge/shop.git, ref: main}\n"
        "  execStart: /usr/bin/python3 app.py\n  port: 8080\n"
    )
    return "---\n".join(documents)


AGENT = """\
apiVersion: homeport.dev/v1alpha1
kind: Agent
metadata: {name: node-exporter}
spec:
  selector: {matchLabels: {monitor: "yes"}}
  packages: [{name: prometheus-node-exporter, version: 1.7.0-1ubuntu0.3}]
  user: prometheus
  execStart: /usr/bin/prometheus-node-exporter
  port: 9100
  env: {NODE_EXPORTER_COLLECTORS: cpu}
"""


def guest(h: EstateHarness, name: str) -> SimulatedGuest:
    assert h.estate.pve is not None and h.estate.guests is not None
    vmid = next(v.vmid for v in h.estate.pve.world.vms.values() if v.name == name)
    return h.estate.guests.guest(vmid)


def agent_details(h: EstateHarness) -> dict[str, object]:
    agent = h.object("Agent", "node-exporter")
    assert agent is not None
    return dict(agent.status.details)


async def test_agent_follows_its_selector_and_is_removed_with_it(tmp_path: Path) -> None:
    async with EstateHarness.running(tmp_path, manifests=None, start_daemon=False) as h:
        machines = (ROOT / "manifests" / "machines" / "machines.yaml").read_text()
        await h.push(
            {
                "manifests/machines.yaml": machines,
                "manifests/web.yaml": vms({"web-a"}),
                "manifests/agent.yaml": AGENT,
            }
        )
        await h.start_daemon()
        await h.converged(timeout=180)
        a, b = guest(h, "web-a"), guest(h, "web-b")
        # The agent runs beside the App of web-a (maxApps 1 counts Apps only).
        assert a.systemd.units[UNIT].active == "active"
        assert a.systemd.units["homeport-web-a.service"].active == "active"
        assert "Package: prometheus-node-exporter\n" in a.disk.host(STATUS).read_text()
        assert UNIT not in b.systemd.units
        assert not b.disk.host(UNIT_PATH).exists()
        details = agent_details(h)
        assert (details["selected"], details["ready"], details["failed"]) == (1, 1, [])
        assert details["vms"] == {"web-a": "Ready"}
        unit_text = a.disk.host(UNIT_PATH).read_text()
        assert (
            "User=prometheus" in unit_text
            and "managed by homeport: Agent/node-exporter" in unit_text
        )
        env = a.disk.host("/etc/homeport/agents/node-exporter.env")
        assert env.stat().st_mode & 0o777 == 0o600

        # Converged: a full resync plans nothing.
        assert await h.planned_changes() == []

        # web-a loses the label, web-b gains it: the agent moves, the package stays on web-a.
        await h.push({"manifests/web.yaml": vms({"web-b"})})
        await until(
            lambda: (
                agent_details(h).get("vms") == {"web-b": "Ready"}
                and not a.disk.host(UNIT_PATH).exists()
            ),
            what="the agent moved to web-b",
            timeout=120,
        )
        assert b.systemd.units[UNIT].active == "active"
        assert not a.disk.host("/etc/homeport/agents/node-exporter.env").exists()
        assert a.systemd.units.get(UNIT) is None or a.systemd.units[UNIT].active != "active"
        assert "Package: prometheus-node-exporter\n" in a.disk.host(STATUS).read_text()
        assert a.systemd.units["homeport-web-a.service"].active == "active"
        assert await h.planned_changes() == []

        # The Agent deleted: its unit goes from every VM, then the object is forgotten.
        await h.push({"manifests/agent.yaml": None})
        await until(
            lambda: h.object("Agent", "node-exporter") is None,
            what="the Agent pruned",
            timeout=120,
        )
        assert not b.disk.host(UNIT_PATH).exists()
        assert not b.disk.host("/etc/homeport/agents/node-exporter.env").exists()
