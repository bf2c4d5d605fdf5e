"""Which VMs a BackupPolicy covers: the union of its named VMs and those carrying all of
its ``matchLabels``. Used by ``observe.py`` and by ``homeport backup now`` (which takes the
storage and options of a policy covering the VM)."""

from __future__ import annotations

from homeport.kinds import VM, BackupPolicy


def selects(policy: BackupPolicy, vm: VM) -> bool:
    selector = policy.spec.selector
    if vm.name in selector.names:
        return True
    return selector.matches_labels(vm.metadata.labels)
