"""The Proxmox config a VM manifest asks for, and what Proxmox says — both normalised.

Pure. Only keys homeport declares are compared; Proxmox defaults and server-side
normalisations (MAC addresses, tag order and case, ``memory`` as a property string,
trailing whitespace of descriptions, url-encoded ``sshkeys``) are ironed out first, so a
converged VM diffs to nothing (controller-runtime's CreateOrUpdate warning).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from homeport.kinds import VM
from homeport.reconcilers.ownership import OWNER_TAG, description_with_marker

# Startup settings per boot layer (seed 003): order = layer; a pause after each infra VM.
LAYER_UP_SECONDS = {1: 30, 2: 20, 3: 10, 4: 0}
SHUTDOWN_SECONDS = 120
CLOUD_INIT_KEYS = ("ciuser", "sshkeys", "nameserver", "searchdomain")


def _flag(value: bool) -> str:
    return "1" if value else "0"


def _net(nic_model: str, bridge: str, firewall: bool, vlan: int | None) -> str:
    parts = [nic_model, f"bridge={bridge}", f"firewall={_flag(firewall)}"]
    if vlan is not None:
        parts.append(f"tag={vlan}")
    return ",".join(parts)


def _ipconfig(ip: str, gateway: str | None) -> str:
    if ip == "dhcp":
        return "ip=dhcp"
    return f"ip={ip}" + (f",gw={gateway}" if gateway else "")


def startup_of(vm: VM) -> str:
    if vm.spec.startup is not None:
        parts = []
        if vm.spec.startup.order is not None:
            parts.append(f"order={vm.spec.startup.order}")
        if vm.spec.startup.up is not None:
            parts.append(f"up={vm.spec.startup.up}")
        if vm.spec.startup.down is not None:
            parts.append(f"down={vm.spec.startup.down}")
        return ",".join(parts)
    layer = vm.spec.layer
    return f"order={layer},up={LAYER_UP_SECONDS[layer]},down={SHUTDOWN_SECONDS}"


def desired_config(vm: VM, *, homeport_keys: list[str]) -> dict[str, str]:
    """The config keys homeport manages for ``vm``, as normalised strings."""
    spec = vm.spec
    config = {
        "name": vm.name,
        "cores": str(spec.cores),
        "sockets": str(spec.sockets),
        "memory": str(spec.memory_mib),
        "onboot": _flag(spec.onboot),
        "protection": _flag(spec.protection),
        "agent": "1",
        "tags": ";".join(sorted({OWNER_TAG, *spec.tags})),
        "startup": startup_of(vm),
        "description": description_with_marker(spec.description, "VM", vm.name),
        "ciuser": spec.cloud_init.user,
        "sshkeys": "\n".join(sorted({*homeport_keys, *spec.cloud_init.ssh_keys})),
    }
    for index, nic in enumerate(spec.network):
        config[f"net{index}"] = _net(nic.model, nic.bridge, nic.firewall, nic.vlan)
        config[f"ipconfig{index}"] = _ipconfig(nic.ip, nic.gateway)
    for index, device in enumerate(spec.pci_devices):
        config[f"hostpci{index}"] = device.value()
    if spec.machine_type is not None:
        config["machine"] = "q35" if spec.machine_type == "q35" else "pc"
    if spec.cloud_init.nameserver:
        config["nameserver"] = spec.cloud_init.nameserver
    if spec.cloud_init.search_domain:
        config["searchdomain"] = spec.cloud_init.search_domain
    return config


def _parse_props(text: str, default_key: str | None = None) -> dict[str, str]:
    props: dict[str, str] = {}
    for index, part in enumerate(p for p in text.split(",") if p):
        key, sep, value = part.partition("=")
        if not sep:
            props[default_key or key] = key if default_key else ""
        elif (
            index == 0
            and default_key == "model"
            and key in ("virtio", "e1000", "vmxnet3", "rtl8139")
        ):
            props["model"] = key  # "virtio=BC:24:11:..": the model, with its MAC
        else:
            props[key] = value
    return props


def normalise_observed(
    values: Mapping[str, str | int | float], sshkeys: list[str]
) -> dict[str, str]:
    """Proxmox's config in the same form as ``desired_config`` (only keys we manage)."""
    config: dict[str, str] = {}
    for key, raw in values.items():
        value = str(raw)
        if key in ("name", "ciuser", "nameserver", "searchdomain", "startup"):
            config[key] = value
        elif key in ("cores", "sockets", "onboot", "protection"):
            config[key] = str(int(float(value))) if value.replace(".", "", 1).isdigit() else value
        elif key == "memory":
            config[key] = _parse_props(value, default_key="current").get("current", value)
        elif key == "agent":
            props = _parse_props(value, default_key="enabled")
            config[key] = "1" if props.get("enabled", "0") in ("1", "enabled") else "0"
        elif key == "tags":
            tags = {t.lower() for t in value.replace(",", ";").replace(" ", ";").split(";") if t}
            config[key] = ";".join(sorted(tags))
        elif key == "description":
            config[key] = value.rstrip()
        elif _numbered(key, ("net",)):
            props = _parse_props(value, default_key="model")
            config[key] = _net(
                props.get("model", "virtio"),
                props.get("bridge", ""),
                props.get("firewall", "0") == "1",
                int(props["tag"]) if "tag" in props else None,
            )
        elif _numbered(key, ("hostpci",)):
            config[key] = hostpci_value(value)
        elif key == "machine":
            config[key] = machine_type(value)
        elif _numbered(key, ("ipconfig",)):
            props = _parse_props(value)
            ip = props.get("ip", "dhcp")
            config[key] = _ipconfig(ip, props.get("gw"))
    config.setdefault("onboot", "0")
    config.setdefault("protection", "0")
    config.setdefault("sockets", "1")
    config.setdefault("cores", "1")
    config.setdefault("memory", "512")
    config.setdefault("agent", "0")
    config.setdefault("machine", "pc")
    if sshkeys:
        config["sshkeys"] = "\n".join(sorted(sshkeys))
    return config


