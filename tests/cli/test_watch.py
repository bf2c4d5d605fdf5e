"""``get -w`` and ``events --follow``: a real ``homeport`` process reading a store that
changes underneath it, ended with Ctrl-C (SIGINT) as a person would."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from homeport.controller.store import Store
from homeport.kinds import ObjectStatus
from tests.cli.test_read_cli import config

__all__ = ["config"]
ROOT = Path(__file__).parents[2]


class Lines:
    """The process's standard output, one line at a time, without blocking the test."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.queue: queue.Queue[str] = queue.Queue()
        assert process.stdout is not None
        stdout = process.stdout
        threading.Thread(target=lambda: [self.queue.put(x) for x in stdout], daemon=True).start()

    def next(self) -> str:
        try:
            return self.queue.get(timeout=30).rstrip("\n")
        except queue.Empty:
            raise AssertionError("no output within 30 s") from None

    def take(self, n: int) -> list[str]:
        return [self.next() for _ in range(n)]


# A command started from a terminal has SIGINT at its default, unblocked; a test worker's
# own signal state (an ignored or blocked SIGINT) would otherwise pass to the child
# across exec, and Ctrl-C would not reach it. Set it as a shell would, then exec homeport.
FOREGROUND = (
    "import os, signal, sys;"
    " signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT});"
    " signal.signal(signal.SIGINT, signal.SIG_DFL);"
    " os.execv(sys.executable, [sys.executable, '-m', 'homeport', *sys.argv[1:]])"
)


def _signals(pid: int) -> str:
    """The process's signal masks (for a Ctrl-C that was not obeyed)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError as exc:
        return str(exc)
    return " ".join(line for line in status.splitlines() if line.startswith("Sig"))


@contextmanager
def homeport(*args: str) -> Iterator[Lines]:
    """``homeport ARGS`` as a person runs it, ended with Ctrl-C. Synchronous: a test whose
    event loop serves the command (the simulator) calls it through ``asyncio.to_thread``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TTY_COMPATIBLE": "0"}
    process = subprocess.Popen(
        [sys.executable, "-c", FOREGROUND, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        yield Lines(process)
        process.send_signal(signal.SIGINT)  # Ctrl-C: ends quietly, exit 0
        try:
            _, err = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"Ctrl-C not obeyed in 30 s ({_signals(process.pid)})") from None
        assert process.returncode == 0, err
        assert "Traceback" not in err
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def _degrade(store_path: Path, name: str) -> None:
    store = Store.open(store_path)
    try:
        status = ObjectStatus.model_validate(
            {
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "False",
                        "reason": "Stopped",
                        "message": "the VM is stopped",
                        "lastTransitionTime": datetime.now(UTC).isoformat(),
                    }
                ]
            }
        )
        store.objects.set_status(("VM", name), status, datetime.now(UTC))
    finally:
        store.close()


def test_get_watch_prints_changes_as_json_lines(config: Path) -> None:
    with homeport("get", "vms", "-w", "-o", "json", "--config", str(config)) as out:
        first = [json.loads(line) for line in out.take(10)]
        assert {d["type"] for d in first} == {"ADDED"}
        assert len({d["object"]["metadata"]["name"] for d in first}) == 10
        _degrade(config.parent / "state.db", "dev-1")
        change = json.loads(out.next())
        assert change["type"] == "MODIFIED"
        assert change["object"]["metadata"]["name"] == "dev-1"
        assert change["object"]["status"]["conditions"][0]["reason"] == "Stopped"


def test_get_watch_text_and_name(config: Path) -> None:
    with homeport("get", "vm", "-w", "--config", str(config)) as out:
        assert out.next().split()[:3] == ["KIND", "NAME", "STATE"]
        out.take(10)
        _degrade(config.parent / "state.db", "shop-a")
        assert out.next().split()[:3] == ["VM", "shop-a", "Stopped"]  # no second header
    with homeport("get", "vm", "shop-b", "-w", "-o", "name", "--config", str(config)) as out:
        assert out.next() == "vm/shop-b"
        _degrade(config.parent / "state.db", "shop-b")
        assert out.next() == "vm/shop-b"


def test_events_follow_is_json_lines(config: Path) -> None:
    with homeport("events", "-f", "-o", "json", "--config", str(config)) as out:
        assert json.loads(out.next())["reason"] == "Unhealthy"
        store = Store.open(config.parent / "state.db")
        store.events.emit(
            kind="App", name="shop-a", reason="Deployed", message="x", now=datetime.now(UTC)
        )
        store.events.emit(
            kind="App",
            name="shop-a",
            reason="Broken",
            message="y",
            now=datetime.now(UTC),
            warning=True,
        )
        store.close()
        assert [json.loads(line)["reason"] for line in out.take(2)] == ["Deployed", "Broken"]
    with homeport(
        "events", "-f", "--type", "Warning", "-o", "json", "--config", str(config)
    ) as out:
        assert [json.loads(line)["reason"] for line in out.take(2)] == ["Unhealthy", "Broken"]
