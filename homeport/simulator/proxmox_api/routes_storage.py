"""Storage configuration (`/storage`), status and content, backups (`vzdump`, prune) and backup jobs (`/cluster/backup`).

Volumes are addressed by full volid or by name relative to the storage; a volid's slashes
arrive raw in the path (`router` lets `{volume}` take the rest). Behaviour: `pve.storage`,
`pve.backups`, `pve.backup_jobs`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from homeport.simulator.errors import PveError
from homeport.simulator.propstring import parse_keep_options
from homeport.simulator.proxmox_api.router import Call, Route, route
from homeport.simulator.pve import backups
from homeport.simulator.pve import qemu_config as qc
from homeport.simulator.pve import storage as st
from homeport.simulator.schema import (
    BOOLEAN,
    INTEGER,
    NODE,
    OPT_VMID,
    STRING,
    Param,
    Schema,
    enum,
    fmt,
    schema,
)

STORAGE = fmt("pve-storage-id")
VOLUME = {"node": NODE, "storage": STORAGE, "volume": STRING.required}
VZDUMP_PARAMS: dict[str, Param] = {
    "all": BOOLEAN,
    "bwlimit": Param("integer", minimum=0),
    "compress": enum("0", "1", "gzip", "lzo", "zstd"),
    "dumpdir": STRING,
    "exclude": fmt("pve-vmid-list"),
    "fleecing": STRING,
    "ionice": Param("integer", minimum=0, maximum=8),
    "job-id": Param(max_length=50),
    "lockwait": Param("integer", minimum=0),
    "mailnotification": enum("always", "failure"),
    "mailto": STRING,
    "maxfiles": Param("integer", minimum=1),
    "mode": enum("snapshot", "suspend", "stop"),
    "notes-template": Param(max_length=1024, requires="storage"),
    "notification-mode": enum("auto", "legacy-sendmail", "notification-system"),
    "performance": STRING,
    "pigz": INTEGER,
    "pool": STRING,
    "protected": Param("boolean", requires="storage"),
    "prune-backups": fmt("prune-backups"),
    "quiet": BOOLEAN,
    "remove": BOOLEAN,
    "script": STRING,
    "stdexcludes": BOOLEAN,
    "stop": BOOLEAN,
    "stopwait": Param("integer", minimum=0),
    "storage": STORAGE,
    "tmpdir": STRING,
    "vmid": fmt("pve-vmid-list"),
    "zstd": INTEGER,
}
JOB_PARAMS: dict[str, Param] = {
    **{k: v for k, v in VZDUMP_PARAMS.items() if k not in ("stdout", "dumpdir", "script")},
    "schedule": Param(format="pve-calendar-event", max_length=128),
    "enabled": BOOLEAN,
    "comment": Param(max_length=512),
    "repeat-missed": BOOLEAN,
    "starttime": Param(pattern=r"\d{1,2}:\d{1,2}"),
    "dow": STRING,
    "node": fmt("pve-node"),
}


def _storage(call: Call) -> st.Storage:
    return st.storage_or_error(call.world, str(call.params["storage"]))


def _volume(call: Call) -> st.Volume:
    storage = _storage(call)
    name = str(call.params["volume"])
    volid = name if ":" in name else f"{storage.id}:{name}"
    volume = call.world.volumes.get(storage.scope(call.node), volid)
    if volume is None:
        raise PveError(f"volume '{volid}' does not exist")
    return volume


async def list_storage(call: Call) -> Any:
    content = call.params.get("content")
    wanted = call.params.get("storage")
    return [
        st.storage_status(call.world, s, call.node)
        for s in call.world.storages.values()
        if (content is None or s.supports(str(content))) and wanted in (None, s.id)
    ]


async def storage_status(call: Call) -> Any:
    return st.storage_status(call.world, _storage(call), call.node)


def _config_view(storage: st.Storage) -> dict[str, Any]:
    """`GET /storage/{storage}`: the `storage.cfg` section (keys that are set, and a digest)."""
    view: dict[str, Any] = {
        "storage": storage.id,
        "type": storage.type,
        "content": ",".join(sorted(storage.content)),
    }
    if storage.path:
        view["path"] = storage.path
    if storage.shared and storage.type == "dir":
        view["shared"] = 1
    if storage.type == "lvmthin":
        view.update(vgname="pve", thinpool="data")
    if storage.type == "zfspool":
        view.update(pool=storage.pool, sparse=1)
    if storage.prune_backups != "keep-all=1":
        view["prune-backups"] = storage.prune_backups
    view["digest"] = hashlib.sha1(json.dumps(view, sort_keys=True).encode()).hexdigest()
    return view


async def list_storage_config(call: Call) -> Any:
    wanted = call.params.get("type")
    return [
        _config_view(s) for s in call.world.storages.values() if wanted is None or s.type == wanted
    ]


async def storage_config(call: Call) -> Any:
    return _config_view(st.storage_or_error(call.world, str(call.params["storage"])))


async def list_content(call: Call) -> Any:
    storage = _storage(call)
    content = call.params.get("content")
    vmid = call.params.get("vmid")
    volumes = call.world.volumes.on(storage.id, storage.scope(call.node))
    return [
        st.content_item(v)
        for v in sorted(volumes, key=lambda v: v.volid)
        if (content is None or v.content == content) and (vmid is None or v.vmid == vmid)
    ]


async def get_volume(call: Call) -> Any:
    volume = _volume(call)
    info: dict[str, Any] = {
        "format": volume.format,
        "size": volume.size,
        "used": volume.used,
        "path": backups.storage_path(call.world, volume),
    }
    if volume.notes is not None:
        info["notes"] = volume.notes
    if volume.protected:
        info["protected"] = 1
    return info


async def update_volume(call: Call) -> Any:
    volume = _volume(call)
    if "notes" in call.params:
        volume.notes = str(call.params["notes"]) or None
    if "protected" in call.params:
        if volume.content != "backup":
            raise PveError("volume attribute 'protected' is only supported for backups")
        volume.protected = bool(call.params["protected"])
    call.world.changed()


async def delete_volume(call: Call) -> Any:
    volume = _volume(call)
    world = call.world
    if volume.content == "images":
        owner = world.vms.get(volume.vmid)
        if owner is not None and volume.volid in {str(v) for v in _referenced(owner)}:
            raise PveError(f"unable to remove volume '{volume.volid}' - used by VM {volume.vmid}")

    async def worker(ctx: Any) -> None:
        if volume.content == "backup":
            backups.remove_backup(world, volume)
        else:
            world.volumes.remove(volume)
        ctx.log(f"Removed volume '{volume.volid}'")
        world.changed()

    task = world.tasks.spawn(world, call.node, "imgdel", "", call.user, worker)
    if call.params.get("delay"):
        await world.clock.wait(world.tasks.wait(task.text), float(call.params["delay"]))
        if task.status == "stopped" and task.ok:
            return None
    return task.text


def _referenced(vm: Any) -> list[str]:
    return list(qc.drive_volumes(vm.conf).values())


def _keep(call: Call, storage: st.Storage) -> dict[str, int]:
    return parse_keep_options(str(call.params.get("prune-backups", storage.prune_backups)))


async def prune_dry_run(call: Call) -> Any:
    storage = _storage(call)
    scope = storage.scope(call.node)
    marks = backups.prune_marks(
        call.world, storage, scope, call.params.get("vmid"), _keep(call, storage)
    )
    items = []
    for volume in backups.backups_of(call.world, storage, scope, call.params.get("vmid")):
        items.append(
            {
                "volid": volume.volid,
                "ctime": volume.ctime,
                "mark": marks[volume.volid],
                "type": "qemu",
                "vmid": volume.vmid,
            }
        )
    return items


async def prune(call: Call) -> Any:
    storage = _storage(call)
    keep = _keep(call, storage)
    vmid = call.params.get("vmid")
    world = call.world

    async def worker(ctx: Any) -> None:
        removed = backups.prune_group(world, storage, storage.scope(call.node), vmid, keep)
        for volid in removed:
            ctx.log(f"removing backup '{volid}'")

    return world.tasks.spawn(world, call.node, "prunebackups", storage.id, call.user, worker).text


async def vzdump(call: Call) -> Any:
    params = {k: v for k, v in call.params.items() if k != "node"}
    return backups.request_vzdump(call.world, call.node, params, call.user)


async def list_jobs(call: Call) -> Any:
    jobs = call.world.backup_jobs
    return [jobs.view(job) for job in sorted(jobs.jobs.values(), key=lambda j: j.id)]


async def create_job(call: Call) -> Any:
    call.world.backup_jobs.create(call.world, call.params)


async def get_job(call: Call) -> Any:
    jobs = call.world.backup_jobs
    return jobs.view(jobs.get(str(call.params["id"])))


async def update_job(call: Call) -> Any:
    params = {k: v for k, v in call.params.items() if k != "id"}
    call.world.backup_jobs.update(call.world, str(call.params["id"]), params)


async def delete_job(call: Call) -> Any:
    call.world.backup_jobs.remove(call.world, str(call.params["id"]))


def _job_schema(**extra: Param) -> Schema:
    return schema({**JOB_PARAMS, **extra})


ROUTES: list[Route] = [
    route("GET", "/storage", list_storage_config, schema(type=STRING)),
    route("GET", "/storage/{storage}", storage_config, schema(storage=STORAGE.required)),
    route(
        "GET",
        "/nodes/{node}/storage",
        list_storage,
        schema(
            node=NODE,
            content=STRING,
            enabled=BOOLEAN,
            format=BOOLEAN,
            storage=STORAGE,
            target=fmt("pve-node"),
        ),
    ),
    route(
        "GET",
        "/nodes/{node}/storage/{storage}/status",
        storage_status,
        schema(node=NODE, storage=STORAGE),
    ),
    route(
        "GET",
        "/nodes/{node}/storage/{storage}/content",
        list_content,
        schema(node=NODE, storage=STORAGE, content=STRING, vmid=OPT_VMID),
    ),
    route(
        "GET",
        "/nodes/{node}/storage/{storage}/prunebackups",
        prune_dry_run,
        schema(
            node=NODE,
            storage=STORAGE,
            vmid=OPT_VMID,
            type=enum("qemu", "lxc"),
            **{"prune-backups": fmt("prune-backups")},
        ),
    ),
    route(
        "DELETE",
        "/nodes/{node}/storage/{storage}/prunebackups",
        prune,
        schema(
            node=NODE,
            storage=STORAGE,
            vmid=OPT_VMID,
            type=enum("qemu", "lxc"),
            **{"prune-backups": fmt("prune-backups")},
        ),
    ),
    route("GET", "/nodes/{node}/storage/{storage}/content/{volume}", get_volume, schema(VOLUME)),
    route(
        "PUT",
        "/nodes/{node}/storage/{storage}/content/{volume}",
        update_volume,
        schema({**VOLUME, "notes": STRING, "protected": BOOLEAN}),
    ),
    route(
        "DELETE",
        "/nodes/{node}/storage/{storage}/content/{volume}",
        delete_volume,
        schema({**VOLUME, "delay": Param("integer", minimum=1, maximum=30)}),
    ),
    route(
        "POST",
        "/nodes/{node}/vzdump",
        vzdump,
        schema({**VZDUMP_PARAMS, "node": NODE, "stdout": BOOLEAN}),
    ),
    route("GET", "/cluster/backup", list_jobs),
    route("POST", "/cluster/backup", create_job, _job_schema(id=fmt("pve-configid"))),
    route("GET", "/cluster/backup/{id}", get_job, schema(id=Param(max_length=50, optional=False))),
    route(
        "PUT",
        "/cluster/backup/{id}",
        update_job,
        _job_schema(id=Param(max_length=50, optional=False), delete=fmt("pve-configid-list")),
    ),
    route(
        "DELETE",
        "/cluster/backup/{id}",
        delete_job,
        schema(id=Param(max_length=50, optional=False)),
    ),
]
