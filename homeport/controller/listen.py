"""Where the Prometheus scrape endpoint and the status page may listen: loopback or the
tailnet, nothing else.

``config.TelemetrySettings`` validates ``prometheus_listen`` (and ``config.WebSettings``
``[web] listen``) with ``scrape_address`` when the config is loaded, and ``services/telemetry/exporters`` /
``services/web`` parse it again before binding: metrics and the page name every VM, app
and pair of the estate, so they never face a public interface.
"""

from __future__ import annotations

import ipaddress

TAILNET_NETWORKS = (
    ipaddress.ip_network("100.64.0.0/10"),
    ipaddress.ip_network("fd7a:115c:a1e0::/48"),
)
"""Tailscale's address ranges (CGNAT IPv4 and its ULA IPv6 prefix)."""

FIX = "use 127.0.0.1:<port>, [::1]:<port> or this machine's tailnet address (100.64.0.0/10, fd7a:115c:a1e0::/48)"


def scrape_address(
    listen: str, *, setting: str = "prometheus_listen", any_port: bool = False
) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` for IPv6) → (address to bind, port).

    Raises ``ValueError`` saying what to write instead for anything but a loopback or
    tailnet address: an empty host, ``0.0.0.0``, ``::`` and host names other than
    ``localhost`` (which binds 127.0.0.1) would reach other interfaces.
    """
    host, port = _split(listen, setting, any_port)
    if host == "localhost":
        return "127.0.0.1", port
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(
            f"{setting} {listen!r}: {host or 'an empty host'} is not an IP address; {FIX}"
        ) from None
    if not (address.is_loopback or any(address in net for net in TAILNET_NETWORKS)):
        raise ValueError(
            f"{setting} {listen!r}: {address} is neither loopback nor a tailnet address; {FIX}"
        )
    return str(address), port


def _split(listen: str, setting: str, any_port: bool) -> tuple[str, int]:
    """``any_port``: port 0 is allowed (the system picks a free one)."""
    host, sep, port_text = listen.rpartition(":")
    lowest = 0 if any_port else 1
    if not sep or not port_text.isdigit() or not lowest <= int(port_text) < 65536:
        raise ValueError(f"{setting} {listen!r}: expected host:port; {FIX}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"{setting} {listen!r}: write IPv6 addresses as [addr]:port")
    return host, int(port_text)
