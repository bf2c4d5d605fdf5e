"""What the world asks the fault injector (`faults.Faults`) while it works.

A narrow Protocol so the world model never imports the injector: tasks ask whether to fail
or stick, storage whether it is full, replication whether a job is stalled, a node's shell whether
an archive read is damaged. `NoFaults`
answers "no" to everything.
"""

from __future__ import annotations

from typing import Protocol

from homeport.simulator.pve.tasks import TaskAction


class FaultHooks(Protocol):
    def task_action(self, kind: str, ident: str, node: str) -> TaskAction | None: ...

    def storage_full(self, scope: str, storage: str) -> bool: ...

    def replication_error(self, job_id: str) -> str | None: ...

    def corrupt_read(self, node: str) -> bool:
        """Whether this archive read through `node`'s shell comes back damaged (and count it)."""
        ...


class NoFaults:
    def task_action(self, kind: str, ident: str, node: str) -> TaskAction | None:
        return None

    def storage_full(self, scope: str, storage: str) -> bool:
        return False

    def replication_error(self, job_id: str) -> str | None:
        return None

    def corrupt_read(self, node: str) -> bool:
        return False
