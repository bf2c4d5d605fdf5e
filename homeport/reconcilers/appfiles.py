"""What an App looks like on its VM: paths, the systemd unit, the EnvironmentFile.

Shared by the App reconciler (deploys) and the StandbyPair reconciler (promotes a standby
by rewriting its EnvironmentFile with the new epoch), which never import each other.
The env file holds secrets: its content is only ever built right before it is written;
plans and observations carry its sha256, never its text.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from homeport.kinds import App, StandbyPair
from homeport.reconcilers.base import ReconcileContext
from homeport.reconcilers.errors import TemporaryError
from homeport.reconcilers.ownership import UNIT_PREFIX, marker

ENV_DIR = "/etc/homeport/apps"


@dataclass(frozen=True)
class AppPaths:
    name: str
    root: str
    data: str

    @classmethod
    def of(cls, app: App) -> AppPaths:
        return cls(app.name, app.app_dir, app.data_dir)

    @classmethod
    def for_name(cls, name: str) -> AppPaths:
        root = f"/srv/apps/{name}"
        return cls(name, root, f"{root}/data")

    @property
    def releases(self) -> str:
        return f"{self.root}/releases"

    @property
    def current(self) -> str:
        return f"{self.root}/current"

    def release(self, sha: str) -> str:
        return f"{self.releases}/{sha}"

    @property
    def unit_name(self) -> str:
        return f"{UNIT_PREFIX}{self.name}.service"

    @property
    def unit_path(self) -> str:
        return f"/etc/systemd/system/{self.unit_name}"

    @property
    def env_path(self) -> str:
        return f"{ENV_DIR}/{self.name}.env"


def bind_address(app: App, vm_address: str) -> str:
    return {"tailnet": vm_address, "localhost": "127.0.0.1", "any": "0.0.0.0"}[app.spec.bind]


def render_unit(app: App, vm_address: str) -> str:
    paths = AppPaths.of(app)
    restart = app.spec.restart
    return "\n".join(
        [
            f"# {marker('App', app.name)} (hand edits are reverted)",
            "[Unit]",
            f"Description=homeport app {app.name}",
            "After=network-online.target tailscaled.service",
            "Wants=network-online.target",
            "",
            "[Service]",
            "Type=exec",
            f"User={app.spec.user}",
            f"WorkingDirectory={paths.current}",
            f"Environment=PORT={app.spec.port}",
            f"Environment=HOST={bind_address(app, vm_address)}",
            f"Environment=HOMEPORT_APP={app.name}",
            f"Environment=HOMEPORT_DATA_DIR={paths.data}",
            f"EnvironmentFile={paths.env_path}",
            f"ExecStart={app.spec.exec_start}",
            f"Restart={restart}",
            "RestartSec=2",
            "",
            "[Install]",
            "WantedBy=multi-user.target",
            "",
        ]
    )


def _quote(value: str) -> str:
    """systemd EnvironmentFile quoting: double quotes, backslash-escaped."""
    if value and all(c.isalnum() or c in "-_./:@%+=,~" for c in value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def render_env(values: Mapping[str, str]) -> bytes:
    lines = [f"# {marker('App', 'env')} — 0600, root only; never edit by hand"]
    lines += [f"{key}={_quote(values[key])}" for key in sorted(values)]
    return ("\n".join(lines) + "\n").encode()


def sha256(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def parse_dotenv(text: str) -> dict[str, str]:
    """KEY=VALUE lines of a dotenv file from the secrets directory (quotes stripped)."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")) or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = (
                shlex.split(value)[0]
                if value[0] == "'"
                else value[1:-1].encode().decode("unicode_escape")
            )
        values[key] = value
    return values


def read_secret(secrets_dir: Path, relative: str) -> str:
    path = secrets_dir / relative
    try:
        return path.read_text()
    except OSError as exc:
        raise TemporaryError(
            f"secret {relative!r} is not readable in {secrets_dir} ({exc.strerror}); "
            "create it on the control plane (mode 0600)",
            delay=60,
            reason="SecretMissing",
        ) from None


def env_values(app: App, secrets_dir: Path, extra: Mapping[str, str]) -> dict[str, str]:
    """Plain env + secrets + homeport's own variables (raises TemporaryError on a missing secret)."""
    values = dict(app.spec.env)
    for source in app.spec.env_from:
        values.update(parse_dotenv(read_secret(secrets_dir, source.secret)))
    for item in app.spec.secret_env:
        values[item.name] = read_secret(secrets_dir, item.secret).rstrip("\n")
    values.update(extra)
    return values


def pair_role(app_name: str, ctx: ReconcileContext) -> tuple[StandbyPair, str, int] | None:
    """(pair, role, epoch) of an App in a StandbyPair, from the pair's durable memory."""
    for resource, _ in ctx.objects("StandbyPair"):
        assert isinstance(resource, StandbyPair)
        if app_name in (resource.spec.primary, resource.spec.standby):
            memory = ctx.recall("StandbyPair", resource.name)
            primary = str(memory.get("primary") or resource.spec.primary)
            role = "primary" if app_name == primary else "standby"
            return resource, role, int(memory.get("epoch", 1))
    return None


def pair_env(app_name: str, ctx: ReconcileContext) -> dict[str, str]:
    """HOMEPORT_EPOCH / HOMEPORT_ROLE when the App belongs to a StandbyPair."""
    found = pair_role(app_name, ctx)
    if found is None:
        return {}
    _, role, epoch = found
    return {"HOMEPORT_EPOCH": str(epoch), "HOMEPORT_ROLE": role}


def render_env_for(app: App, secrets_dir: Path, ctx: ReconcileContext) -> bytes:
    return render_env(env_values(app, secrets_dir, pair_env(app.name, ctx)))
