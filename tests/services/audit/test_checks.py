"""The audit's pure checks and parsers, on captured outputs; no sockets."""

from __future__ import annotations

from pathlib import Path

import pytest

from homeport.controller.config import NotifySettings, Settings, SmtpSink, WebhookSink
from homeport.controller.credentials import credential_files
from homeport.services.audit import CHECKS, checks
from homeport.source.signatures import SignaturePolicy

TAILNET = checks.networks(["100.64.0.0/10", "fd7a:115c:a1e0::/48"])
SS = """LISTEN 0      4096     127.0.0.53%lo:53              0.0.0.0:*
LISTEN 0      128            0.0.0.0:2222           0.0.0.0:*
LISTEN 0      128       100.101.7.9:8080           0.0.0.0:*
LISTEN 0      128            0.0.0.0:9090           0.0.0.0:*
LISTEN 0      128               [::]:2222              [::]:*
LISTEN 0      128                  *:3000                 *:*
"""


def test_ss_listeners_are_parsed() -> None:
    assert checks.parse_ss_listeners(SS) == [
        ("127.0.0.53", 53),
        ("0.0.0.0", 2222),
        ("100.101.7.9", 8080),
        ("0.0.0.0", 9090),
        ("::", 2222),
        ("*", 3000),
    ]


@pytest.mark.parametrize(
    ("port", "found"),
    [(8080, False), (9090, True), (3000, True), (2222, True), (53, False), (7000, False)],
)
def test_app_listeners(port: int, found: bool) -> None:
    listeners = checks.parse_ss_listeners(SS)
    result = checks.app_listeners(
        "web", port, listeners, own_addresses=["100.101.7.9"], tailnet=TAILNET
    )
    assert bool(result) is found


def test_sshd_password_and_keyboard_interactive() -> None:
    settings = checks.parse_sshd_t(
        "port 22\nPasswordAuthentication no\nkbdinteractiveauthentication yes\n"
    )
    (finding,) = checks.ssh_password("Machine", "dell", settings)
    assert "kbdinteractiveauthentication yes" in finding.message
    assert checks.ssh_password("VM", "x", {"passwordauthentication": "no"}) == []


def test_machine_firewall_rules_judged_against_the_tailnet() -> None:
    on = {"enable": 1, "policy_in": "DROP"}

    def judge(rule: dict[str, object]) -> list[str]:
        found = checks.machine_firewall(
            "dell", cluster=on, node={}, rules=[rule], ssh_port=22, tailnet=TAILNET
        )
        return [f.message for f in found]

    base = {"pos": 0, "type": "in", "action": "ACCEPT", "enable": 1}
    assert judge({**base, "proto": "tcp", "dport": "8006", "source": "100.64.0.0/10"}) == []
    assert judge({**base, "macro": "SSH", "source": "+management"}) == []  # cannot judge an ipset
    assert judge({**base, "proto": "tcp", "dport": "8000:8100"})  # 8006 from anywhere
    assert judge({**base, "macro": "SSH", "source": "192.0.2.0/24"})
    assert judge({**base, "proto": "tcp", "dport": "8006", "enable": 0}) == []
    assert judge({**base, "proto": "tcp", "dport": "443"}) == []
    off = checks.machine_firewall(
        "dell", cluster={"enable": 0}, node={}, rules=[], ssh_port=22, tailnet=TAILNET
    )
    assert "not active" in off[0].message


def test_vm_firewall() -> None:
    rules = [
        {
            "pos": 0,
            "type": "in",
            "action": "ACCEPT",
            "enable": 1,
            "dport": "22",
            "comment": "homeport:ssh-tailnet-0",
        },
        {"pos": 1, "type": "in", "action": "DROP", "enable": 1, "source": "192.0.2.9"},
        {"pos": 2, "type": "in", "action": "ACCEPT", "enable": 1, "proto": "tcp", "dport": "5432"},
    ]
    found = checks.vm_firewall("db", {"enable": 1}, {"net0": True, "net1": False}, rules)
    assert [f.check for f in found] == ["vm-firewall-disabled", "vm-firewall-unowned-rule"]
    assert "net1" in found[0].message and "pos 2" in found[1].message


