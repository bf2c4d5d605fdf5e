"""The seam between the simulated Proxmox world and the simulated guests.

The Proxmox side (``homeport.simulator.guest_protocol``) decides *when* a VM boots, halts,
is cloned or backed up; this package (``runtime.LoopbackGuestRuntime``) decides what that
means inside the VM: disk state, cloud-init, sshd, systemd units, apps. This module
re-exports the protocol and names the time callables the guests take.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from homeport.simulator.guest_protocol import GuestBoot, GuestRuntime

Clock = Callable[[], float]
"""Returns simulated time in epoch seconds (e.g. ``SimClock.now``)."""

Sleep = Callable[[float], Awaitable[None]]
"""Waits a simulated duration (e.g. ``SimClock.sleep``); defaults to ``asyncio.sleep``."""

__all__ = ["Clock", "GuestBoot", "GuestRuntime", "Sleep"]
