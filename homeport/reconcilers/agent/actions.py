"""The changes the Agent reconciler makes besides the shared service ones (``service.py``:
unit, env file, restart; ``packages.py``: apt), as values."""

from __future__ import annotations

from dataclasses import dataclass

from homeport.reconcilers.base import Action


@dataclass(frozen=True)
class TrackVM(Action):
    """Remember (in the Agent's durable memory) that a VM is about to run the agent, before
    anything is written there: a VM that later stops matching is found again and cleaned,
    even after a crash between the install and the status write."""

    vm: str
    host: str
    verb = "track"

    def describe(self) -> str:
        return f"record that VM {self.vm} runs the agent"


@dataclass(frozen=True)
class CreateUser(Action):
    host: str
    user: str
    verb = "create-user"

    def describe(self) -> str:
        return f"create system user {self.user} on {self.host}"


@dataclass(frozen=True)
class RemoveAgent(Action):
    """Stop, disable and delete the agent's unit and env file on a VM that no longer runs
    it; its packages stay installed (other software may use them)."""

    vm: str
    host: str
    unit: str
    unit_path: str
    env_path: str
    verb = "remove"

    def describe(self) -> str:
        return (
            f"stop and disable {self.unit} on VM {self.vm}, remove its unit and env file "
            "(packages are kept)"
        )


@dataclass(frozen=True)
class ForgetVM(Action):
    """Drop a VM from the Agent's memory: nothing of the agent is left on it (or the VM is
    gone)."""

    vm: str
    why: str
    verb = "forget"

    def describe(self) -> str:
        return f"forget VM {self.vm} ({self.why})"
