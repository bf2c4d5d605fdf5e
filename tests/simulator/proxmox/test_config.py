"""VM config: typed values, digests, pending changes, deletes, the sshkeys quirk."""

from __future__ import annotations

import urllib.parse

import pytest
from proxmoxer import ResourceException

from tests.simulator.proxmox.target import Target

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB8pq3+0/x me@host"


@pytest.fixture
def vm(sim: Target) -> object:
    sim.clone("pve2", 9001, 300, name="cfg")
    return sim.api.nodes("pve2").qemu(300)


def test_values_come_back_typed(sim: Target, vm: object) -> None:
    config = sim.api.nodes("pve2").qemu(300).config.get()
    assert isinstance(config["cores"], int)
    assert isinstance(config["memory"], str) and isinstance(config["agent"], str)
    sim.api.nodes("pve2").qemu(300).config.put(onboot=1, cpulimit="1.5", balloon=1024)
    config = sim.api.nodes("pve2").qemu(300).config.get()
    assert config["onboot"] == 1 and config["cpulimit"] == "1.5" and config["balloon"] == 1024


def test_booleans_are_only_0_or_1(sim: Target, vm: object) -> None:
    with pytest.raises(ResourceException) as err:
        sim.api.nodes("pve2").qemu(300).config.put(onboot=True)
    assert err.value.status_code == 400
    assert err.value.errors == {"onboot": "type check ('boolean') failed - got 'True'"}


def test_put_is_synchronous_and_post_returns_a_qmconfig_task(sim: Target, vm: object) -> None:
    api = sim.api.nodes("pve2").qemu(300)
    assert api.config.put(cores=3) is None
    assert api.config.get()["cores"] == 3
    upid = api.config.post(cores=4, description="managed by homeport\n\n")
    assert ":qmconfig:300:" in upid
    sim.ok("pve2", upid)
    config = api.config.get()
    assert config["cores"] == 4 and config["description"] == "managed by homeport"
    assert api.config.post(cores=5, background_delay=5) is None


def test_digest_guards_concurrent_writes(sim: Target, vm: object) -> None:
    api = sim.api.nodes("pve2").qemu(300)
    digest = api.config.get()["digest"]
    api.config.put(cores=3, digest=digest)
    new_digest = api.config.get()["digest"]
    assert new_digest != digest
    with pytest.raises(ResourceException) as err:
        api.config.put(cores=4, digest=digest)
    assert err.value.content == "checksum mismatch (file change by other user?)"
    assert api.config.get()["digest"] == new_digest


@pytest.mark.pve_refusal_expected
def test_delete_and_its_errors(sim: Target, vm: object) -> None:
    api = sim.api.nodes("pve2").qemu(300)
    api.config.put(tags="a", onboot=1)
    api.config.put(delete="tags,onboot")
    config = api.config.get()
    assert "tags" not in config and "onboot" not in config
    with pytest.raises(ResourceException) as err:
        api.config.put(delete="nosuchoption")
    assert err.value.status_code == 400 and err.value.errors == {
        "delete": "unknown option 'nosuchoption'"
    }
    with pytest.raises(ResourceException) as err:
        api.config.put(cores=2, delete="cores")
    assert err.value.errors == {
        "delete": "you can't use '-cores' and -delete cores' at the same time"
    }
    with pytest.raises(ResourceException) as err:
        api.config.put()
    assert err.value.content == "no options specified"
    with pytest.raises(ResourceException) as err:
        api.config.put(bogus=1)
    assert err.value.status_code == 400 and "bogus" in err.value.errors


def test_sshkeys_must_be_percent_encoded(sim: Target, vm: object) -> None:
    api = sim.api.nodes("pve2").qemu(300)
    with pytest.raises(ResourceException) as err:
        api.config.put(sshkeys=urllib.parse.quote_plus(KEY))
    assert err.value.status_code == 400
    assert err.value.errors["sshkeys"].startswith("invalid format - invalid urlencoded string: ")
    with pytest.raises(ResourceException):
        api.config.put(sshkeys=KEY)
    encoded = urllib.parse.quote(KEY + "\n", safe="")
    api.config.put(sshkeys=encoded)
    stored = api.config.get()["sshkeys"]
    assert stored == encoded
    assert urllib.parse.unquote(stored) == KEY + "\n"
    with pytest.raises(ResourceException) as err:
        api.config.put(sshkeys=urllib.parse.quote("not a key", safe=""))
    assert err.value.content == "SSH public key validation error"


