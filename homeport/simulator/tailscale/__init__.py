"""The simulated tailnet: devices (guests and Proxmox nodes), auth keys, Tailscale API v2.

Entry point: :class:`Tailnet` (``tailnet.py``), served by ``api.py``.
"""

from .tailnet import Tailnet

__all__ = ["Tailnet"]
