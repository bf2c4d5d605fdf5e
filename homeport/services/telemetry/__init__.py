"""OpenTelemetry for the daemon: traces and metrics, exported where the config says.

``hooks.Telemetry`` is what the daemon's parts call: the engine opens a span per reconcile
(``spans``) with children per observe and per action, beneath which the clients open theirs
(``homeport.clients.tracing``); the engine, the controller context and the StandbyPair probe
loop feed the instruments (``instruments``), which read the queue and the store for the
observable gauges (``readings``). ``exporters`` builds the providers from ``[telemetry]``
(binding only where ``homeport.controller.listen`` allows: loopback or the tailnet);
``sampling`` drops the probe loop's own root spans.

This package imports nothing at its top: the CLI loads ``hooks`` alone.
"""
