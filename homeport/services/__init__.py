"""The daemon's side services: what runs beside the reconcile loop (``homeport.controller``)
and never inside it.

``audit`` compares the estate with git and the store every so often; ``notify`` tells the
operator about failovers and failing objects; ``telemetry`` exports traces and metrics;
``ha`` holds leadership and shares the store across control planes (etcd); ``views`` are the
read models of the store that ``homeport status``/``get``/``describe`` and the status page
(``web``) show. The daemon (``homeport.controller.daemon``) starts them; the loop itself
knows none of them.
"""
