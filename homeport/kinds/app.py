"""App: a systemd service on a VM, deployed from a git repository at a ref, from a release
artifact verified by its SHA-256, or installed by a package (``source: none``).

Runs on a VM (``vm.py``); published by ProxyRoutes (``proxyroute.py``) and paired by
StandbyPairs (``standbypair.py``); converged over SSH by ``reconcilers/app.py``.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
import shlex
from typing import ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import Field, PositiveFloat, PositiveInt, field_validator, model_validator

from homeport.kinds.common import (
    DnsLabel,
    EnvName,
    KindModel,
    ObjectRef,
    RefPath,
    Resource,
    SpecBase,
    check_env_value,
)
from homeport.kinds.textrules import (
    SafePath,
    UrlPath,
    UserName,
    check_command_line,
    check_one_line,
)

APPS_ROOT = "/srv/apps"
# git check-ref-format's rules, plus no leading '-' (it would read as an option) and no
# component starting with '.'.
_GIT_REF = re.compile(
    r"^(?!.*\.\.)(?!/)(?!.*//)(?![-.])(?!.*/[-.])[A-Za-z0-9._/+-]+(?<![/.])(?<!\.lock)$"
)


def check_secret_path(value: str) -> str:
    """A secret reference is a relative path inside the control plane's secrets directory."""
    normal = posixpath.normpath(value)
    if value.startswith("/") or normal.startswith("..") or normal != value.rstrip("/"):
        raise ValueError(
            f"secret {value!r} must be a plain relative path inside the secrets directory, "
            "e.g. 'hello/database_url'"
        )
    return value


def check_git_repo(value: str) -> str:
    """A git URL (https://, ssh://, git@host:path, file://) or an absolute path, with no
    password in it and no host that reads as an option."""
    ok = value.startswith(("https://", "ssh://", "git@", "file://", "/"))
    check_one_line(value, "repo")
    if not ok or any(c.isspace() for c in value):
        raise ValueError(
            f"{value!r} is not a git URL (https://, ssh://, git@host:path, file://) "
            "or an absolute path"
        )
    authority = value.split("://", 1)[1].split("/", 1)[0] if "://" in value else value
    host = authority.rsplit("@", 1)[-1] if not value.startswith("/") else ""
    if host.startswith("-"):
        raise ValueError(f"the repo URL's host {host!r} must not start with '-'")
    if "@" in value.split("://", 1)[-1].split("/", 1)[0] and "://" in value:
        userinfo = value.split("://", 1)[1].split("@", 1)[0]
        if ":" in userinfo:
            raise ValueError(
                "the repo URL embeds a password: use an SSH deploy key or a credential "
                "helper on the control plane instead"
            )
    return value


def check_git_ref(value: str) -> str:
    if not _GIT_REF.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid git ref name")
    return value


class GitSource(KindModel):
    """A git repository checked out at a ref: one release per commit."""

    repo: str
    """Git repository URL (https://, ssh://, git@host:path) or an absolute path on the control plane."""
    ref: str = "main"
    """Branch, tag or commit to deploy; a branch follows its newest commit."""

    @field_validator("repo")
    @classmethod
    def _repo(cls, value: str) -> str:
        return check_git_repo(value)

    @field_validator("ref")
    @classmethod
    def _ref(cls, value: str) -> str:
        return check_git_ref(value)

    def describe(self) -> str:
        return f"{self.repo}@{self.ref}"


_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_TAILNET_NETWORKS = (
    ipaddress.ip_network("100.64.0.0/10"),
    ipaddress.ip_network("fd7a:115c:a1e0::/48"),
)


def private_http_host(host: str) -> bool:
    """Plain HTTP is acceptable only where nobody else is on the path: loopback or the
    tailnet (WireGuard-encrypted), the same rule ``homeport audit`` applies to homeport's
    own plain-HTTP channels."""
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or any(address in net for net in _TAILNET_NETWORKS)


def check_artifact_url(value: str) -> str:
    check_one_line(value, "url")
    parts = urlsplit(value)
    host = parts.hostname or ""
    if any(c.isspace() for c in value) or not host or host.startswith("-"):
        raise ValueError(
            f"{value!r} is not a URL with a host, e.g. 'https://example.com/app.tar.gz'"
        )
    if parts.scheme == "http" and not private_http_host(host):
        raise ValueError(
            f"{value!r} is plain HTTP to {host}, which is neither loopback nor a tailnet "
            "address: use https:// (plain http:// only to 127.0.0.1 or a 100.64.0.0/10 address)"
        )
    if parts.scheme not in ("https", "http"):
        raise ValueError(f"{value!r} must be an https:// URL")
    if parts.password is not None:
        raise ValueError(
            "the artifact URL embeds a password: serve the artifact without credentials in "
            "the URL (its SHA-256 already guarantees its content)"
        )
    return value


