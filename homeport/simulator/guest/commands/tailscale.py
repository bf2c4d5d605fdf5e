"""The ``tailscale`` CLI inside a guest: ``up``, ``ip``, ``status``, ``down``, ``logout``.

Talks to the tailnet through ``tailnet_link.TailnetControl``. ``--auth-key`` accepts the key
itself or ``file:PATH`` (a guest path, ``file:/dev/stdin`` reading the exec's input), as
tailscale ≥ 1.66 does.
"""

from __future__ import annotations

import json

from homeport.simulator.guest.tailnet_link import (
    JoinRefused,
    TailnetDevice,
    read_node_id,
    write_node_id,
)

from .base import Completed, ExecContext, parse_options

VERSION = "1.76.6-t1234abcd-g5678ef01"
NOT_RUNNING = (
    "failed to connect to local tailscaled; it doesn't appear to be running "
    "(sudo systemctl start tailscaled ?)\n"
)


def _current(ctx: ExecContext) -> TailnetDevice | None:
    tailnet = ctx.guest.tailnet
    node_id = read_node_id(ctx.guest.disk)
    if tailnet is None or node_id is None:
        return None
    return tailnet.device(node_id)


async def _up(ctx: ExecContext, args: list[str]) -> Completed:
    parsed = parse_options(
        "tailscale up",
        args,
        "",
        ["auth-key=", "authkey=", "hostname=", "advertise-tags=", "ssh", "accept-routes",
         "accept-dns=", "reset", "timeout=", "operator=", "login-server="],
    )  # fmt: skip
    if isinstance(parsed, Completed):
        return parsed
    opts, _ = parsed
    values = dict(opts)
    tailnet = ctx.guest.tailnet
    if tailnet is None:
        return Completed.err(1, NOT_RUNNING)
    if not ctx.account.is_root:
        return Completed.err(
            1,
            "Access denied: prefs write access denied\n\nUse 'sudo tailscale up' or "
            "'tailscale up --operator=$USER' to not require root.\n",
        )
    if _current(ctx) is not None:
        return Completed()
    key = values.get("--auth-key", values.get("--authkey", ""))
    if key == "file:/dev/stdin":  # the key handed over on stdin, never written to disk
        key = (await ctx.stdin()).decode(errors="replace").strip()
    elif key.startswith("file:"):
        path = key[len("file:") :]
        try:
            key = ctx.host(path).read_text().strip()
        except OSError as exc:
            return Completed.err(1, f"reading auth key from {path}: {exc.strerror}\n")
    if not key:
        return Completed.err(
            1,
            "\nTo authenticate, visit:\n\n\thttps://login.tailscale.com/a/0000000000000\n\n"
            "homeport-sim: interactive login is not simulated; pass --auth-key\n",
        )
    tags = tuple(t for t in values.get("--advertise-tags", "").split(",") if t)
    try:
        device = tailnet.join(
            auth_key=key,
            hostname=values.get("--hostname") or ctx.guest.hostname(),
            address=ctx.guest.address,
            advertise_tags=tags,
        )
    except JoinRefused as exc:
        return Completed.err(1, f"backend error: {exc}\n")
    write_node_id(ctx.guest.disk, device.node_id)
    tailnet.set_connected(device.node_id, ctx.guest.reachable())
    return Completed()


async def _ip(ctx: ExecContext, args: list[str]) -> Completed:
    device = _current(ctx)
    if ctx.guest.tailnet is None:
        return Completed.err(1, NOT_RUNNING)
    if device is None:
        return Completed.err(1, "no current Tailscale IPs; state: NeedsLogin\n")
    v4 = [a for a in device.addresses if ":" not in a]
    v6 = [a for a in device.addresses if ":" in a]
    chosen = v4 if "-4" in args else v6 if "-6" in args else v4 + v6
    if "--1" in args or "-1" in args:
        chosen = chosen[:1]
    return Completed.out("".join(a + "\n" for a in chosen))


def _status_document(ctx: ExecContext, device: TailnetDevice | None) -> dict[str, object]:
    state = "Running" if device is not None else "NeedsLogin"
    self_node: dict[str, object] = {
        "ID": device.node_id if device else "",
        "HostName": device.hostname if device else ctx.guest.hostname(),
        "DNSName": device.dns_name + "." if device else "",
        "OS": "linux",
        "TailscaleIPs": list(device.addresses) if device else None,
        "Online": device is not None,
    }
    if device and device.tags:
        self_node["Tags"] = list(device.tags)
    return {
        "Version": VERSION,
        "TUN": True,
        "BackendState": state,
        "AuthURL": "",
        "TailscaleIPs": list(device.addresses) if device else None,
        "Self": self_node,
        "MagicDNSSuffix": device.magic_dns_suffix if device else "",
        "CurrentTailnet": (
            {"Name": device.tailnet, "MagicDNSSuffix": device.magic_dns_suffix,
             "MagicDNSEnabled": True}
            if device
            else None
        ),
        "Peer": {},
        "User": {},
    }  # fmt: skip


async def _status(ctx: ExecContext, args: list[str]) -> Completed:
    if ctx.guest.tailnet is None:
        return Completed.err(1, NOT_RUNNING)
    device = _current(ctx)
    if "--json" in args:
        return Completed.out(json.dumps(_status_document(ctx, device), indent=2) + "\n")
    if device is None:
        return Completed.err(1, "Logged out.\n")
    owner = "tagged-devices" if device.tags else "homeport@"
    return Completed.out(f"{device.addresses[0]:<16} {device.hostname:<24} {owner:<15} linux   -\n")


async def _down(ctx: ExecContext, args: list[str], *, logout: bool) -> Completed:
    tailnet = ctx.guest.tailnet
    node_id = read_node_id(ctx.guest.disk)
    if tailnet is None:
        return Completed.err(1, NOT_RUNNING)
    if node_id is not None:
        tailnet.set_connected(node_id, False)
        if logout:
            write_node_id(ctx.guest.disk, None)
    return Completed()


async def tailscale(ctx: ExecContext, args: list[str]) -> Completed:
    verb, rest = (args[0], args[1:]) if args else ("", [])
    if verb == "up":
        return await _up(ctx, rest)
    if verb == "ip":
        return await _ip(ctx, rest)
    if verb == "status":
        return await _status(ctx, rest)
    if verb in ("down", "logout"):
        return await _down(ctx, rest, logout=verb == "logout")
    return Completed.err(1, f"homeport-sim: 'tailscale {verb}' is not simulated\n")
