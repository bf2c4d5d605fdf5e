"""What an App looks like on its VM: paths, the systemd unit, the EnvironmentFile.

Shared by the App reconciler (deploys) and the StandbyPair reconciler (promotes a standby
by rewriting its EnvironmentFile with the new epoch), which never import each other.
The env file holds secrets: its content is only ever built right before it is written;
plans and observations carry its sha256, never its text.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from dotenv.parser import parse_stream

from homeport.kinds import App, StandbyPair
from homeport.kinds.app import EnvFrom, SecretEnv
from homeport.kinds.common import check_env_name, check_env_value
from homeport.kinds.textrules import (
    check_command_line,
    check_one_line,
    check_safe_path,
    check_user_name,
)
from homeport.reconcilers.base import ReconcileContext
from homeport.reconcilers.errors import PermanentError, TemporaryError
from homeport.reconcilers.ownership import UNIT_PREFIX, marker
from homeport.reconcilers.pairview import pair_view

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
    """The unit file; every manifest value is checked again and quoted by systemd's rules.

    Validation at push time refuses these values first; a value that reaches here anyway
    (an object stored by an older homeport) stalls the App instead of being written.
    """
    try:
        return _unit_text(app, vm_address)
    except ValueError as exc:
        raise PermanentError(
            f"the unit of App {app.name} cannot be written safely: {exc}",
            reason="InvalidSpec",
            fix="correct the App manifest and push",
        ) from None


def _unit_text(app: App, vm_address: str) -> str:
    paths = AppPaths.of(app)
    environment = {
        "PORT": str(app.spec.port),
        "HOST": bind_address(app, vm_address),
        "HOMEPORT_APP": app.name,
        "HOMEPORT_DATA_DIR": check_safe_path(paths.data),
    }
    return service_unit_text(
        owner=("App", app.name),
        description=f"homeport app {app.name}",
        user=app.spec.user,
        working_directory=_working_directory(app, paths),
        environment=environment,
        env_file=paths.env_path,
        exec_start=app.spec.exec_start,
        restart=app.spec.restart,
    )


def service_unit_text(
    *,
    owner: tuple[str, str],
    description: str,
    user: str,
    working_directory: str | None,
    environment: Mapping[str, str],
    env_file: str,
    exec_start: str,
    restart: str,
) -> str:
    """A homeport-owned service unit (an App's or an Agent's), marked with its owner
    (kind, name); every value is checked again and quoted by systemd's rules."""
    workdir = (
        [f"WorkingDirectory={check_safe_path(working_directory)}"] if working_directory else []
    )
    return "\n".join(
        [
            f"# {marker(*owner)} (hand edits are reverted)",
            "[Unit]",
            f"Description={check_one_line(description, 'description')}",
            "After=network-online.target tailscaled.service",
            "Wants=network-online.target",
            "",
            "[Service]",
            "Type=exec",
            f"User={check_user_name(user)}",
            *workdir,
            *(f"Environment={unit_environment(k, v)}" for k, v in environment.items()),
            f"EnvironmentFile={check_safe_path(env_file)}",
            f"ExecStart={check_command_line(exec_start)}",
            f"Restart={restart}",
            "RestartSec=2",
            "",
            "[Install]",
            "WantedBy=multi-user.target",
            "",
        ]
    )


def _working_directory(app: App, paths: AppPaths) -> str:
    """The current release; a packaged service (source none) has none, so its data."""
    return paths.data if app.spec.source.none is not None else paths.current


def unit_environment(name: str, value: str) -> str:
    """One ``Environment=`` word: ``"NAME=value"``.

    systemd first expands specifiers (``%%`` is a literal ``%``), then splits the line into
    words, unquoting double quotes and C-unescaping (``\\\\`` and ``\\"``); see systemd.syntax(7).
    Control characters are refused outright: they never belong on one line of a unit.
    """
    check_env_name(name)
    check_one_line(value, name)
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'"{name}={escaped}"'


# The characters systemd's EnvironmentFile parser unescapes after a backslash inside double
# quotes (SHELL_NEED_ESCAPE in src/basic/string-util.h): escaping all four also keeps the
# file safe to `source` from a shell when debugging on the VM.
_ENV_FILE_ESCAPES = str.maketrans({c: "\\" + c for c in '"\\`$'})


