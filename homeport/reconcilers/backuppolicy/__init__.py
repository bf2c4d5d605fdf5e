"""BackupPolicy: one Proxmox backup job per policy, freshness, offsite copies, restore tests.

``observe.py`` reads (Proxmox, the store, the tailnet, scratch VMs), ``plan.py`` decides
(pure; ``restoretest.py`` for restore tests), ``reconciler.py`` performs one action through the
clients (``offsite.py`` for checksum-verified copies). The policy's durable memory
(``ctx.recall``) keeps what cannot be re-observed: when each VM joined the job, which
failed runs were reported, the restore-test results and the test in progress. Nothing
here deletes an archive.
"""

from __future__ import annotations

from homeport.reconcilers.backuppolicy.observe import BackupSettings
from homeport.reconcilers.backuppolicy.observed import BackupObserved
from homeport.reconcilers.backuppolicy.ondemand import is_open
from homeport.reconcilers.backuppolicy.plan import plan_backup
from homeport.reconcilers.backuppolicy.reconciler import BackupPolicyReconciler, job_spec

__all__ = [
    "BackupObserved",
    "BackupPolicyReconciler",
    "BackupSettings",
    "is_open",
    "job_spec",
    "plan_backup",
]