class ArtifactSource(KindModel):
    """A release artifact (a tar archive) downloaded by URL on the VM and verified by its
    SHA-256 before it is unpacked: one release per checksum."""

    url: str
    """Where the VM downloads the artifact: `https://` (plain `http://` only to a loopback
    or tailnet address). Redirects are followed, over the same protocols only."""
    sha256: str
    """The artifact's SHA-256, 64 hex digits (`sha256sum FILE`): the download is refused
    unless it matches, and it names the release."""
    strip_components: int = Field(default=0, ge=0, le=8)
    """Leading path components removed from every member when unpacking (`tar
    --strip-components`), e.g. 1 for an archive whose files sit in `app-1.2/`."""

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_artifact_url(value)

    @field_validator("sha256")
    @classmethod
    def _sha256(cls, value: str) -> str:
        lowered = value.lower()
        if not _SHA256.fullmatch(lowered):
            raise ValueError(
                f"{value!r} is not a SHA-256: write the 64 hex digits `sha256sum FILE` prints"
            )
        return lowered

    def describe(self) -> str:
        return f"{self.url} (sha256 {self.sha256[:12]})"


class NoSource(KindModel):
    """No code to deploy: the unit runs a program a package installed (`spec.packages`)."""


class AppSource(KindModel):
    """Where the App's code comes from: exactly one of `git`, `artifact` or `none`.
    `repo` and `ref` written directly under `source` are the short form of `git`."""

    git: GitSource | None = None
    """A git repository at a ref, checked out on the VM."""
    artifact: ArtifactSource | None = None
    """A release artifact by URL, verified by its SHA-256 on the VM."""
    none: NoSource | None = None
    """`{}`: no release at all; the unit runs a binary installed by `spec.packages`."""
    repo: str | None = None
    """Short form of `git.repo` (manifests written before `git` existed)."""
    ref: str | None = None
    """Short form of `git.ref` (default `main`)."""

    @field_validator("repo")
    @classmethod
    def _repo(cls, value: str | None) -> str | None:
        return None if value is None else check_git_repo(value)

    @field_validator("ref")
    @classmethod
    def _ref(cls, value: str | None) -> str | None:
        return None if value is None else check_git_ref(value)

    @model_validator(mode="after")
    def _exactly_one(self) -> AppSource:
        if self.ref is not None and self.repo is None:
            raise ValueError("source.ref needs source.repo (or write source.git: {repo, ref})")
        given = [
            name
            for name, value in (
                ("git", self.git or self.repo),
                ("artifact", self.artifact),
                ("none", self.none),
            )
            if value is not None
        ]
        if self.git is not None and self.repo is not None:
            raise ValueError(
                "source has both git and repo/ref: write the repository once, under git"
            )
        if len(given) != 1:
            found = " and ".join(given) if given else "neither"
            raise ValueError(
                f"source must be exactly one of git, artifact or none (found {found}): e.g. "
                "'git: {repo: ..., ref: main}', 'artifact: {url: https://..., sha256: ...}' "
                "or 'none: {}' for a service installed by spec.packages"
            )
        return self

    @property
    def git_source(self) -> GitSource | None:
        """The git source, whichever way it is written."""
        if self.repo is not None:
            return GitSource(repo=self.repo, ref=self.ref or "main")
        return self.git

    def identity(self) -> tuple[GitSource | ArtifactSource | None, bool]:
        """What decides the release, the same for the short and the long git form."""
        return (self.artifact or self.git_source, self.none is not None)

    def describe(self) -> str:
        if self.artifact is not None:
            return self.artifact.describe()
        git = self.git_source
        return git.describe() if git is not None else "no source (packaged service)"


# Debian policy 5.6.1: package names are lowercase letters, digits, '+', '-' and '.',
# at least two characters, starting with a letter or digit.
_DEB_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
# Debian policy 5.6.12: [epoch:]upstream_version[-debian_revision].
_DEB_EPOCH = re.compile(r"^[0-9]+$")
_DEB_UPSTREAM = re.compile(r"^[0-9][A-Za-z0-9.+~:-]*$")
_DEB_REVISION = re.compile(r"^[A-Za-z0-9+.~]+$")


