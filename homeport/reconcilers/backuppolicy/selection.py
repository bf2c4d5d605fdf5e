"""Which VMs a BackupPolicy covers: the union of its named VMs and those carrying all of
its ``matchLabels`` (``BackupPolicy.covers``, which ``homeport backup now`` asks too when
it takes the storage and options of a policy covering the VM). Used by ``observe.py``."""

from __future__ import annotations

from homeport.kinds import VM, BackupPolicy


def selects(policy: BackupPolicy, vm: VM) -> bool:
    return policy.covers(vm)
