"""Simulated systemd over SSH, and the sim app it starts, seen through httpx."""

from __future__ import annotations

import asyncssh
import httpx

from homeport.simulator.guest import LoopbackGuestRuntime

from .conftest import UNIT, BootFn, atomic_install, deploy_app, run, wait_for


def show(stdout: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in stdout.splitlines() if "=" in line)


async def get(url: str, timeout: float = 2.0) -> httpx.Response:
    async with httpx.AsyncClient(timeout=timeout) as http:
        return await http.get(url)


async def test_started_unit_serves_env_names_not_values(
    boot: BootFn, client_key: asyncssh.SSHKey
) -> None:
    guest = await boot()
    async with await guest.connect(client_key) as conn:
        await deploy_app(conn, "web", 8080, env="DB_PASSWORD=hunter2\nHOMEPORT_EPOCH=3\n")
        body = (await get(f"http://{guest.address}:8080/healthz")).json()
        assert body["app"] == "web"
        assert body["vm"] == "web-1"
        assert body["release"] == "r1"
        assert body["env"] == ["DB_PASSWORD", "HOMEPORT_EPOCH", "LOG_LEVEL", "PORT"]
        assert body["epoch"] == 3
        assert "hunter2" not in str(body)
        active = await run(conn, "systemctl", "is-active", "web.service")
        assert (active.exit_status, active.stdout) == (0, "active\n")
        props = show(
            (
                await run(
                    conn,
                    "systemctl",
                    "show",
                    "web.service",
                    "-p",
                    "ActiveState,SubState,MainPID,NRestarts,ExecMainStatus,Result,"
                    "NeedDaemonReload,LoadState,UnitFileState,FragmentPath",
                )
            ).stdout
        )
        assert props["ActiveState"] == "active"
        assert props["SubState"] == "running"
        assert int(props["MainPID"]) > 0
        assert props["NRestarts"] == "0"
        assert props["Result"] == "success"
        assert props["NeedDaemonReload"] == "no"
        assert props["LoadState"] == "loaded"
        assert props["UnitFileState"] == "enabled"
        assert props["FragmentPath"] == "/etc/systemd/system/web.service"
        enabled = await run(conn, "systemctl", "is-enabled", "web")
        assert (enabled.exit_status, enabled.stdout) == (0, "enabled\n")
        link = await run(
            conn, "readlink", "/etc/systemd/system/multi-user.target.wants/web.service"
        )
        assert link.stdout == "/etc/systemd/system/web.service\n"
        listening = await run(conn, "ss", "-ltnH")
        assert f"{guest.address}:8080" in listening.stdout
        journal = await run(conn, "journalctl", "-u", "web", "-n", "20", "--no-pager", "-o", "cat")
        assert "Started web.service - Web app web." in journal.stdout
        assert f"listening on {guest.address}:8080" in journal.stdout


async def test_restart_picks_up_changed_env_file(boot: BootFn, client_key: asyncssh.SSHKey) -> None:
    guest = await boot()
    async with await guest.connect(client_key) as conn:
        await deploy_app(conn, "web", 8080)
        await atomic_install(conn, "/etc/homeport/web.env", b"PORT=8081\nNEW_FLAG=1\n")
        assert (await get(f"http://{guest.address}:8080/")).status_code == 200
        restarted = await run(conn, "systemctl", "--no-ask-password", "restart", "web")
        assert restarted.exit_status == 0
        body = (await get(f"http://{guest.address}:8081/")).json()
        assert "NEW_FLAG" in body["env"]
        try:
            await get(f"http://{guest.address}:8080/", timeout=1)
            raise AssertionError("old port still open")
        except httpx.ConnectError:
            pass


