"""``VmConfig.from_pending``: the config ``GET config`` would show (pending values merged),
rebuilt from ``GET .../pending`` so a VM's observation reads one endpoint, not two."""

from __future__ import annotations

from typing import Any

from homeport.clients.proxmox_models import PendingChange, VmConfig

PENDING: list[dict[str, Any]] = [
    {"key": "cores", "value": 2, "pending": 4},
    {"key": "memory", "value": "2048"},
    {"key": "onboot", "value": 1, "delete": 1},
    {"key": "net1", "pending": "virtio=BC:24:11:00:00:01,bridge=vmbr0"},
    {"key": "digest", "value": "0123abcd"},
    {"key": "cipassword", "value": "**********"},
]


def test_pending_values_win_and_pending_deletes_are_gone() -> None:
    config = VmConfig.from_pending(100, PENDING)
    assert config.values == {
        "cores": 4,
        "memory": "2048",
        "net1": "virtio=BC:24:11:00:00:01,bridge=vmbr0",
        "cipassword": "**********",
    }
    assert config.memory_mib == 2048


def test_it_carries_no_digest_to_write_with() -> None:
    assert VmConfig.from_pending(100, PENDING).digest == ""


def test_the_same_answer_lists_the_pending_keys() -> None:
    changes = PendingChange.parse_list(PENDING)
    assert sorted(c.key for c in changes if c.pending is not None or c.delete) == [
        "cores",
        "net1",
        "onboot",
    ]
