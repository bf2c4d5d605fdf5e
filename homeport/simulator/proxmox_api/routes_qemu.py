"""`/nodes/{node}/qemu...`: list, create/restore, config, pending, power, clone, migrate,
resize, template, cloud-init and delete. Schemas follow the PVE 9 apidoc (Appendix A of the
reference); behaviour lives in `homeport.simulator.pve` (one module per operation).
"""

from __future__ import annotations

from typing import Any

from homeport.simulator.errors import PveError, param_error
from homeport.simulator.formats import ssh_keys
from homeport.simulator.proxmox_api.router import Call, Route, route
from homeport.simulator.pve import clone, config_update, create, destroy, disks, migrate, power
from homeport.simulator.pve import qemu_config as qc
from homeport.simulator.pve.qemu_options import config_schema
from homeport.simulator.pve.vms import vm_index_item, vm_on_node, vm_status_current
from homeport.simulator.schema import BOOLEAN, INTEGER, NODE, STRING, VMID, Param, enum, fmt, schema

DISKS = enum(
    *[f"ide{i}" for i in range(4)],
    *[f"scsi{i}" for i in range(31)],
    *[f"virtio{i}" for i in range(16)],
    *[f"sata{i}" for i in range(6)],
    "efidisk0",
    "tpmstate0",
)
VM = {"node": NODE, "vmid": VMID}
SKIPLOCK = {"skiplock": BOOLEAN}
CONFIG = config_schema()
CREATE = CONFIG.extend(
    {
        "node": NODE,
        "vmid": VMID,
        "archive": Param(max_length=255),
        "start": BOOLEAN,
        "ha-managed": BOOLEAN,
        "pool": STRING,
        "storage": fmt("pve-storage-id"),
        "unique": Param("boolean", requires="archive"),
        "force": Param("boolean", requires="archive"),
        "bwlimit": Param("integer", minimum=0),
        "live-restore": BOOLEAN,
    }
)
UPDATE_CONTROL = {
    **VM,
    **SKIPLOCK,
    "delete": fmt("pve-configid-list"),
    "revert": fmt("pve-configid-list"),
    "digest": Param(max_length=40),
    "force": Param("boolean", requires="delete"),
}
UPDATE_SYNC = CONFIG.extend(UPDATE_CONTROL)
UPDATE_ASYNC = CONFIG.extend(
    {**UPDATE_CONTROL, "background_delay": Param("integer", minimum=1, maximum=30)}
)


def _root_only(call: Call) -> None:
    if call.params.get("skiplock") and call.identity.userid != "root@pam":
        raise param_error("skiplock", "Only root may use this option.")


def _check_ssh_keys(params: dict[str, Any]) -> None:
    if "sshkeys" in params:
        try:
            ssh_keys(str(params["sshkeys"]))
        except ValueError as err:
            raise PveError(str(err)) from err


def _without_path(call: Call) -> dict[str, Any]:
    return {k: v for k, v in call.params.items() if k not in ("node", "vmid")}


async def list_vms(call: Call) -> Any:
    world = call.world
    return [vm_index_item(world, vm) for vm in world.vms.values() if vm.node == call.node]


async def create_vm(call: Call) -> Any:
    _check_ssh_keys(call.params)
    params = dict(call.params)
    params.pop("node")
    return create.create_vm(call.world, call.node, params, call.user).text


async def vm_index(call: Call) -> Any:
    vm_on_node(call.world, call.node, call.vmid)
    names = (
        "config",
        "pending",
        "status",
        "clone",
        "migrate",
        "resize",
        "template",
        "cloudinit",
        "agent",
        "firewall",
    )
    return [{"subdir": name} for name in names]


async def get_config(call: Call) -> Any:
    vm = vm_on_node(call.world, call.node, call.vmid)
    if call.params.get("snapshot"):
        raise PveError(f"snapshot '{call.params['snapshot']}' does not exist")
    conf = vm.conf if call.params.get("current") else vm.effective()
    return {**qc.masked(conf), "digest": vm.digest()}