async def test_unit_file_change_needs_daemon_reload(
    boot: BootFn, client_key: asyncssh.SSHKey
) -> None:
    guest = await boot()
    async with await guest.connect(client_key) as conn:
        await deploy_app(conn, "web", 8080)
        changed = UNIT.format(name="web", restart="on-failure").encode()
        await atomic_install(conn, "/etc/systemd/system/web.service", changed, 0o644)
        needs = await run(conn, "systemctl", "show", "web", "-p", "NeedDaemonReload")
        assert needs.stdout == "NeedDaemonReload=yes\n"
        warned = await run(conn, "systemctl", "restart", "web")
        assert "Run 'systemctl daemon-reload' to reload units." in warned.stderr
        assert (await run(conn, "systemctl", "daemon-reload")).exit_status == 0
        after = show(
            (await run(conn, "systemctl", "show", "web", "-p", "NeedDaemonReload,Restart")).stdout
        )
        assert after == {"NeedDaemonReload": "no", "Restart": "on-failure"}
        cat = await run(conn, "systemctl", "cat", "web")
        assert cat.stdout.startswith("# /etc/systemd/system/web.service\n[Unit]\n")


async def test_enable_disable_messages_and_states(
    boot: BootFn, client_key: asyncssh.SSHKey
) -> None:
    guest = await boot()
    async with await guest.connect(client_key) as conn:
        await deploy_app(conn, "web", 8080)
        disabled = await run(conn, "systemctl", "disable", "--now", "web")
        assert disabled.exit_status == 0
        assert (
            'Removed "/etc/systemd/system/multi-user.target.wants/web.service".' in disabled.stderr
        )
        state = await run(conn, "systemctl", "is-enabled", "web")
        assert (state.exit_status, state.stdout) == (1, "disabled\n")
        inactive = await run(conn, "systemctl", "is-active", "web")
        assert (inactive.exit_status, inactive.stdout) == (3, "inactive\n")
        enabled = await run(conn, "systemctl", "enable", "web")
        assert enabled.stderr == (
            "Created symlink /etc/systemd/system/multi-user.target.wants/web.service"
            " \u2192 /etc/systemd/system/web.service.\n"
        )
        missing = await run(conn, "systemctl", "start", "nope")
        assert (missing.exit_status, missing.stderr) == (
            5,
            "Failed to start nope.service: Unit nope.service not found.\n",
        )
        not_found = show(
            (await run(conn, "systemctl", "show", "nope", "-p", "LoadState,ActiveState")).stdout
        )
        assert not_found == {"LoadState": "not-found", "ActiveState": "inactive"}
        assert (await run(conn, "systemctl", "is-enabled", "nope")).exit_status == 1


async def test_simulate_health_500_and_start_fail(
    boot: BootFn, client_key: asyncssh.SSHKey
) -> None:
    guest = await boot()
    async with await guest.connect(client_key) as conn:
        await deploy_app(conn, "sick", 8080, simulate="health=500\n")
        assert (await get(f"http://{guest.address}:8080/health")).status_code == 500
        await deploy_app(conn, "broken", 8090, simulate="start=fail\n")

        async def failed() -> bool:
            result = await run(conn, "systemctl", "is-active", "broken")
            return result.stdout == "failed\n"

        await wait_for(failed)
        props = show(
            (await run(conn, "systemctl", "show", "broken", "-p", "ExecMainStatus,Result")).stdout
        )
        assert props == {"ExecMainStatus": "1", "Result": "exit-code"}
        assert (await run(conn, "systemctl", "is-active", "broken")).exit_status == 3
        assert (await run(conn, "systemctl", "reset-failed", "broken")).exit_status == 0
        assert (await run(conn, "systemctl", "is-active", "broken")).stdout == "inactive\n"


async def test_simulate_hang_and_startup_delay(boot: BootFn, client_key: asyncssh.SSHKey) -> None:
    guest = await boot()
    async with await guest.connect(client_key) as conn:
        await deploy_app(conn, "stuck", 8080, simulate="health=hang\n")
        try:
            await get(f"http://{guest.address}:8080/", timeout=0.3)
            raise AssertionError("a hung app answered")
        except httpx.ReadTimeout:
            pass
        await deploy_app(conn, "slow", 8090, simulate="startup_delay=0.3\n")

        async def answers() -> bool:
            try:
                return (await get(f"http://{guest.address}:8090/", timeout=0.5)).status_code == 200
            except httpx.ConnectError:
                return False

        assert not await answers()  # active, but the port is not open yet
        await wait_for(answers)