def env_file_value(value: str) -> str:
    """A value in double quotes that systemd's EnvironmentFile parser reads back exactly.

    Inside double quotes every character is literal (newlines, carriage returns, tabs,
    non-ASCII) except a backslash before one of ``"\\`$`` or a newline; so those four are
    escaped and nothing else is. A NUL or text that is not Unicode cannot be passed at all.
    """
    check_env_value(value)
    return '"' + value.translate(_ENV_FILE_ESCAPES) + '"'


def render_env(values: Mapping[str, str], owner: tuple[str, str] = ("App", "env")) -> bytes:
    lines = [f"# {marker(*owner)} — 0600, root only; never edit by hand"]
    lines += [f"{check_env_name(key)}={env_file_value(values[key])}" for key in sorted(values)]
    return ("\n".join(lines) + "\n").encode()


def sha256(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def parse_dotenv(text: str) -> dict[str, str]:
    """The variables of a dotenv file, read by python-dotenv's parser.

    No ``${VAR}`` interpolation: values are taken literally (a ``$`` in a password stays a
    ``$``, and the control plane's own environment never leaks into an App). A bare ``KEY``
    line without ``=`` sets nothing. A line python-dotenv cannot parse raises ValueError
    naming its line number (never its content, which may be a secret): a variable is never
    dropped silently.
    """
    values: dict[str, str] = {}
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            raise ValueError(
                f"line {binding.original.line} is not a dotenv statement "
                "(KEY=value, export KEY=value, '#' comments)"
            )
        if binding.key is not None and binding.value is not None:
            values[binding.key] = binding.value
    return values


def read_secret(secrets_dir: Path, relative: str) -> str:
    path = secrets_dir / relative
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise _invalid_secret(
            relative, "it is not UTF-8 text (systemd passes only UTF-8 values to a service)"
        ) from None
    except OSError as exc:
        raise TemporaryError(
            f"secret {relative!r} is not readable in {secrets_dir} ({exc.strerror}); "
            "create it on the control plane (mode 0600)",
            delay=60,
            reason="SecretMissing",
        ) from None


class EnvSpec(Protocol):
    """The environment fields an App's or an Agent's spec declares."""

    @property
    def env(self) -> Mapping[str, str]: ...
    @property
    def env_from(self) -> Sequence[EnvFrom]: ...
    @property
    def secret_env(self) -> Sequence[SecretEnv]: ...


def env_values(app: App, secrets_dir: Path, extra: Mapping[str, str]) -> dict[str, str]:
    """Plain env + secrets + homeport's own variables of an App (``spec_env_values``)."""
    return spec_env_values(app.spec, secrets_dir, extra)


def spec_env_values(spec: EnvSpec, secrets_dir: Path, extra: Mapping[str, str]) -> dict[str, str]:
    """Plain env + secrets + homeport's own variables.

    Raises TemporaryError on a missing secret, and on one an environment cannot carry
    (not UTF-8, a NUL, an invalid name, a line that is not a dotenv statement).
    """
    values = dict(spec.env)
    for source in spec.env_from:
        text = read_secret(secrets_dir, source.secret)
        try:
            values.update(_checked(parse_dotenv(text)))
        except ValueError as exc:
            raise _invalid_secret(source.secret, str(exc)) from None
    for item in spec.secret_env:
        value = read_secret(secrets_dir, item.secret).rstrip("\n")
        try:
            values.update(_checked({item.name: value}))
        except ValueError as exc:
            raise _invalid_secret(item.secret, str(exc)) from None
    values.update(extra)
    return values


def _checked(values: dict[str, str]) -> dict[str, str]:
    """Names and values from the secrets directory that an environment can carry."""
    for name, value in values.items():
        try:
            check_env_name(name)
            env_file_value(value)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    return values


def _invalid_secret(relative: str, problem: str) -> TemporaryError:
    return TemporaryError(
        f"secret {relative!r}: {problem}; fix the file in the secrets directory",
        delay=60,
        reason="SecretInvalid",
    )


def pair_role(app_name: str, ctx: ReconcileContext) -> tuple[StandbyPair, str, int] | None:
    """(pair, role, epoch) of an App in a StandbyPair, from the pair's durable memory."""
    for resource, _ in ctx.objects("StandbyPair"):
        assert isinstance(resource, StandbyPair)
        if app_name in (resource.spec.primary, resource.spec.standby):
            view = pair_view(resource, ctx)
            return resource, view.role_of(app_name), view.epoch
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
