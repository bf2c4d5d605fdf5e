"""Manifest strings that reach unit files, env files, command lines and URLs are refused at
push time when they could become a second directive, variable, argument or request line."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from homeport.kinds import VM, App, StandbyPair
from homeport.kinds.textrules import (
    check_command_line,
    check_safe_path,
    check_url_path,
    check_user_name,
)


@pytest.mark.parametrize("name", ["app", "_svc", "web-1", "a_b-c", "samba$", "a" * 32, "www-data"])
def test_user_names_shadow_accepts(name: str) -> None:
    assert check_user_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "App",
        "1app",
        "-app",
        "app; touch /tmp/x",
        "app\nExecStartPre=/bin/sh",
        "a$b",
        "app ",
        "é",
        "a" * 33,
        "%n",
    ],
)
def test_user_names_shadow_refuses(name: str) -> None:
    with pytest.raises(ValueError, match="not a valid user name"):
        check_user_name(name)


@pytest.mark.parametrize("path", ["/srv/apps/web/data", "/data", "/srv/.state", "/v1.2_x-y"])
def test_safe_paths(path: str) -> None:
    assert check_safe_path(path) == path


@pytest.mark.parametrize(
    "path",
    [
        "relative/data",
        "/srv/data PATH=/tmp",
        "/srv/data\n",
        "/srv/../etc",
        "/srv/./data",
        "/srv//data",
        "/srv/data/",
        "/srv/100%n",
        "/srv/$(id)",
        "/srv/-rf",
        '/srv/"q"',
        "/",
    ],
)
def test_unsafe_paths(path: str) -> None:
    with pytest.raises(ValueError, match="normalised absolute path"):
        check_safe_path(path)


@pytest.mark.parametrize(
    "path", ["/", "/healthz", "/health/ready?full=1&x=%20y", "/a:b@c/~d!$&'()*+,;="]
)
def test_url_paths_rfc3986_accepts(path: str) -> None:
    assert check_url_path(path) == path


@pytest.mark.parametrize(
    "path",
    [
        "healthz",
        "/health z",
        "/healthz\r\nX-Injected: 1",
        "/h#frag",
        "/%zz",
        "/é",
        "//host/path",
        "/a\tb",
    ],
)
def test_url_paths_rfc3986_refuses(path: str) -> None:
    with pytest.raises(ValueError, match="not a URL path"):
        check_url_path(path)


@pytest.mark.parametrize(
    "line", ["/usr/bin/web --port ${PORT}", "/bin/sh -c 'date +%%s'", "/usr/bin/web %n"]
)
def test_command_lines_accepted(line: str) -> None:
    assert check_command_line(line) == line


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("", "non-empty"),
        ("/usr/bin/web\nExecStartPre=/bin/sh", "control character"),
        ("/usr/bin/web\r", "control character"),
        ("/usr/bin/web \\", "must not end with"),
        ("/bin/date +%s%", "not a systemd specifier"),
        ("/bin/printf 100%!", "not a systemd specifier"),
    ],
)
def test_command_lines_refused(line: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_command_line(line)


def app(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "vm": "web-1",
        "source": {"repo": "https://git.example.com/web.git"},
        "execStart": "/usr/bin/web",
        "port": 8080,
    }
    body.update(spec)
    return {
        "apiVersion": "homeport.dev/v1alpha1",
        "kind": "App",
        "metadata": {"name": "web"},
        "spec": body,
    }


@pytest.mark.parametrize(
    ("spec", "where"),
    [
        ({"user": "app\nExecStartPre=/bin/sh"}, "user"),
        ({"dataDir": "/srv/data PATH=/tmp"}, "dataDir"),
        ({"healthCheck": {"path": "/healthz\r\n"}}, "path"),
        ({"execStart": "/usr/bin/web \\"}, "execStart"),
        ({"source": {"repo": "https://git.example.com/web.git", "ref": "-b"}}, "ref"),
        ({"source": {"repo": "https://git.example.com/web.git", "ref": "v1/.hidden"}}, "ref"),
        ({"source": {"repo": "ssh://-oProxyCommand=x/web.git"}}, "repo"),
        ({"source": {"repo": "git@-oProxyCommand=x:web.git"}}, "repo"),
        ({"source": {"repo": "https://git.example.com/web.git\x1b"}}, "repo"),
        ({"env": {"A": "before\x00after"}}, "env"),
        ({"env": {"A": "\ud800"}}, "env"),
        ({"env": {"A-B": "x"}}, "env"),
    ],
)
def test_app_fields_that_reach_files_and_commands_are_validated(
    spec: dict[str, Any], where: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        App.model_validate(app(**spec))
    assert where in str(raised.value)


def test_app_values_that_are_fine_stay_accepted() -> None:
    parsed = App.model_validate(
        app(
            user="svc_web",
            dataDir="/srv/web-data",
            healthCheck={"path": "/ready?deep=1"},
            env={"MULTI": "line one\nline two", "QUOTES": "\"'$`\\"},
            source={"repo": "git@git.example.com:edge/web.git", "ref": "release/v1.2"},
        )
    )
    assert parsed.data_dir == "/srv/web-data"


def vm(**cloud_init: Any) -> dict[str, Any]:
    return {
        "apiVersion": "homeport.dev/v1alpha1",
        "kind": "VM",
        "metadata": {"name": "web-1"},
        "spec": {"machine": "m1", "cloudInit": cloud_init},
    }


@pytest.mark.parametrize(
    "cloud_init",
    [
        {"user": "Ubuntu"},
        {"user": "ubuntu\nroot"},
        {"sshKeys": ["ssh-ed25519 AAAA a\nssh-ed25519 BBBB b"]},
        {"nameserver": "1.1.1.1\nnameserver 6.6.6.6"},
        {"nameserver": "dns.example.com"},
        {"searchDomain": "example.com;reboot"},
    ],
)
def test_vm_cloud_init_fields_are_validated(cloud_init: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        VM.model_validate(vm(**cloud_init))


def test_vm_cloud_init_fields_that_are_fine() -> None:
    parsed = VM.model_validate(
        vm(user="admin", nameserver="1.1.1.1 2606:4700::1111", searchDomain="lan example.com")
    )
    assert parsed.spec.cloud_init.nameserver == "1.1.1.1 2606:4700::1111"


def test_standby_pair_probe_path_is_a_url_path() -> None:
    body = {
        "apiVersion": "homeport.dev/v1alpha1",
        "kind": "StandbyPair",
        "metadata": {"name": "web"},
        "spec": {"primary": "web-a", "standby": "web-b", "probe": {"path": "/h\r\nX: y"}},
    }
    with pytest.raises(ValidationError, match="not a URL path"):
        StandbyPair.model_validate(body)


@pytest.mark.parametrize(
    ("model", "body", "where"),
    [
        (App, app(vm="web-1\n"), "vm"),
        (App, app(env={"A\n": "x"}), "env"),
        (App, app(source={"repo": "https://git.example.com/web.git", "ref": "main\n"}), "ref"),
        (App, {**app(), "metadata": {"name": "web\n"}}, "name"),
    ],
)
def test_a_final_newline_never_slips_past_a_pattern(
    model: type[App], body: dict[str, Any], where: str
) -> None:
    """``re.match`` with ``$`` accepts 'web\\n': every pattern is applied with fullmatch."""
    with pytest.raises(ValidationError) as raised:
        model.model_validate(body)
    assert where in str(raised.value)
