"""Guest-level faults: the state that ``runtime.LoopbackGuestRuntime`` injects and the
guest's pieces obey.

Each fault maps to one observable effect a real client would see:

=====================  ==============================================================
fault                  effect
=====================  ==============================================================
VM hang                ``nic.py`` black-holes every port: SSH and apps accept TCP but
                       never answer (timeouts); the guest agent stops answering.
VM crash               as hang, and the apps and sshd are dead (memory state lost).
partition              ``set_reachable(False)``: listeners closed, connections reset,
                       tailnet device disconnected.
SSH refused            only the SSH port is closed (``Connection refused``).
app hang               the app's port accepts and reads requests, never answers.
app error              the app answers every request with the given status (500).
disk full              every write through the guest disk fails with ENOSPC.
=====================  ==============================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class AppFault:
    mode: Literal["hang", "error"]
    status: int = 500


@dataclass
class GuestFaults:
    hung: bool = False
    crashed: bool = False
    partitioned: bool = False
    ssh_refused: bool = False
    disk_full: bool = False
    apps: dict[str, AppFault] = field(default_factory=dict)

    @property
    def silent(self) -> bool:
        """The VM is powered but nothing inside answers."""
        return self.hung or self.crashed