def check_debian_version(value: str) -> str:
    """Debian's version syntax; a colon only after an epoch, a hyphen only before a revision."""
    epoch, colon, rest = value.partition(":")
    if not colon:
        epoch, rest = "", value
    upstream, hyphen, revision = rest.rpartition("-")
    if not hyphen:
        upstream, revision = rest, ""
    ok = (
        (not colon or bool(_DEB_EPOCH.fullmatch(epoch)))
        and bool(_DEB_UPSTREAM.fullmatch(upstream))
        and (colon or ":" not in upstream)
        and (hyphen or "-" not in upstream)
        and (not hyphen or bool(_DEB_REVISION.fullmatch(revision)))
    )
    if not ok:
        raise ValueError(
            f"{value!r} is not a Debian version ([epoch:]upstream[-revision], the upstream "
            "part starting with a digit), e.g. '7.88.1-10+deb12u8' or '1:2.0-1'"
        )
    return value


class Package(KindModel):
    """A Debian package installed on the App's VM with apt before the App starts."""

    name: str
    """Package name (Debian policy: lowercase letters, digits, `+`, `-`, `.`), e.g. `libpq5`."""
    version: str | None = None
    """Exact version to install (`apt-get install name=version`); without it any installed
    version is accepted and homeport never upgrades it."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _DEB_NAME.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a Debian package name (lowercase letters, digits, '+', '-', "
                "'.', at least two characters, starting with a letter or digit)"
            )
        return value

    @field_validator("version")
    @classmethod
    def _version(cls, value: str | None) -> str | None:
        return None if value is None else check_debian_version(value)


_SHELL_OPERATORS = {"&&", "||", "|", ";", ">", ">>", "<", "&"}


class BuildStep(KindModel):
    """A command run once per release in its checkout, as the App's user, before the release
    goes live (e.g. `python3 -m venv .venv`)."""

    command: str
    """One command line, split like a shell would split words (quotes allowed) but run without
    a shell: no pipes, `&&`, redirections or `$` expansion (write a script in the repository
    for those)."""
    timeout_seconds: PositiveInt = Field(default=600, le=21600)
    """How long the build may run before it is killed and counts as failed."""

    @field_validator("command")
    @classmethod
    def _command(cls, value: str) -> str:
        check_one_line(value, "build command")
        try:
            words = shlex.split(value)
        except ValueError:
            raise ValueError(f"build command {value!r} has an unterminated quote") from None
        if not words:
            raise ValueError("the build command must be one non-empty command line")
        operators = [w for w in words if w in _SHELL_OPERATORS]
        if operators:
            raise ValueError(
                f"build command {value!r} uses the shell operator {operators[0]!r}, but it is "
                "run without a shell: put the steps in a script in the repository and run it"
            )
        return value

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.command)


class HealthCheck(KindModel):
    """How homeport decides the App is healthy after a deployment, and how probes reach it."""

    type: Literal["http", "tcp"] = "http"
    """`http`: GET `path` and expect `expectStatus`; `tcp`: the port accepts a connection."""
    path: UrlPath = "/healthz"
    """HTTP path to GET (an RFC 3986 path, optionally with a query; percent-encode the rest)."""
    expect_status: int = Field(default=200, ge=100, le=599)
    """Expected HTTP status."""
    timeout_seconds: PositiveFloat = 2.0
    """Timeout of one check."""
    startup_grace_seconds: PositiveFloat = 30.0
    """How long a (re)started App may take to become healthy before it counts as failed."""


class SecretEnv(KindModel):
    """An environment variable whose value is read from a file in the secrets directory."""

    name: EnvName
    """Variable name, e.g. `DATABASE_URL`."""
    secret: str
    """Path of the file holding the value, relative to the control plane's secrets directory."""

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: str) -> str:
        return check_secret_path(value)


class EnvFrom(KindModel):
    """A dotenv file in the secrets directory whose variables all go into the EnvironmentFile."""

    secret: str
    """Path of the dotenv file, relative to the secrets directory, e.g. `hello/production.env`."""

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: str) -> str:
        return check_secret_path(value)


def check_unique_packages(values: list[Package]) -> list[Package]:
    """Each package listed once (an App's or an Agent's ``packages``)."""
    names = [p.name for p in values]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"package {twice[0]!r} is listed twice: list each package once")
    return values