def test_cloud_init_values_and_masking(sim: Target, vm: object) -> None:
    api = sim.api.nodes("pve2").qemu(300)
    api.config.put(ciuser="ops", cipassword="secret", ipconfig0="ip=10.0.0.5/24,gw=10.0.0.1")
    config = api.config.get()
    assert config["cipassword"] == "**********"
    assert config["ipconfig0"] == "ip=10.0.0.5/24,gw=10.0.0.1"
    with pytest.raises(ResourceException) as err:
        api.config.put(ipconfig0="ip=10.0.0.5")
    assert err.value.status_code == 400
    pending = {i["key"]: i for i in api.cloudinit.get()}
    assert pending["ciuser"]["pending"] == "ops" and "value" not in pending["ciuser"]
    assert api.cloudinit.put() is None
    pending = {i["key"]: i for i in api.cloudinit.get()}
    assert pending["ciuser"] == {"key": "ciuser", "value": "ops"}


def test_running_vm_keeps_cold_changes_pending(sim: Target, vm: object) -> None:
    api = sim.api.nodes("pve2").qemu(300)
    sim.start("pve2", 300)
    sim.ok("pve2", api.config.post(cores=4, name="renamed", memory="4096"))
    assert api.config.get()["cores"] == 4
    current = api.config.get(current=1)
    assert current["cores"] == 2 and current["memory"] == "2048" and current["name"] == "renamed"
    pending = {i["key"]: i for i in api.pending.get()}
    assert pending["cores"] == {"key": "cores", "value": 2, "pending": 4}
    assert "pending" not in pending["name"]
    api.config.put(revert="cores")
    assert api.config.get()["cores"] == 2
    sim.ok("pve2", api.status.stop.post())
    assert api.config.get(current=1)["memory"] == "4096"


def test_adding_and_removing_disks(sim: Target, vm: object) -> None:
    api = sim.api.nodes("pve2").qemu(300)
    api.config.put(scsi1="local-lvm:8")
    assert api.config.get()["scsi1"] == "local-lvm:vm-300-disk-1,size=8G"
    api.config.put(delete="scsi1")
    config = api.config.get()
    assert "scsi1" not in config and config["unused0"] == "local-lvm:vm-300-disk-1"
    api.config.put(delete="unused0")
    assert "unused0" not in api.config.get()
    assert "local-lvm:vm-300-disk-1" not in {
        c["volid"] for c in sim.api.nodes("pve2").storage("local-lvm").content.get()
    }


@pytest.mark.pve_refusal_expected
def test_force_needs_something_to_force(sim: Target, vm: object) -> None:
    """PVE's schema: a config update's `force` `requires` `delete`, a create's `archive`."""
    with pytest.raises(ResourceException) as err:
        sim.api.nodes("pve2").qemu(300).config.put(force=1, memory=2048)
    assert err.value.errors == {"delete": "missing property - 'force' requires this property"}
    with pytest.raises(ResourceException) as err:
        sim.api.nodes("pve2").qemu.post(vmid=990, unique=1)
    assert err.value.errors == {"archive": "missing property - 'unique' requires this property"}


@pytest.mark.pve_refusal_expected
def test_tags_are_normalised(sim: Target, vm: object) -> None:
    api = sim.api.nodes("pve2").qemu(300)
    api.config.put(tags="Web, prod;web homeport")
    assert api.config.get()["tags"] == "homeport;prod;web"
    with pytest.raises(ResourceException) as err:
        api.config.put(tags="bad/tag")
    assert err.value.status_code == 400


def test_config_of_a_vm_on_another_node(sim: Target, vm: object) -> None:
    with pytest.raises(ResourceException) as err:
        sim.api.nodes("pve3").qemu(300).config.get()
    assert err.value.status_code == 500
    assert (
        err.value.content == "Configuration file 'nodes/pve3/qemu-server/300.conf' does not exist"
    )


def test_skiplock_is_root_only(sim: Target, vm: object) -> None:
    with pytest.raises(ResourceException) as err:
        sim.api.nodes("pve2").qemu(300).config.put(cores=2, skiplock=1)
    assert err.value.errors == {"skiplock": "Only root may use this option."}
