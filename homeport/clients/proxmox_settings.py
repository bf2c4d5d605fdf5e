"""How homeport reaches the Proxmox API: endpoint, token file, CA bundle, limits, retries.

Built by the controller from its configuration and given to ``proxmox.ProxmoxClient``;
``proxmox_transport`` reads the token file and CA bundle, ``proxmox_tasks`` the polling
cadence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from homeport.clients.timing import RetryPolicy


@dataclass(frozen=True, kw_only=True)
class ProxmoxSettings:
    """Connection settings for one Proxmox cluster (any node's API serves all of it)."""

    host: str
    """API host name or address (the certificate must name it)."""
    port: int = 8006
    """API port."""
    user: str = "homeport@pve"
    """The token's user, with its realm."""
    token_name: str = "homeport"
    """The API token id (the part after ``!``)."""
    token_file: Path
    """File holding the token secret (the UUID) and nothing else; mode 0600."""
    ca_bundle: Path | None = None
    """PEM bundle the API's certificate must chain to (the system CAs when unset).
    TLS is always verified; there is no way to turn that off."""
    timeout: float = 10.0
    """Seconds per HTTP request (connect and read each)."""
    max_concurrency: int = 4
    """API calls in flight at once."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    """Retries for reads and undelivered calls (``Unreachable``, ``Locked``)."""
    task_poll_initial: float = 0.2
    """First delay between task status polls, in seconds; doubles up to ``task_poll_max``."""
    task_poll_max: float = 2.0
    """Longest delay between task status polls."""
    no_such_task_grace: float = 10.0
    """How long a fresh UPID may answer ``no such task`` before that is believed (pitfall 11)."""

    def __post_init__(self) -> None:
        if "@" not in self.user:
            raise ValueError(f"Proxmox user {self.user!r} needs a realm, e.g. 'homeport@pve'")
        if not self.token_name or "!" in self.token_name:
            raise ValueError("Proxmox token_name is the token id alone, e.g. 'homeport'")
        if self.max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
