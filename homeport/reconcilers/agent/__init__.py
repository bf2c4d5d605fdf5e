"""Agent: one homeport-owned systemd service on every VM its selector picks.

The estate's DaemonSet (node-exporter, promtail on every production VM). Per selected VM:
apt packages (``packages.py``), a system user, a unit and a 0600 EnvironmentFile
(``service.py``, shared with the App reconciler), enabled and running, its port
answering. A VM that stops matching, and every VM once the Agent is deleted, has the
unit stopped and removed; packages stay installed. Agents are not Apps: they never
count against a VM's ``maxApps``. ``observe.py`` reads, ``plan.py`` decides (pure).
"""

from __future__ import annotations

from homeport.reconcilers.agent.observe import AgentSettings
from homeport.reconcilers.agent.plan import AgentObserved, plan_agent
from homeport.reconcilers.agent.reconciler import AgentReconciler

__all__ = ["AgentObserved", "AgentReconciler", "AgentSettings", "plan_agent"]
