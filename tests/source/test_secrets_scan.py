from __future__ import annotations

import pytest

from homeport.source.secrets_scan import find_secrets, looks_random


@pytest.mark.parametrize(
    ("env", "flagged"),
    [
        ({"DB_PASSWORD": "hunter2"}, True),
        ({"API_KEY": "abc"}, True),
        ({"DB_PASSWORD_FILE": "/run/secrets/db"}, False),
        ({"SECRET_NAME": "shop-db"}, False),
        ({"LOG_LEVEL": "debug"}, False),
        ({"GIT_SHA": "a" * 40}, False),
        ({"UPSTREAM": "Zx9q2LmP4vR7tK1wB8nC3yD6"}, True),
        ({"GREETING": "hello there, this is a long sentence"}, False),
        ({"PATH_PREFIX": "/var/lib/some/long/path/on/disk"}, False),
        ({"TOKEN": ""}, False),
    ],
)
def test_env_values(env: dict[str, str], flagged: bool) -> None:
    findings = list(find_secrets({"spec": {"env": env}}))
    assert bool(findings) is flagged


def test_public_ssh_keys_are_not_secrets() -> None:
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGz8kQ2x7Yb3Vn9pLqW4tR6mS1dF0hJ8kC5eA2bN7oP me@host"
    assert list(find_secrets({"spec": {"cloudInit": {"sshKeys": [key]}}})) == []


def test_private_key_anywhere() -> None:
    data = {"metadata": {"annotations": {"x": "-----BEGIN RSA PRIVATE KEY-----\nMIIE"}}}
    assert [f.path for f in find_secrets(data)] == [("metadata", "annotations", "x")]


def test_looks_random() -> None:
    assert looks_random("q8Jd0-Lx3Mz9Pw2Nv7Rb4Tc1")
    assert not looks_random("short")
    assert not looks_random("0123456789abcdef0123456789abcdef")
