"""Node and cluster firewall rules (`host.fw`, `cluster.fw`) and a node's `sshd -T`."""

from __future__ import annotations

from pathlib import Path

import pytest
from proxmoxer import ResourceException

from homeport.simulator.pve.node_shell import NodeSshd
from tests.simulator.proxmox.target import Target
from tests.simulator.proxmox.test_node_shell import _run, shell

__all__ = ["shell"]  # the fixture, shared with the node shell tests


@pytest.mark.parametrize("scope", ["node", "cluster"])
def test_host_rules(sim: Target, scope: str) -> None:
    rules = (
        sim.api.nodes("pve1").firewall.rules if scope == "node" else sim.api.cluster.firewall.rules
    )
    assert rules.get() == []
    rules.post(type="in", action="ACCEPT", proto="tcp", dport="8006", comment="web ui")
    rules.post(type="in", action="ACCEPT", macro="SSH", source="100.64.0.0/10", enable=1)
    first, second = rules.get()
    assert (first["pos"], first["macro"], first["enable"], first["ipversion"]) == (0, "SSH", 1, 4)
    assert (second["pos"], second["dport"], second["enable"]) == (1, "8006", 0)  # unshifted, off
    assert first["digest"] == second["digest"]
    assert rules(1).get()["comment"] == "web ui"
    with pytest.raises(ResourceException) as err:
        rules(0).delete(digest="0" * 40)
    assert err.value.content.startswith("detected modified configuration")
    rules(0).delete(digest=first["digest"])
    assert [r["comment"] for r in rules.get()] == ["web ui"]
    with pytest.raises(ResourceException) as err:
        rules(5).get()
    assert err.value.content == "no rule at position 5"


def test_node_sshd_settings(sim: Target, shell: NodeSshd) -> None:
    ((rc, out, _),) = _run(shell, ["sshd", "-T"])
    settings = dict(line.split(" ", 1) for line in out.decode().splitlines())
    assert rc == 0 and settings["passwordauthentication"] == "no"
    assert settings["permitrootlogin"] == "without-password"
    config = Path(shell.root) / "etc/ssh/sshd_config"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("# hand-edited\nPasswordAuthentication yes\n")
    ((_, out, _),) = _run(shell, ["sshd", "-T"])
    assert "passwordauthentication yes" in out.decode().splitlines()