def hostpci_value(value: str) -> str:
    """``hostpciN`` in the form ``PciPassthrough.value`` writes (host or mapping first)."""
    props = _parse_props(value, default_key="host")
    head = f"mapping={props['mapping']}" if "mapping" in props else props.get("host", "")
    flags = [f"{k}=1" for k in ("pcie", "x-vga") if props.get(k) in ("1", "on", "yes")]
    return ",".join([head, *flags])


def machine_type(value: str) -> str:
    """``q35`` or ``pc`` (i440fx) from Proxmox's ``machine`` (``pc-q35-9.0``, ``q35,viommu=..``,
    ``pc-i440fx-9.0``): the pinned version is Proxmox's business, the family is ours."""
    kind = value.split(",", 1)[0].removeprefix("type=")
    return "q35" if "q35" in kind else "pc"


def _numbered(key: str, prefixes: tuple[str, ...]) -> bool:
    return any(key.startswith(p) and key[len(p) :].isdigit() for p in prefixes)


@dataclass(frozen=True)
class ConfigDiff:
    set: tuple[tuple[str, str], ...]
    delete: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not self.set and not self.delete

    @property
    def touches_cloud_init(self) -> bool:
        keys = {k for k, _ in self.set} | set(self.delete)
        return any(k in CLOUD_INIT_KEYS or k.startswith("ipconfig") for k in keys)


def diff_config(desired: Mapping[str, str], observed: Mapping[str, str]) -> ConfigDiff:
    """Keys to set and keys to delete so that ``observed`` matches ``desired``."""
    changes = tuple(sorted((k, v) for k, v in desired.items() if observed.get(k) != v))
    managed_optional = ("nameserver", "searchdomain")
    stale_nics = [
        k for k in observed if _numbered(k, ("net", "ipconfig", "hostpci")) and k not in desired
    ]
    delete = tuple(
        sorted({*(k for k in managed_optional if k in observed and k not in desired), *stale_nics})
    )
    return ConfigDiff(changes, delete)
