"""StandbyPair: a primary App and its warm standby on another Machine; automatic,
fenced failover; explicit switchover and failback; rebuild of the standby afterwards.

``plan.py`` is the state machine (pure), ``observe.py`` reads, ``runtime.py`` probes and
replicates in the background, ``reconciler.py`` performs each step and moves the pair's
durable phase on, recording the failover's timeline (``homeport describe standbypair``).
"""

from __future__ import annotations

from homeport.reconcilers.standbypair.plan import PairObserved, plan_pair
from homeport.reconcilers.standbypair.reconciler import StandbyPairReconciler
from homeport.reconcilers.standbypair.runtime import ProbeObserver
from homeport.reconcilers.standbypair.transitions import with_table

__all__ = ["PairObserved", "ProbeObserver", "StandbyPairReconciler", "plan_pair", "with_table"]
