"""The replication channel of a StandbyPair: one SSH key per pair and direction, a receive
wrapper that fences by epoch, and the pure text of what homeport writes on the members.

Primary → standby only: the primary holds ``/root/.ssh/homeport-replica-<pair>``; the
standby's root ``authorized_keys`` lists its public key restricted to one forced command,
``homeport-replica receive <pair> <dataDir>`` (``restrict``: no shell, no forwarding, no pty).
So root on the primary is not root on the standby, and two pairs sharing VMs keep apart
(each entry is tagged ``homeport-replica:<pair>:<from>><to>`` and only its pair's are touched).

Every run carries the pair's epoch as its destination (``root@standby:epoch-N/``); the
wrapper receives into a staging directory and applies it to the data directory under a
lock, only while the standby's epoch file still says N. ``homeport-replica fence <pair> N+1``
(a failover step, ``replfence.py``) raises the epoch under the same lock, drops the pair's
keys and kills their sessions: from then on no run started under epoch N can write.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from homeport.reconcilers.base import Action

REPLICA_TOOL = "/usr/local/sbin/homeport-replica"
STATE_DIR = "/var/lib/homeport/replica"
TAG = "homeport-replica"
LEGACY_COMMENT = "homeport-replication-"
"""The comment of the shared, unrestricted key of homeport < 0.9 (removed on sight)."""


def key_path(pair: str) -> str:
    return f"/root/.ssh/{TAG}-{pair}"


def known_hosts_path(pair: str) -> str:
    return f"/root/.ssh/{TAG}-{pair}.known_hosts"


def key_comment(pair: str, source: str, target: str) -> str:
    return f"{TAG}:{pair}:{source}>{target}"


def destination(epoch: int) -> str:
    """The rsync destination a run names: the wrapper maps it to the pair's staging dir."""
    return f"epoch-{epoch}/"


def receive_command(pair: str, data_dir: str) -> str:
    if any(c in data_dir for c in '"\\\n\r'):
        raise ValueError(f"data directory {data_dir!r} cannot go into an authorized_keys option")
    return shlex.join([REPLICA_TOOL, "receive", pair, data_dir])


def authorized_line(pair: str, public_key: str, *, source: str, target: str, data_dir: str) -> str:
    key = " ".join(public_key.split()[:2])  # type and base64, without the generated comment
    command = receive_command(pair, data_dir)
    return f'restrict,command="{command}" {key} {key_comment(pair, source, target)}'


def merged_authorized_keys(current: str, pair: str, lines: list[str]) -> str:
    """``current`` without this pair's entries (and the legacy shared key), plus ``lines``."""
    mine = f" {TAG}:{pair}:"
    kept = [
        line
        for line in current.splitlines()
        if mine not in line and LEGACY_COMMENT not in line and line.strip()
    ]
    return "\n".join([*kept, *lines]) + "\n"


def fence_command(pair: str, epoch: int) -> list[str]:
    return [REPLICA_TOOL, "fence", pair, str(epoch)]


@dataclass(frozen=True)
class FenceReplication(Action):
    """Before the standby serves: it refuses replication from the old primary for good."""

    pair: str
    app: str
    host: str
    epoch: int
    verb = "fence-replication"

    def describe(self) -> str:
        return (
            f"fence replication into {self.app} ({self.host}): epoch {self.epoch}, the old "
            "primary's key revoked and its sessions killed"
        )


@dataclass(frozen=True)
class RemoveReplication(Action):
    """A removed pair takes its keys, known hosts, wrapper state and self-fence guards."""

    pair: str
    hosts: tuple[str, ...]
    guards: tuple[tuple[str, str], ...] = ()
    """(host, App unit) of each self-fence guard to disarm and remove."""
    verb = "replication-keys"

    def describe(self) -> str:
        guards = " and self-fence guards" if self.guards else ""
        return f"remove the replication keys{guards} of pair {self.pair} from " + ", ".join(
            self.hosts
        )