async def test_restart_on_failure_counts_restarts(
    boot: BootFn, client_key: asyncssh.SSHKey
) -> None:
    guest = await boot()
    async with await guest.connect(client_key) as conn:
        await deploy_app(conn, "flaky", 8080, simulate="crash_after=0.05\n", restart="on-failure")

        async def limited() -> bool:
            out = await run(conn, "systemctl", "show", "flaky", "-p", "Result,NRestarts")
            return show(out.stdout).get("Result") == "start-limit-hit"

        await wait_for(limited)
        props = show(
            (await run(conn, "systemctl", "show", "flaky", "-p", "NRestarts,ActiveState")).stdout
        )
        assert props == {"NRestarts": "5", "ActiveState": "failed"}
        journal = await run(conn, "journalctl", "-u", "flaky.service", "-o", "cat")
        assert "flaky.service: Scheduled restart job, restart counter is at 5." in journal.stdout
        assert "flaky.service: Start request repeated too quickly." in journal.stdout


async def test_missing_environment_file_fails_the_start(
    boot: BootFn, client_key: asyncssh.SSHKey
) -> None:
    guest = await boot()
    async with await guest.connect(client_key) as conn:
        await deploy_app(conn, "web", 8080)
        assert (await run(conn, "rm", "/etc/homeport/web.env")).exit_status == 0
        restarted = await run(conn, "systemctl", "restart", "web")
        assert restarted.exit_status == 1
        assert restarted.stderr.startswith(
            "Job for web.service failed because a configured resource limit was exceeded."
        )
        props = show(
            (await run(conn, "systemctl", "show", "web", "-p", "Result,ActiveState")).stdout
        )
        assert props == {"Result": "resources", "ActiveState": "failed"}


async def test_kv_store_persists_and_fences_stale_epochs(
    boot: BootFn, runtime: LoopbackGuestRuntime, client_key: asyncssh.SSHKey
) -> None:
    guest = await boot()
    async with await guest.connect(client_key) as conn:
        await deploy_app(conn, "db", 8080, env="HOMEPORT_EPOCH=5\n")
    base = f"http://{guest.address}:8080"
    async with httpx.AsyncClient(timeout=2) as http:
        stored = await http.put(f"{base}/kv/order-1", content=b"paid")
        assert stored.status_code == 200
        fenced = await http.put(f"{base}/kv/x", content=b"1", headers={"X-Homeport-Epoch": "4"})
        assert (fenced.status_code, fenced.json()) == (409, {"error": "stale epoch"})
        ok = await http.put(f"{base}/kv/y", content=b"2", headers={"X-Homeport-Epoch": "5"})
        assert ok.status_code == 200
        assert (await http.get(f"{base}/kv/order-1")).content == b"paid"
        assert (await http.get(f"{base}/kv/missing")).status_code == 404
    stored_file = runtime.disk_path(guest.vmid) / "srv/apps/db/data/order-1"
    assert stored_file.read_bytes() == b"paid"


async def test_a_unit_without_port_runs_and_listens_nowhere(
    boot: BootFn, client_key: asyncssh.SSHKey
) -> None:
    """An agent that only pushes (no PORT) stays active until stopped, like the daemon."""
    guest = await boot()
    unit = b"[Service]\nType=exec\nExecStart=/usr/bin/promtail\nRestart=always\n"
    async with await guest.connect(client_key) as conn:
        await atomic_install(conn, "/etc/systemd/system/shipper.service", unit, 0o644)
        assert (await run(conn, "systemctl", "daemon-reload")).exit_status == 0
        assert (await run(conn, "systemctl", "start", "shipper")).exit_status == 0
        props = show(
            (await run(conn, "systemctl", "show", "shipper", "-p", "ActiveState,NRestarts")).stdout
        )
        assert props == {"ActiveState": "active", "NRestarts": "0"}
        assert (await run(conn, "systemctl", "stop", "shipper")).exit_status == 0
        stopped = await run(conn, "systemctl", "show", "shipper", "-p", "ActiveState")
        assert show(stopped.stdout) == {"ActiveState": "inactive"}
