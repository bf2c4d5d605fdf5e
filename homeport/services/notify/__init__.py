"""Notifications: failovers (with their timeline and RPO), stalled reconciles, stale or
failed backups, failed restore tests, audit findings and control-plane leader changes,
sent to webhooks, SMTP and Telegram-compatible bots per ``[notify]``.

``triggers.py`` turns store events and conditions into triggers (pure), ``messages.py``
renders them (pure), ``notifier.py`` routes and deduplicates them on the leader,
``delivery.py`` queues, rate-limits and retries per sink; the sinks' protocols are in
``clients/notify.py``.
"""

from homeport.services.notify.notifier import Notifier, build_sender, run_notifier, sinks_for

__all__ = ["Notifier", "build_sender", "run_notifier", "sinks_for"]
