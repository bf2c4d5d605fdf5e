"""App: a systemd service on a VM, deployed from git or a release artifact into
``/srv/apps/<name>`` (``artifact.py``, ``download.py``), or a packaged service with no
release at all (``source: none``).

Release directories per commit or artifact checksum with a ``current`` symlink switched atomically, a unit
file and a 0600 EnvironmentFile installed atomically (secrets read from the control
plane only when written, never logged), restart only on change, health-checked, rolled
back when a new release fails. ``observe.py`` reads, ``plan.py`` decides (pure).
"""

from __future__ import annotations

from homeport.reconcilers.app.observe import AppSettings
from homeport.reconcilers.app.plan import AppObserved, plan_app
from homeport.reconcilers.app.reconciler import AppReconciler

__all__ = ["AppObserved", "AppReconciler", "AppSettings", "plan_app"]
