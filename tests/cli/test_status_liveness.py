"""``homeport status`` tells whether anything is acting now (the daemons' heartbeats), exits
for cron and CI with ``--exit-code``, never calls a Degraded pair Healthy and never prints
a negative age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from homeport.cli.main import app
from homeport.controller.store import Store
from tests.services.web.estate_store import ROOT, back_up, beat, degrade_pair, estate_store, stall


def configured(tmp_path: Path) -> tuple[Store, Path]:
    store = estate_store(tmp_path / "state.db")
    path = tmp_path / "homeport.toml"
    path.write_text(
        f'[store]\npath = "{tmp_path / "state.db"}"\n[source]\ndirectory = "{ROOT / "manifests"}"\n'
    )
    return store, path


def status(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, ["status", *args, "--config", str(config)], env={"COLUMNS": "200"}
    )
    return result.exit_code, result.output


def test_no_daemon_ever_ran_says_nothing_is_acting(tmp_path: Path) -> None:
    store, config = configured(tmp_path)
    store.close()
    code, out = status(config, "--exit-code")
    assert code == 2, out
    assert "no daemon has run on this store: nothing is acting" in out


def test_a_silent_daemon_is_not_alive_even_if_its_lease_row_remains(tmp_path: Path) -> None:
    store, config = configured(tmp_path)
    now = datetime.now(UTC)
    beat(store, at=now - timedelta(minutes=10))
    store.leases.try_acquire("controller", "cp1:4242:abcdef", now=0, duration=15, stamp=now)
    store.close()
    code, out = status(config, "--exit-code")
    assert code == 2, out
    assert (
        "no daemon is alive: nothing is acting (the last one, cp1:4242:abcdef, went silent 10m ago)"
        in out
    )
    assert "as last recorded" in out


def test_a_stopped_daemon_says_it_stopped(tmp_path: Path) -> None:
    store, config = configured(tmp_path)
    beat(store, at=datetime.now(UTC) - timedelta(seconds=3), role="stopped")
    store.close()
    code, out = status(config, "--exit-code")
    assert code == 2 and "cp1:4242:abcdef, stopped" in out, out


def test_exit_code_0_when_all_ready_1_when_anything_is_not(tmp_path: Path) -> None:
    store, config = configured(tmp_path)
    beat(store, at=datetime.now(UTC), url="http://127.0.0.1:8765/")
    code, out = status(config, "--exit-code")
    assert code == 0, out
    assert "Daemon    cp1:4242:abcdef leads (heartbeat 0s ago)" in out
    assert "Page      http://127.0.0.1:8765/" in out
    assert status(config)[0] == 0  # without the flag: 0 whatever the state
    stall(store, "VM", "shop-a", "clone failed")
    store.close()
    assert status(config, "--exit-code")[0] == 1
    assert status(config, "--exit-code", "-o", "json")[0] == 1
    assert status(config)[0] == 0


def test_a_standby_daemon_alone_is_alive_but_not_acting(tmp_path: Path) -> None:
    store, config = configured(tmp_path)
    beat(store, at=datetime.now(UTC), role="standby")
    store.close()
    code, out = status(config, "--exit-code")
    assert code == 0, out
    assert "1 daemon(s) alive, none leading yet: nothing is acting" in out


def test_a_degraded_pair_never_reads_healthy(tmp_path: Path) -> None:
    store, config = configured(tmp_path)
    beat(store, at=datetime.now(UTC))
    degrade_pair(store)  # its phase still says Healthy
    store.close()
    _, out = status(config)
    pair = next(line for line in out.splitlines() if line.startswith("Pair      shop"))
    assert "Degraded" in pair and "Healthy" not in pair, pair
    assert "Healthy" not in out
    # A pair the daemon has not armed yet names no "None" primary.
    assert "Pair      community: Ready, not armed yet (no primary chosen)" in out
    assert "None" not in out


def test_a_backup_from_the_future_is_zero_hours_old(tmp_path: Path) -> None:
    store, config = configured(tmp_path)
    beat(store, at=datetime.now(UTC))
    back_up(store, newest=datetime.now(UTC) + timedelta(minutes=12))  # a node clock ahead
    store.close()
    _, out = status(config)
    assert "newest 0.0h old" in out
    assert "-0." not in out