REPLICA_SCRIPT = r'''#!/usr/bin/python3
"""homeport-replica: the receiving end of a StandbyPair's replication (installed and
owned by homeport; do not edit).

  homeport-replica receive PAIR DATA_DIR   forced command of the pair's key in authorized_keys
  homeport-replica fence PAIR EPOCH        raise the pair's epoch, drop its keys, kill its runs

A run names its epoch as its destination (rsync ... root@standby:epoch-N/). It is received
into a staging directory, then applied to DATA_DIR under a lock only if the epoch file still
says N, so a run started before a failover can never write after the fence.
"""
import fcntl
import os
import re
import shlex
from dataclasses import dataclass

from homeport.reconcilers.base import Action
import signal
import subprocess
import sys

STATE = "/var/lib/homeport/replica"
KEYS = "/root/.ssh/authorized_keys"
FLAG = re.compile(r"^-[A-Za-z.]+$|^--delete(-during|-after|-delay)?$")


def refuse(message):
    sys.stderr.write(f"homeport-replica: {message}\n")
    sys.exit(1)


def state(pair, *names):
    return os.path.join(STATE, pair, *names)


def read_epoch(pair):
    try:
        with open(state(pair, "epoch")) as handle:
            return int(handle.read().strip() or 0)
    except FileNotFoundError:
        return 0


class Locked:
    def __init__(self, pair):
        os.makedirs(state(pair), mode=0o700, exist_ok=True)
        self.handle = open(state(pair, "lock"), "a")

    def __enter__(self):
        fcntl.flock(self.handle, fcntl.LOCK_EX)

    def __exit__(self, *exc):
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


def receive(pair, data_dir):
    words = shlex.split(os.environ.get("SSH_ORIGINAL_COMMAND", ""))
    if words[:2] != ["rsync", "--server"] or len(words) < 4 or words[-2] != ".":
        refuse("only an rsync push is allowed")
    flags, target = words[2:-2], words[-1].rstrip("/")
    if not all(FLAG.match(f) for f in flags) or not re.fullmatch(r"epoch-[0-9]+", target):
        refuse(f"refused: {' '.join(words)}")
    epoch = int(target.split("-", 1)[1])
    if epoch != read_epoch(pair):
        refuse(f"stale epoch {epoch}: the pair is at epoch {read_epoch(pair)}")
    staging = state(pair, "staging")
    os.makedirs(staging, mode=0o700, exist_ok=True)
    status = subprocess.call(["rsync", "--server", *flags, ".", staging + "/"])
    if status:
        sys.exit(status)
    with Locked(pair):
        if read_epoch(pair) != epoch:
            refuse(f"fenced during the run: the pair moved to epoch {read_epoch(pair)}")
        # stdout is the finished rsync protocol stream of the client: nothing more on it.
        apply = ["rsync", "-a", "--delete", staging + "/", data_dir + "/"]
        sys.exit(subprocess.call(apply, stdout=subprocess.DEVNULL))


def mine(line, pair):
    """The pair's key (either direction), or the shared key of homeport < 0.9."""
    return f" homeport-replica:{pair}:" in line or line.endswith(f" homeport-replication-{pair}")


def fence(pair, epoch):
    with Locked(pair):
        if epoch > read_epoch(pair):
            tmp = state(pair, "epoch.tmp")
            with open(tmp, "w") as handle:
                handle.write(f"{epoch}\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, state(pair, "epoch"))
    if os.path.exists(KEYS):
        with open(KEYS) as handle:
            lines = handle.read().splitlines()
        kept = [line for line in lines if not mine(line, pair)]
        if kept != lines:
            tmp = KEYS + ".homeport-tmp"
            with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
                handle.write("".join(line + "\n" for line in kept))
            os.replace(tmp, KEYS)
    runs = f"{sys.argv[0]} receive {pair} ".encode()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                line = handle.read().replace(b"\0", b" ")
            if line.startswith(b"/usr/bin/python3 " + runs) or line.startswith(runs):
                os.killpg(os.getpgid(int(pid)), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            pass


def main(argv):
    if len(argv) == 3 and argv[0] == "receive":
        receive(argv[1], argv[2])
    elif len(argv) == 3 and argv[0] == "fence" and argv[2].isdigit():
        fence(argv[1], int(argv[2]))
    else:
        refuse("usage: homeport-replica receive PAIR DATA_DIR | fence PAIR EPOCH")


main(sys.argv[1:])
'''