def test_env_file_modes() -> None:
    assert checks.env_file_mode("a", "/e", 0o100600) == []
    assert "its group" in checks.env_file_mode("a", "/e", 0o100640)[0].message
    assert "every user" in checks.env_file_mode("a", "/e", 0o100604)[0].message


def test_manifest_secrets_never_repeat_the_value() -> None:
    document = {
        "kind": "App",
        "metadata": {"name": "api"},
        "spec": {"env": {"STRIPE_KEY": "sk_live_abcdefghijklmnop1234"}},
    }
    (finding,) = checks.manifest_secrets("apps/api.yaml", document)
    assert (finding.kind, finding.name) == ("App", "api")
    assert "sk_live" not in finding.message and "spec.env.STRIPE_KEY" in finding.message


def test_config_tls(tmp_path: Path) -> None:
    settings = Settings.model_validate({"source": {"directory": str(tmp_path)}})
    assert checks.config_tls(settings) == []
    sinks = [
        WebhookSink(type="webhook", name="local", url="http://127.0.0.1:9/hook"),
        WebhookSink(type="webhook", name="plain", url="http://hooks.example.com/hook"),
        SmtpSink(
            type="smtp",
            name="mail",
            host="smtp.example.com",
            starttls=False,
            sender="a@b",
            recipients=["c@d"],
        ),
        SmtpSink(
            type="smtp",
            name="relay",
            host="127.0.0.1",
            starttls=False,
            sender="a@b",
            recipients=["c@d"],
        ),
    ]
    noisy = settings.model_copy(update={"notify": NotifySettings(sinks=sinks)})
    assert sorted(f.name for f in checks.config_tls(noisy)) == ["mail", "plain"]


def test_signed_revisions(tmp_path: Path) -> None:
    allowed = tmp_path / "allowed_signers"
    allowed.write_text("alice@example.com ssh-ed25519 AAAA\n")

    def found(policy: SignaturePolicy | None) -> list[str]:
        return [f.message for f in checks.signed_revisions(policy)]

    assert found(SignaturePolicy("tip", allowed_signers=allowed)) == []
    assert found(SignaturePolicy("every-commit", allowed_signers=allowed)) == []
    (off,) = found(SignaturePolicy("off"))
    assert "the signature policy is off" in off
    (directory,) = found(None)
    assert "a directory source" in directory
    (broken,) = found(SignaturePolicy("tip", allowed_signers=tmp_path / "gone"))
    assert "cannot be applied, every new revision is held" in broken
    (finding,) = checks.signed_revisions(SignaturePolicy("off"))
    assert (finding.check, finding.kind, finding.name) == ("signatures-off", "Config", "signatures")
    assert finding.check in CHECKS


def _settings(tmp_path: Path, **sections: object) -> Settings:
    return Settings.model_validate({"source": {"directory": str(tmp_path)}, **sections})


def _etcd(endpoint: str, **more: str) -> dict[str, object]:
    return {"backend": "etcd", "endpoints": [endpoint], **more}


@pytest.mark.parametrize(
    ("sections", "found"),
    [
        ({}, []),
        ({"caddy": {"admin_url": "http://100.101.1.10:2019"}}, []),  # the tailnet: WireGuard
        ({"caddy": {"admin_url": "http://router.tail1234.ts.net:2019"}}, []),
        ({"caddy": {"admin_url": "http://192.168.1.10:2019"}}, ["caddy"]),
        ({"caddy": {"admin_url": "https://192.168.1.10:2019"}}, []),
        ({"telemetry": {"traces": "otlp", "otlp_endpoint": "http://127.0.0.1:4318"}}, []),
        ({"telemetry": {"traces": "otlp", "otlp_endpoint": "http://10.0.0.9:4318"}}, ["telemetry"]),
        (
            {"telemetry": {"metrics": "otlp", "otlp_endpoint": "http://otel.example:4318"}},
            ["telemetry"],
        ),
        ({"telemetry": {"traces": "none", "otlp_endpoint": "http://10.0.0.9:4318"}}, []),
        ({"coordination": _etcd("https://10.0.0.11:2379", username="h", password_file="p")}, []),
        ({"coordination": _etcd("http://10.0.0.11:2379")}, ["etcd"]),
        ({"coordination": _etcd("http://100.64.0.11:2379")}, []),
        (
            {"coordination": _etcd("http://100.64.0.11:2379", username="h", password_file="p")},
            ["etcd"],
        ),
        ({"coordination": _etcd("http://127.0.0.1:2379", username="h", password_file="p")}, []),
    ],
)
def test_plain_http_channels_of_credentials_or_control(
    tmp_path: Path, sections: dict[str, object], found: list[str]
) -> None:
    findings = checks.config_plain_http(_settings(tmp_path, **sections))
    assert [f.name for f in findings] == found
    assert all(f.check == "plain-http-channel" and f.fix == "use https://" for f in findings)


