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
flap on exec           the guest runs an SSH exec line matching a pattern, then drops
                       off the network (as a partition) for a while: the client loses
                       the answer of a command that did run.
SSH refused            only the SSH port is closed (``Connection refused``).
app hang               the app's port accepts and reads requests, never answers.
app error              the app answers every request with the given status (500).
disk full              every write through the guest disk fails with ENOSPC.
=====================  ==============================================================
"""

from __future__ import annotations

import re
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
    flapping: int = 0
    ssh_refused: bool = False
    disk_full: bool = False
    apps: dict[str, AppFault] = field(default_factory=dict)

    @property
    def silent(self) -> bool:
        """The VM is powered but nothing inside answers."""
        return self.hung or self.crashed

    @property
    def cut_off(self) -> bool:
        """Off the network: partitioned, or in the middle of a flap."""
        return self.partitioned or self.flapping > 0


@dataclass
class ExecFlap:
    """A network flap the guest times itself, so a test can prove it landed mid-operation:
    the first ``count`` SSH exec lines matching ``pattern`` (on any guest of the runtime)
    each run, then the guest is cut off for ``seconds`` before the answer goes out.
    ``fired`` lists the lines that triggered it."""

    pattern: re.Pattern[str]
    seconds: float
    count: int
    fired: list[str] = field(default_factory=list)

    def take(self, line: str) -> bool:
        """Whether ``line`` triggers a flap now (counted)."""
        if len(self.fired) >= self.count or not self.pattern.search(line):
            return False
        self.fired.append(line)
        return True
