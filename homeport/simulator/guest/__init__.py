"""Simulated guests: the VMs' operating systems, reached over SSH and HTTP on loopback.

Entry point: :class:`LoopbackGuestRuntime` (``runtime.py``), which implements the
``GuestRuntime`` seam the Proxmox side of the simulator drives (``seam.py``).
"""

from .runtime import DEFAULT_SSH_PORT, GuestNotRunning, LoopbackGuestRuntime
from .seam import GuestBoot, GuestRuntime

__all__ = [
    "DEFAULT_SSH_PORT",
    "GuestBoot",
    "GuestNotRunning",
    "GuestRuntime",
    "LoopbackGuestRuntime",
]
