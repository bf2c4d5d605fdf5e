"""Durable memory slots that code outside their reconciler reads or writes by name.

A slot is written by its kind's reconciler; the controller's approvals and the CLI read
(and, for an approval, write) some of them. Their names live here, in a module that
imports nothing, so a read command can name a slot without loading the reconciler that
owns it (``homeport status`` must not import the reconcilers and their clients).
"""

from __future__ import annotations

REMOVAL_SLOT = "removal"
"""``VM.removal``: when the removal began, its policy, and the hold once recorded."""
APPROVAL_SLOT = "destroy-approval"
"""``VM.destroy-approval``: written by ``homeport approve VM/<name>``; names the removal."""
