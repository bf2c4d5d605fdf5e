"""Thin, typed adapters over the real protocols; retries, timeouts and error mapping live here.

Reconcilers (``homeport.reconcilers``) act on the world only through these; the controller
builds them from its settings (``homeport.controller.wiring``) and closes them on exit.

- ``proxmox`` (``ProxmoxClient``) over ``proxmox_transport`` (proxmoxer, verified HTTPS,
  API token from a file); sub-APIs ``proxmox_tasks``, ``proxmox_agent``, ``proxmox_backups``,
  ``proxmox_replication``, ``proxmox_ha``, ``proxmox_firewall``; parsing in
  ``proxmox_models`` (pydantic models over the field types of ``proxmox_fields``) and
  ``proxmox_wire``, error mapping in ``proxmox_errors``.
- ``ssh`` (``SSHPool``: asyncssh, key-only, strict ``known_hosts``) with ``ssh_files``
  (atomic installs, symlinks) and ``systemd`` on top.
- ``caddy`` (``CaddyClient``: admin API over httpx) with ``caddy_config`` (route JSON, ETags).
- ``tailscale`` (``TailscaleClient``: devices, auth keys over httpx).
- ``probes`` (HTTP and TCP health probes).
- ``bundle`` (``Clients``: the frozen, typed set of the above that wiring builds and the
  engine hands each reconciler the declared part of, as ``ctx.clients``).
- Shared: ``errors`` (the exception tree), ``secret``, ``timing`` (clock, sleep, retries),
  ``tracing`` (OpenTelemetry spans), ``callstats``.
"""
