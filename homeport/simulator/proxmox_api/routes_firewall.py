"""Firewall: per VM (`.../qemu/{vmid}/firewall/options`, `.../firewall/rules[/{pos}]`),
per node and cluster-wide options (`/nodes/{node}/firewall/options`, `/cluster/firewall/options`)
and rules (`/nodes/{node}/firewall/rules[/{pos}]`, `/cluster/firewall/rules[/{pos}]`).

Behaviour in `pve.firewall`.
"""

from __future__ import annotations

from typing import Any

from homeport.simulator.proxmox_api.router import Call, Route, route
from homeport.simulator.pve import firewall
from homeport.simulator.pve.vms import Vm, vm_on_node
from homeport.simulator.schema import BOOLEAN, NODE, STRING, VMID, Param, enum, fmt, schema

BASE = "/nodes/{node}/qemu/{vmid}/firewall"
VM = {"node": NODE, "vmid": VMID}
LOG = enum("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug", "nolog")
POLICY = enum("ACCEPT", "REJECT", "DROP")
OPTIONS: dict[str, Param] = {
    "dhcp": BOOLEAN,
    "enable": BOOLEAN,
    "ipfilter": BOOLEAN,
    "log_level_in": LOG,
    "log_level_out": LOG,
    "macfilter": BOOLEAN,
    "ndp": BOOLEAN,
    "policy_in": POLICY,
    "policy_out": POLICY,
    "radv": BOOLEAN,
}
RULE: dict[str, Param] = {
    "action": Param(pattern=r"[A-Za-z][A-Za-z0-9\-\_]+", max_length=20),
    "comment": STRING,
    "dest": Param(max_length=512),
    "dport": STRING,
    "enable": Param("integer", minimum=0),
    "icmp-type": STRING,
    "iface": Param(max_length=20),
    "log": LOG,
    "macro": Param(max_length=128),
    "proto": STRING,
    "source": Param(max_length=512),
    "sport": STRING,
    "type": enum("in", "out", "forward", "group"),
    "digest": Param(max_length=64),
}
POS = Param("integer", minimum=0)


def _vm(call: Call) -> Vm:
    return vm_on_node(call.world, call.node, call.vmid)


async def get_options(call: Call) -> Any:
    return firewall.options_view(_vm(call))


async def set_options(call: Call) -> Any:
    firewall.set_options(_vm(call), {k: v for k, v in call.params.items() if k not in VM})
    call.world.changed()


async def list_rules(call: Call) -> Any:
    return firewall.rules_view(_vm(call))


async def create_rule(call: Call) -> Any:
    firewall.create_rule(_vm(call), call.params)
    call.world.changed()


async def get_rule(call: Call) -> Any:
    return firewall.rule_view(_vm(call), int(call.params["pos"]))


async def update_rule(call: Call) -> Any:
    firewall.update_rule(_vm(call), int(call.params["pos"]), call.params)
    call.world.changed()


async def delete_rule(call: Call) -> Any:
    firewall.delete_rule(_vm(call), int(call.params["pos"]), call.params)
    call.world.changed()


NODE_OPTIONS: dict[str, Param] = {
    "enable": BOOLEAN,
    "log_level_in": LOG,
    "log_level_out": LOG,
    "log_level_forward": LOG,
    "ndp": BOOLEAN,
    "nosmurfs": BOOLEAN,
    "smurf_log_level": LOG,
    "tcpflags": BOOLEAN,
    "tcp_flags_log_level": LOG,
    "nf_conntrack_max": Param("integer", minimum=32768),
    "protection_synflood": BOOLEAN,
}
CLUSTER_OPTIONS: dict[str, Param] = {
    "enable": Param("integer", minimum=0),
    "ebtables": BOOLEAN,
    "log_ratelimit": STRING,
    "policy_in": POLICY,
    "policy_out": POLICY,
    "policy_forward": enum("ACCEPT", "DROP"),
}
EDIT = {"delete": fmt("pve-configid-list"), "digest": Param(max_length=64)}