async def post_config(call: Call) -> Any:
    return await _update(call, sync=False)


async def put_config(call: Call) -> Any:
    return await _update(call, sync=True)


async def _update(call: Call, *, sync: bool) -> Any:
    _root_only(call)
    _check_ssh_keys(call.params)
    return await config_update.update_config(
        call.world, call.node, call.vmid, _without_path(call), call.user, sync=sync
    )


async def pending(call: Call) -> Any:
    return config_update.pending_view(vm_on_node(call.world, call.node, call.vmid))


async def status_index(call: Call) -> Any:
    vm_on_node(call.world, call.node, call.vmid)
    return [{"subdir": s} for s in ("current", "start", "stop", "shutdown", "reboot")]


async def status_current(call: Call) -> Any:
    return vm_status_current(call.world, vm_on_node(call.world, call.node, call.vmid))


async def start(call: Call) -> Any:
    _root_only(call)
    vm = vm_on_node(call.world, call.node, call.vmid)
    return power.request_start(
        call.world, vm, call.user, skiplock=bool(call.params.get("skiplock"))
    ).text


async def stop(call: Call) -> Any:
    _root_only(call)
    vm = vm_on_node(call.world, call.node, call.vmid)
    if call.params.get("overrule-shutdown") and call.world.ha.managed(call.vmid):
        raise param_error("overrule-shutdown", "Not applicable for HA resources.")
    return power.request_stop(
        call.world, vm, call.user, skiplock=bool(call.params.get("skiplock"))
    ).text


async def shutdown(call: Call) -> Any:
    _root_only(call)
    vm = vm_on_node(call.world, call.node, call.vmid)
    task = power.request_shutdown(
        call.world,
        vm,
        call.user,
        timeout=call.params.get("timeout"),
        force_stop=bool(call.params.get("forceStop")),
        skiplock=bool(call.params.get("skiplock")),
    )
    return task.text


async def reboot(call: Call) -> Any:
    vm = vm_on_node(call.world, call.node, call.vmid)
    return power.request_reboot(call.world, vm, call.user, timeout=call.params.get("timeout")).text


async def clone_vm(call: Call) -> Any:
    return clone.request_clone(
        call.world, call.node, call.vmid, _without_path(call), call.user
    ).text


async def migrate_preconditions(call: Call) -> Any:
    return migrate.preconditions(call.world, call.node, call.vmid, call.params.get("target"))


async def migrate_vm(call: Call) -> Any:
    return migrate.request_migrate(
        call.world, call.node, call.vmid, _without_path(call), call.user
    ).text


async def resize(call: Call) -> Any:
    _root_only(call)
    return disks.request_resize(
        call.world, call.node, call.vmid, _without_path(call), call.user
    ).text


async def template(call: Call) -> Any:
    return disks.request_template(call.world, call.node, call.vmid, call.user).text


async def get_cloudinit(call: Call) -> Any:
    return config_update.cloudinit_view(vm_on_node(call.world, call.node, call.vmid))


async def put_cloudinit(call: Call) -> Any:
    await config_update.regenerate_cloudinit(call.world, call.node, call.vmid)


async def delete_vm(call: Call) -> Any:
    _root_only(call)
    task = destroy.request_destroy(
        call.world,
        call.node,
        call.vmid,
        call.user,
        purge=bool(call.params.get("purge")),
        unreferenced=bool(call.params.get("destroy-unreferenced-disks")),
        skiplock=bool(call.params.get("skiplock")),
    )
    return task.text


BASE = "/nodes/{node}/qemu/{vmid}"
TIMEOUT = Param("integer", minimum=0)