def test_an_etcd_password_over_plain_http_is_named(tmp_path: Path) -> None:
    etcd = _etcd("http://100.64.0.11:2379", username="h", password_file="p")
    (finding,) = checks.config_plain_http(_settings(tmp_path, coordination=etcd))
    assert "password" in finding.message and "100.64.0.11:2379" in finding.message


def test_credential_files_others_can_read(tmp_path: Path) -> None:
    token, key = tmp_path / "proxmox-token", tmp_path / "id_ed25519"
    token.write_text("secret\n")
    key.write_text("key\n")
    token.chmod(0o644)
    key.chmod(0o600)
    settings = _settings(tmp_path, proxmox={"token_file": str(token)}, ssh={"key_file": str(key)})
    found = checks.credential_files(credential_files(settings))
    assert [(f.check, f.name, f.fix) for f in found] == [
        ("credential-file-readable", "proxmox", f"chmod 600 {token}")
    ]
    assert "0644" in found[0].message and "[proxmox] token_file" in found[0].message
    token.chmod(0o600)
    assert checks.credential_files(credential_files(settings)) == []


def _policy(offsite: dict[str, object]) -> dict[str, object]:
    return {"kind": "BackupPolicy", "spec": {"selector": {"names": ["web"]}, "offsite": offsite}}


ESTATE = {"dell", "pve1", "pve3", "web"}


def test_offsite_copies_in_plain_text_outside_the_estate_are_reported() -> None:
    outside = checks.backup_offsite(
        "daily", _policy({"ssh": {"host": "vault.example.net", "path": "/x"}}), ESTATE, TAILNET
    )
    assert [(f.check, f.kind, f.name) for f in outside] == [
        ("offsite-unencrypted", "BackupPolicy", "daily")
    ]
    assert "vault.example.net" in outside[0].message and "offsite.s3" in outside[0].fix
    # A Machine of the estate, another Proxmox storage, and an encrypted S3 offsite over
    # https (or plain HTTP on loopback) are fine.
    s3 = {
        "endpoint": "https://s3.example.com",
        "bucket": "offsite",
        "credentialsSecret": "s3.env",
        "encryptionKeySecret": "restic.key",
    }
    for fine in (
        {"ssh": {"host": "pve3", "path": "/srv/backups/offsite"}},
        {"storage": "nas"},
        {"s3": s3},
        {"s3": {**s3, "endpoint": "http://127.0.0.1:9000"}},
        {"s3": {**s3, "endpoint": "http://100.101.7.9:9000"}},
        {"s3": {**s3, "endpoint": "http://minio.tail1234.ts.net:9000"}},
    ):
        assert checks.backup_offsite("daily", _policy(fine), ESTATE, TAILNET) == []
    plain = checks.backup_offsite(
        "daily", _policy({"s3": {**s3, "endpoint": "http://minio.lan:9000"}}), ESTATE, TAILNET
    )
    assert [(f.check, f.fix) for f in plain] == [("offsite-plain-http", "use https://")]
    assert "minio.lan:9000" in plain[0].message
    assert {"offsite-unencrypted", "offsite-plain-http"} <= set(CHECKS)