async def get_node_options(call: Call) -> Any:
    return firewall.host_options_view(call.world.nodes[call.node].firewall)


async def set_node_options(call: Call) -> Any:
    params = {k: v for k, v in call.params.items() if k != "node"}
    firewall.set_host_options(call.world.nodes[call.node].firewall, params)
    call.world.changed()


async def get_cluster_options(call: Call) -> Any:
    return firewall.host_options_view(call.world.cluster_firewall)


async def set_cluster_options(call: Call) -> Any:
    firewall.set_host_options(call.world.cluster_firewall, call.params)
    call.world.changed()


def _host_rules(call: Call) -> list[dict[str, Any]]:
    if "node" in call.params:
        return call.world.nodes[call.node].firewall_rules
    return call.world.cluster_firewall_rules


async def list_host_rules(call: Call) -> Any:
    return firewall.host_rules_view(_host_rules(call))


async def get_host_rule(call: Call) -> Any:
    return firewall.host_rule_view(_host_rules(call), int(call.params["pos"]))


async def create_host_rule(call: Call) -> Any:
    firewall.create_host_rule(_host_rules(call), call.params)
    call.world.changed()


async def delete_host_rule(call: Call) -> Any:
    firewall.delete_host_rule(_host_rules(call), int(call.params["pos"]), call.params)
    call.world.changed()


HOST_RULE = {**RULE, "action": RULE["action"].required, "type": RULE["type"].required, "pos": POS}
DIGEST = {"digest": Param(max_length=64)}


def _host_rule_routes(base: str, scope: dict[str, Param]) -> list[Route]:
    return [
        route("GET", f"{base}/rules", list_host_rules, schema(scope)),
        route("POST", f"{base}/rules", create_host_rule, schema({**scope, **HOST_RULE})),
        route("GET", f"{base}/rules/{{pos}}", get_host_rule, schema({**scope, "pos": POS})),
        route(
            "DELETE",
            f"{base}/rules/{{pos}}",
            delete_host_rule,
            schema({**scope, "pos": POS, **DIGEST}),
        ),
    ]


ROUTES: list[Route] = [
    *_host_rule_routes("/nodes/{node}/firewall", {"node": NODE}),
    *_host_rule_routes("/cluster/firewall", {}),
    route("GET", "/nodes/{node}/firewall/options", get_node_options, schema(node=NODE)),
    route(
        "PUT",
        "/nodes/{node}/firewall/options",
        set_node_options,
        schema({"node": NODE, **NODE_OPTIONS, **EDIT}),
    ),
    route("GET", "/cluster/firewall/options", get_cluster_options),
    route(
        "PUT", "/cluster/firewall/options", set_cluster_options, schema({**CLUSTER_OPTIONS, **EDIT})
    ),
    route("GET", f"{BASE}/options", get_options, schema(VM)),
    route(
        "PUT",
        f"{BASE}/options",
        set_options,
        schema(
            {**VM, **OPTIONS, "delete": fmt("pve-configid-list"), "digest": Param(max_length=64)}
        ),
    ),
    route("GET", f"{BASE}/rules", list_rules, schema(VM)),
    route(
        "POST",
        f"{BASE}/rules",
        create_rule,
        schema(
            {
                **VM,
                **RULE,
                "action": RULE["action"].required,
                "type": RULE["type"].required,
                "pos": POS,
            }
        ),
    ),
    route("GET", f"{BASE}/rules/{{pos}}", get_rule, schema({**VM, "pos": POS})),
    route(
        "PUT",
        f"{BASE}/rules/{{pos}}",
        update_rule,
        schema({**VM, **RULE, "pos": POS, "moveto": POS, "delete": fmt("pve-configid-list")}),
    ),
    route(
        "DELETE",
        f"{BASE}/rules/{{pos}}",
        delete_rule,
        schema({**VM, "pos": POS, "digest": Param(max_length=64)}),
    ),
]
