"""One daemon per store: a second is refused with one line; a killed holder frees it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from homeport.controller.storelock import StoreInUse, exclusive_store, lock_path
from tests.daemon_config import write_daemon_config

HOLD = """
import sys, time
from pathlib import Path
from homeport.controller.storelock import exclusive_store
with exclusive_store(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_second_holder_is_refused_and_told_who_holds_it(tmp_path: Path) -> None:
    store = tmp_path / "state.db"
    with exclusive_store(store):
        with pytest.raises(StoreInUse, match=f"pid {os.getpid()}") as refused:
            with exclusive_store(store):
                pass
        assert "docs/ha.md" in str(refused.value)
    with exclusive_store(store):  # released on exit
        pass


def test_a_holder_killed_with_sigkill_leaves_no_stale_lock(tmp_path: Path) -> None:
    store = tmp_path / "state.db"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(store)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreInUse, match=f"pid {holder.pid}"):
            with exclusive_store(store):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    assert lock_path(store).exists()
    with exclusive_store(store):
        pass


@pytest.mark.integration
def test_homeport_run_twice_on_one_store(tmp_path: Path) -> None:
    config = write_daemon_config(tmp_path)
    first = subprocess.Popen(
        [sys.executable, "-m", "homeport", "run", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    try:
        store = config.parent / "state.db"
        deadline = time.monotonic() + 30
        while not (lock_path(store).exists() and lock_path(store).read_text().strip()):
            assert first.poll() is None and time.monotonic() < deadline, "the first never ran"
            time.sleep(0.05)
        second = subprocess.run(
            [sys.executable, "-m", "homeport", "run", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        assert second.returncode == 2, second.stderr
        assert f"another homeport daemon (pid {first.pid})" in second.stderr
        assert "Traceback" not in second.stderr
        assert first.poll() is None, "the first daemon must keep running"
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=60)
