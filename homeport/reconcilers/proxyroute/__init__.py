"""ProxyRoute: one route in the real Caddy, ``@id`` ``homeport-route-<name>``, HTTPS only.

Routes to an App's tailnet address and port, or to a StandbyPair's *current primary*
(with the pair's fencing epoch as a request header). Only homeport's own routes and
server block are touched; every write is verified by reading Caddy's config back.

Every route is observed from one shared read of homeport's route servers per window
(``ROUTES``); a plan that would write is made again on a fresh read first. ``plan.py``
decides (pure), ``reconciler.py`` observes and acts.
"""

from __future__ import annotations

from homeport.reconcilers.proxyroute.plan import RouteObserved, plan_route
from homeport.reconcilers.proxyroute.reconciler import ProxyRouteReconciler

__all__ = ["ProxyRouteReconciler", "RouteObserved", "plan_route"]
