"""systemd over SSH and health probes, against a simulator guest running a real app."""

from __future__ import annotations

import asyncio

import pytest

from homeport.clients.errors import CommandFailed
from homeport.clients.probes import Prober
from homeport.clients.ssh import SSHPool
from homeport.clients.systemd import Systemd, check_unit, parse_show
from homeport.reconcilers.service_apply import add_system_user, remove_unit
from homeport.simulator.guest import LoopbackGuestRuntime

from .conftest import BootedVm

UNIT = b"""[Unit]
Description=Shop

[Service]
Type=simple
ExecStart=/usr/bin/shop
EnvironmentFile=/srv/apps/shop.env
Environment=PORT=8080

[Install]
WantedBy=multi-user.target
"""


def test_parse_show_keeps_values_with_equals_signs() -> None:
    text = "ActiveState=active\nEnvironment=A=1 B=2\nbroken line\nMainPID=42\n"
    assert parse_show(text) == {
        "ActiveState": "active",
        "Environment": "A=1 B=2",
        "MainPID": "42",
    }


@pytest.mark.parametrize("bad", ["-H evil", "a;b", "", "x y", "--now"])
def test_unit_names_that_look_like_options_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        check_unit(bad)


@pytest.mark.integration
async def test_install_enable_start_show_and_probe(
    ssh_pool: SSHPool, trusted_vm: BootedVm, guest_runtime: LoopbackGuestRuntime
) -> None:
    host = trusted_vm.host
    systemd = Systemd(ssh_pool)
    await ssh_pool.install_file(host, "/srv/apps/shop.env", b"GREETING=hi\n", mode=0o600)
    await ssh_pool.install_file(host, "/etc/systemd/system/shop.service", UNIT, mode=0o644)
    await systemd.daemon_reload(host)
    await systemd.enable(host, "shop.service")
    await systemd.start(host, "shop.service")
    assert await systemd.is_active(host, "shop.service")
    shown = await systemd.show(host, "shop.service")
    assert shown["ActiveState"] == "active"
    assert shown["UnitFileState"] == "enabled"
    assert shown["NeedDaemonReload"] == "no"

    async with Prober() as prober:
        healthy = await prober.http(f"http://{trusted_vm.address}:8080/", timeout=2)
        assert healthy.ok, healthy
        assert healthy.status == 200
        assert (await prober.tcp(trusted_vm.address, 8080, timeout=2)).ok

        guest_runtime.fail_app(trusted_vm.vmid, "shop")
        failing = await prober.http(f"http://{trusted_vm.address}:8080/", timeout=2)
        assert (failing.ok, failing.status, failing.error) == (False, 500, "status 500")

        guest_runtime.hang_app(trusted_vm.vmid, "shop")
        hung, quick = await asyncio.gather(
            prober.http(f"http://{trusted_vm.address}:8080/", timeout=0.3),
            prober.tcp(trusted_vm.address, 22, timeout=1),
        )
        assert (hung.ok, hung.error) == (False, "timeout")
        assert quick.error == "refused"
        guest_runtime.heal_app(trusted_vm.vmid, "shop")

        await systemd.stop(host, "shop.service")
        assert await systemd.active_state(host, "shop.service") == "inactive"
        down = await prober.http(f"http://{trusted_vm.address}:8080/", timeout=2)
        assert (down.ok, down.error) == (False, "refused")

    journal = await systemd.journal_tail(host, "shop.service", 20)
    assert any("listening on" in line for line in journal)


@pytest.mark.integration
async def test_failing_start_raises_command_failed(ssh_pool: SSHPool, trusted_vm: BootedVm) -> None:
    host = trusted_vm.host
    systemd = Systemd(ssh_pool)
    broken = UNIT.replace(b"Type=simple", b"Type=exec").replace(
        b"EnvironmentFile=/srv/apps/shop.env", b"EnvironmentFile=/srv/apps/missing.env"
    )
    await ssh_pool.install_file(host, "/etc/systemd/system/broken.service", broken, mode=0o644)
    await systemd.daemon_reload(host)
    with pytest.raises(CommandFailed) as caught:
        await systemd.start(host, "broken.service")
    assert "broken.service" in caught.value.stderr
    assert await systemd.active_state(host, "broken.service") == "failed"
    await systemd.reset_failed(host, "broken.service")
    assert await systemd.active_state(host, "broken.service") == "inactive"


@pytest.mark.integration
async def test_journal_follows_and_a_failing_stream_raises(
    ssh_pool: SSHPool, trusted_vm: BootedVm, guest_runtime: LoopbackGuestRuntime
) -> None:
    host = trusted_vm.host
    systemd = Systemd(ssh_pool)
    journal = guest_runtime.guest(trusted_vm.vmid).journal
    journal.log("shop.service", "before", identifier="shop", pid=7)
    lines = systemd.journal(host, "shop.service", 5, follow=True)
    assert (await anext(lines)).endswith("shop[7]: before")
    journal.log("shop.service", "after", identifier="shop", pid=7)
    assert (await asyncio.wait_for(anext(lines), 30)).endswith("shop[7]: after")
    await lines.aclose()  # closes the channel; the pool's connection stays usable
    assert [line.endswith("after") for line in await _tail(systemd, host)] == [True]
    with pytest.raises(CommandFailed, match="without -u"):
        async for _ in ssh_pool.stream(host, ["journalctl", "-f"]):
            pass


async def _tail(systemd: Systemd, host: str) -> list[str]:
    return [line async for line in systemd.journal(host, "shop.service", 1, follow=False)]


@pytest.mark.integration
async def test_a_removal_cut_short_after_the_files_went_finishes_on_the_next_run(
    ssh_pool: SSHPool, trusted_vm: BootedVm
) -> None:
    """A daemon killed between deleting a unit's files and the daemon-reload left systemd
    refusing ``disable`` ("Unit file … does not exist") on every later try: the App's
    removal never finished (the crash scenario, seed 1)."""
    host = trusted_vm.host
    systemd = Systemd(ssh_pool)
    unit_path = "/etc/systemd/system/gone.service"
    await ssh_pool.install_file(host, unit_path, UNIT, mode=0o644)
    await systemd.daemon_reload(host)
    await systemd.enable(host, "gone.service")
    await ssh_pool.run(host, ["rm", "-f", unit_path])  # the first run got this far
    with pytest.raises(CommandFailed, match="does not exist"):
        await systemd.disable(host, "gone.service")  # what real systemd answers
    await remove_unit(ssh_pool, systemd, host, "gone.service", (unit_path,))
    shown = await systemd.show(host, "gone.service")
    assert shown["LoadState"] == "not-found"


async def test_a_system_user_created_meanwhile_is_what_was_wanted(
    ssh_pool: SSHPool, trusted_vm: BootedVm
) -> None:
    """Two Apps on one VM plan the same user from one look; the second useradd finds it
    (exit 9) and is done, not a failure retried later."""
    host = trusted_vm.host
    options = ("--no-create-home", "--shell", "/usr/sbin/nologin")
    await add_system_user(ssh_pool, host, "shop", *options)
    await add_system_user(ssh_pool, host, "shop", *options)  # the other App's action
    assert (await ssh_pool.run(host, ["id", "-u", "shop"])).ok
    with pytest.raises(CommandFailed, match="exited"):  # any other refusal still fails
        await add_system_user(ssh_pool, host, "-bad", *options)