ROUTES: list[Route] = [
    route("GET", "/nodes/{node}/qemu", list_vms, schema(node=NODE, full=BOOLEAN)),
    route("POST", "/nodes/{node}/qemu", create_vm, CREATE),
    route("GET", BASE, vm_index, schema(VM)),
    route(
        "DELETE",
        BASE,
        delete_vm,
        schema({**VM, **SKIPLOCK, "purge": BOOLEAN, "destroy-unreferenced-disks": BOOLEAN}),
    ),
    route(
        "GET",
        f"{BASE}/config",
        get_config,
        schema({**VM, "current": BOOLEAN, "snapshot": fmt("pve-configid")}),
    ),
    route("POST", f"{BASE}/config", post_config, UPDATE_ASYNC),
    route("PUT", f"{BASE}/config", put_config, UPDATE_SYNC),
    route("GET", f"{BASE}/pending", pending, schema(VM)),
    route("GET", f"{BASE}/status", status_index, schema(VM)),
    route("GET", f"{BASE}/status/current", status_current, schema(VM)),
    route(
        "POST",
        f"{BASE}/status/start",
        start,
        schema(
            {
                **VM,
                **SKIPLOCK,
                "timeout": TIMEOUT,
                "machine": STRING,
                "migratedfrom": fmt("pve-node"),
                "migration_network": STRING,
                "migration_type": enum("secure", "insecure"),
                "stateuri": Param(max_length=128),
                "targetstorage": STRING,
                "force-cpu": STRING,
                "nets-host-mtu": STRING,
                "with-conntrack-state": BOOLEAN,
            }
        ),
    ),
    route(
        "POST",
        f"{BASE}/status/stop",
        stop,
        schema(
            {
                **VM,
                **SKIPLOCK,
                "timeout": TIMEOUT,
                "keepActive": BOOLEAN,
                "migratedfrom": fmt("pve-node"),
                "overrule-shutdown": BOOLEAN,
            }
        ),
    ),
    route(
        "POST",
        f"{BASE}/status/shutdown",
        shutdown,
        schema({**VM, **SKIPLOCK, "timeout": TIMEOUT, "forceStop": BOOLEAN, "keepActive": BOOLEAN}),
    ),
    route("POST", f"{BASE}/status/reboot", reboot, schema({**VM, "timeout": TIMEOUT})),
    route(
        "POST",
        f"{BASE}/clone",
        clone_vm,
        schema(
            {
                **VM,
                "newid": VMID,
                "name": fmt("dns-name"),
                "description": STRING,
                "pool": STRING,
                "snapname": Param(format="pve-configid", max_length=40),
                "storage": fmt("pve-storage-id"),
                "format": enum("raw", "qcow2", "vmdk"),
                "full": BOOLEAN,
                "target": fmt("pve-node"),
                "bwlimit": Param("integer", minimum=0),
            }
        ),
    ),
    route(
        "GET", f"{BASE}/migrate", migrate_preconditions, schema({**VM, "target": fmt("pve-node")})
    ),
    route(
        "POST",
        f"{BASE}/migrate",
        migrate_vm,
        schema(
            {
                **VM,
                "target": NODE,
                "online": BOOLEAN,
                "with-local-disks": BOOLEAN,
                "targetstorage": STRING,
                "force": BOOLEAN,
                "migration_type": enum("secure", "insecure"),
                "migration_network": STRING,
                "bwlimit": INTEGER,
                "with-conntrack-state": BOOLEAN,
            }
        ),
    ),
    route(
        "PUT",
        f"{BASE}/resize",
        resize,
        schema(
            {
                **VM,
                **SKIPLOCK,
                "disk": DISKS.required,
                "size": Param(pattern=r"\+?\d+(\.\d+)?[KMGT]?", optional=False),
                "digest": Param(max_length=40),
            }
        ),
    ),
    route("POST", f"{BASE}/template", template, schema({**VM, "disk": DISKS})),
    route("GET", f"{BASE}/cloudinit", get_cloudinit, schema(VM)),
    route("PUT", f"{BASE}/cloudinit", put_cloudinit, schema(VM)),
]