def check_plain_env(values: dict[str, str]) -> dict[str, str]:
    """Plain ``env`` values an EnvironmentFile can carry (an App's or an Agent's)."""
    for name, value in values.items():
        try:
            check_env_value(value)
        except ValueError as exc:
            raise ValueError(f"env {name}: {exc}") from None
    return values


class ServiceSpec(SpecBase):
    """What a spec declaring one homeport-owned systemd service (an App's, an Agent's)
    checks: its ExecStart line, its packages listed once, plain env values."""

    @field_validator("exec_start", check_fields=False)
    @classmethod
    def _exec_start(cls, value: str) -> str:
        return check_command_line(value)

    @field_validator("packages", check_fields=False)
    @classmethod
    def _packages(cls, values: list[Package]) -> list[Package]:
        return check_unique_packages(values)

    @field_validator("env", check_fields=False)
    @classmethod
    def _env(cls, values: dict[str, str]) -> dict[str, str]:
        return check_plain_env(values)


class AppSpec(ServiceSpec):
    """Desired state of an App."""

    vm: DnsLabel
    """The VM the App runs on."""
    source: AppSource
    """Where the release comes from: `git`, `artifact` (by URL and SHA-256) or `none`
    (a packaged service)."""
    exec_start: str
    """The service's command line in systemd `ExecStart=` syntax (one line; `%%` for a literal `%`),
    run in the release directory (in the data directory for `source: {none: {}}`, which
    starts a packaged program by its absolute path)."""
    user: UserName = "app"
    """Unix user the service runs as (created as a system user when missing): shadow's rule,
    lowercase letters, digits, `_` and `-`, at most 32 characters."""
    port: int = Field(ge=1, le=65535)
    """TCP port the App listens on (given to it as `PORT`)."""
    bind: Literal["tailnet", "localhost", "any"] = "tailnet"
    """Address the App binds (given as `HOST`): the VM's tailnet address, loopback, or all."""
    health_check: HealthCheck = Field(default_factory=HealthCheck)
    """Health check after deployment, used for rollback and by probes."""
    env: dict[EnvName, str] = Field(default_factory=dict)
    """Plain, non-secret environment variables. Secrets here are rejected: use `secretEnv`."""
    secret_env: list[SecretEnv] = Field(default_factory=list)
    """Environment variables read from files in the secrets directory (never stored in git)."""
    env_from: list[EnvFrom] = Field(default_factory=list)
    """Dotenv files in the secrets directory merged into the EnvironmentFile."""
    data_dir: SafePath | None = None
    """The App's state directory (replicated by StandbyPairs); default `/srv/apps/<name>/data`.
    A normalised absolute path of letters, digits, `.`, `_` and `-`."""
    restart: Literal["always", "on-failure", "no"] = "on-failure"
    """systemd `Restart=` policy."""
    keep_releases: PositiveInt = 3
    """Releases kept on the VM for rollback."""
    packages: list[Package] = Field(default_factory=list)
    """Debian packages installed with apt before the App (re)starts, pinned when a version
    is given. Removing one from the list does not remove it from the VM."""
    build: BuildStep | None = None
    """A build run once per new release before it goes live; a failed build keeps the
    previous release running."""


class App(Resource):
    """A systemd service on a VM, deployed from git, from a release artifact, or installed
    by a package."""

    kind_name: ClassVar[str] = "App"
    plural: ClassVar[str] = "apps"
    short_names: ClassVar[tuple[str, ...]] = ("app",)

    kind: Literal["App"]
    """Always `App`."""
    spec: AppSpec
    """Desired state."""

    def reference_paths(self) -> list[tuple[RefPath, ObjectRef]]:
        return [(("spec", "vm"), ObjectRef(kind="VM", name=self.spec.vm))]

    @property
    def app_dir(self) -> str:
        return f"{APPS_ROOT}/{self.metadata.name}"

    @property
    def data_dir(self) -> str:
        return self.spec.data_dir or f"{self.app_dir}/data"

    @property
    def executable_is_absolute(self) -> bool:
        """Whether ``execStart`` names its program by absolute path (after systemd's
        ``@-:+!`` prefixes), so that it needs no release directory to be found."""
        words = shlex.split(self.spec.exec_start, posix=True) if self.spec.exec_start else []
        return bool(words) and words[0].lstrip("@-:+!").startswith("/")
