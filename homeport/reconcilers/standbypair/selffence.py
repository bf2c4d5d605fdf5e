"""The self-fencing lease of a StandbyPair's primary (``spec.selfFence``): what homeport
writes on the members, as text and values. ``selffence_act.py`` does the I/O; the probe
loop (``runtime.py``) renews; the plan installs the guard.

On each member homeport installs ``/usr/local/sbin/homeport-lease`` and one guard unit per
App, ``homeport-guard-<app unit>``, separate from the App's own unit (which the App
reconciler renders). The guard does nothing until the App is armed, i.e. holds a lease
file ``/run/homeport/lease/<app unit>``: ``<issued-at> <lease-seconds>``, issued-at being
the control plane's clock when it sent the renewal. Once ``now > issued-at + lease`` the
guard stops the App, and keeps it stopped while the lapsed lease is there. A renewal that
arrives late (queued in a hung VM's network) is refused, never re-arms. ``/run`` is a tmpfs:
a rebooted member is unarmed; a demoted or quarantined one is disarmed by homeport. The
lease file is world-readable: the App itself checks it before acknowledging a write
(docs/failover.md, "Epochs and what your app must do").
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from homeport.reconcilers.base import Action

LEASE_TOOL = "/usr/local/sbin/homeport-lease"
LEASE_DIR = "/run/homeport/lease"
GUARD_TICK = 0.2
"""Seconds between the guard's checks (an overdue check runs the moment a VM resumes)."""
LEASE_MARGIN = 0.5
"""Added to the lease before a quarantined primary is promoted over (clock skew, the tick)."""


def guard_unit(unit: str) -> str:
    return f"homeport-guard-{unit.removesuffix('.service')}.service"


def guard_unit_text(unit: str) -> str:
    return (
        "# Written by homeport (StandbyPair self-fence): do not edit.\n"
        "[Unit]\n"
        f"Description=homeport self-fence guard of {unit}\n"
        "After=network.target\n\n"
        "[Service]\n"
        "Type=simple\n"
        f"ExecStart={shlex.join([LEASE_TOOL, 'guard', unit])}\n"
        "Restart=always\n"
        "RestartSec=1\n\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n"
    )


def renew_command(unit: str, *, issued_at: float, lease: float) -> list[str]:
    return [LEASE_TOOL, "renew", unit, f"{issued_at:.3f}", f"{lease:g}"]


def disarm_command(unit: str) -> list[str]:
    return [LEASE_TOOL, "disarm", unit]


def release_command(unit: str) -> list[str]:
    """Disarm only a stopped UNIT: a returned old primary, once its guard has stopped it."""
    return [LEASE_TOOL, "release", unit]


def guard_actions(
    enabled: bool, installed: list[str], members: list[tuple[str, str | None, str]]
) -> list[Action]:
    """Install the guard on each member (app, host, unit) that lacks it, or remove it from
    each that has it once ``selfFence`` is off (disarming first: a lapsing lease would stop
    the primary)."""
    if enabled:
        return [InstallSelfFence(a, h, u) for a, h, u in members if h and a not in installed]
    return [RemoveSelfFence(a, h, u) for a, h, u in members if h and a in installed]


@dataclass(frozen=True)
class InstallSelfFence(Action):
    app: str
    host: str
    unit: str
    verb = "self-fence"

    def describe(self) -> str:
        return f"install the self-fence guard {guard_unit(self.unit)} of {self.app} on {self.host}"


@dataclass(frozen=True)
class RemoveSelfFence(Action):
    app: str
    host: str
    unit: str
    verb = "self-fence"

    def describe(self) -> str:
        return f"disarm {self.app} and remove its self-fence guard from {self.host}"


LEASE_SCRIPT = r'''#!/usr/bin/python3
"""homeport-lease: the self-fencing lease of a StandbyPair primary (installed and owned by
homeport; do not edit).

  homeport-lease renew UNIT ISSUED_AT LEASE   arm UNIT until ISSUED_AT + LEASE (refused when late)
  homeport-lease disarm UNIT                  drop the lease: the guard leaves UNIT alone
  homeport-lease release UNIT                 disarm, only if UNIT is stopped (exit 1 if not;
                                              prints "released" when there was a lease)
  homeport-lease guard UNIT                   stop UNIT whenever its lease has lapsed

ISSUED_AT is the control plane's clock: this host's clock must be in sync with it (NTP).
"""
import os
import subprocess
import sys
import time

LEASES = "/run/homeport/lease"
TICK = 0.2


def path(unit):
    return os.path.join(LEASES, unit)


def renew(unit, issued_at, lease):
    if time.time() > issued_at + lease:
        sys.stderr.write(f"homeport-lease: late renewal of {unit} refused (expired on arrival)\n")
        sys.exit(1)
    # Readable by the App (no secret in it): it checks its lease before acknowledging a write.
    os.makedirs(LEASES, exist_ok=True)
    os.chmod(LEASES, 0o755)
    tmp = path(unit) + ".tmp"
    with open(tmp, "w") as handle:
        handle.write(f"{issued_at} {lease}\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path(unit))


def lapsed(unit):
    try:
        with open(path(unit)) as handle:
            issued_at, lease = (float(v) for v in handle.read().split()[:2])
    except FileNotFoundError:
        return False  # not armed: not a primary
    except ValueError:
        return True  # unreadable: fail closed
    return time.time() > issued_at + lease


def guard(unit):
    while True:
        if lapsed(unit):
            active = subprocess.call(["systemctl", "is-active", "--quiet", unit]) == 0
            if active:
                print(f"lease of {unit} lapsed: stopping it", flush=True)
                subprocess.call(["systemctl", "stop", unit])
        time.sleep(TICK)


def main(argv):
    if len(argv) == 4 and argv[0] == "renew":
        renew(argv[1], float(argv[2]), float(argv[3]))
    elif len(argv) == 2 and argv[0] == "disarm":
        try:
            os.unlink(path(argv[1]))
        except FileNotFoundError:
            pass
    elif len(argv) == 2 and argv[0] == "release":
        if subprocess.call(["systemctl", "is-active", "--quiet", argv[1]]) == 0:
            sys.stderr.write(f"homeport-lease: {argv[1]} is still active\n")
            sys.exit(1)
        try:
            os.unlink(path(argv[1]))
            print("released")
        except FileNotFoundError:
            pass
    elif len(argv) == 2 and argv[0] == "guard":
        guard(argv[1])
    else:
        sys.stderr.write("usage: homeport-lease renew UNIT ISSUED_AT LEASE | disarm UNIT | release UNIT | guard UNIT\n")
        sys.exit(2)


main(sys.argv[1:])
'''
