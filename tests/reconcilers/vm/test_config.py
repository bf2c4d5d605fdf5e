"""Normalising Proxmox's config: a converged VM, as PVE returns it, diffs to nothing."""

from __future__ import annotations

from homeport.clients.proxmox_wire import decode_sshkeys
from homeport.kinds import VM
from homeport.reconcilers.vm.config import desired_config, diff_config, normalise_observed

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHomeport homeport@control"

# The shape of GET /nodes/{node}/qemu/{vmid}/config (reference §5.5): ints as numbers,
# property strings as strings, MACs added by PVE, urlencoded sshkeys, tags normalised.
PVE_CONFIG = {
    "name": "web",
    "cores": 2,
    "sockets": 1,
    "memory": "current=4096",
    "balloon": 0,
    "onboot": 1,
    "agent": "enabled=1,fstrim_cloned_disks=1",
    "net0": "virtio=BC:24:11:AA:BB:CC,bridge=vmbr0,firewall=1,tag=20",
    "ipconfig0": "ip=10.0.10.21/24,gw=10.0.10.1",
    "scsi0": "local-lvm:vm-1000-disk-0,iothread=1,size=40G",
    "tags": "homeport;prod",
    "startup": "order=3,up=10,down=120",
    "description": "shop frontend\n\nmanaged by homeport: VM/web\n",
    "ciuser": "ubuntu",
    "sshkeys": "ssh-ed25519%20AAAAC3NzaC1lZDI1NTE5AAAAIHomeport%20homeport%40control%0A",
    "smbios1": "uuid=1234",
    "vmgenid": "abcd",
}


def _vm() -> VM:
    return VM.model_validate(
        {
            "apiVersion": "homeport.dev/v1alpha1",
            "kind": "VM",
            "metadata": {"name": "web"},
            "spec": {
                "machine": "m1",
                "memoryMiB": 4096,
                "description": "shop frontend",
                "tags": ["prod"],
                "network": [{"ip": "10.0.10.21/24", "gateway": "10.0.10.1", "vlan": 20}],
            },
        }
    )


def test_converged_pve_config_has_no_diff() -> None:
    observed = normalise_observed(PVE_CONFIG, decode_sshkeys(str(PVE_CONFIG["sshkeys"])))
    diff = diff_config(desired_config(_vm(), homeport_keys=[KEY]), observed)
    assert diff.empty, diff


def test_unmanaged_keys_are_ignored_and_removed_nics_deleted() -> None:
    observed = normalise_observed(
        {**PVE_CONFIG, "net1": "e1000=BC:24:11:00:00:01,bridge=vmbr1", "ipconfig1": "ip=dhcp"},
        decode_sshkeys(str(PVE_CONFIG["sshkeys"])),
    )
    diff = diff_config(desired_config(_vm(), homeport_keys=[KEY]), observed)
    assert diff.set == ()
    assert diff.delete == ("ipconfig1", "net1")


def _gpu_vm(machine_type: str, devices: list[dict[str, object]]) -> VM:
    return VM.model_validate(
        {
            "apiVersion": "homeport.dev/v1alpha1",
            "kind": "VM",
            "metadata": {"name": "llm"},
            "spec": {"machine": "m1", "machineType": machine_type, "pciDevices": devices},
        }
    )


def test_passthrough_as_pve_stores_it_is_not_drift() -> None:
    vm = _gpu_vm(
        "q35",
        [{"mapping": "gpu", "pcie": True, "primaryGpu": True}, {"device": "0000:02:00.0"}],
    )
    wanted = desired_config(vm, homeport_keys=[KEY])
    assert wanted["hostpci0"] == "mapping=gpu,pcie=1,x-vga=1"
    assert wanted["hostpci1"] == "0000:02:00.0" and wanted["machine"] == "q35"
    seen = normalise_observed(
        {
            "hostpci0": "mapping=gpu,x-vga=1,pcie=1,rombar=1",
            "hostpci1": "host=0000:02:00.0",
            "machine": "pc-q35-9.2+pve1",
        },
        [],
    )
    assert {k: seen[k] for k in ("hostpci0", "hostpci1", "machine")} == {
        k: wanted[k] for k in ("hostpci0", "hostpci1", "machine")
    }


def test_i440fx_is_proxmox_pc_and_its_default() -> None:
    wanted = desired_config(_gpu_vm("i440fx", []), homeport_keys=[KEY])
    assert wanted["machine"] == "pc"
    assert normalise_observed({}, [])["machine"] == "pc"
    assert normalise_observed({"machine": "pc-i440fx-8.1"}, [])["machine"] == "pc"


def test_an_undeclared_hostpci_is_deleted() -> None:
    diff = diff_config({"name": "llm"}, {"name": "llm", "hostpci0": "0000:01:00"})
    assert diff.delete == ("hostpci0",)
