"""spec.source: exactly one of git (long or short form), artifact (https, or plain http only
to loopback/tailnet, with a 64-hex SHA-256) or none; what the reconciler's commands look
like for an artifact (curl never falls back to http, tar never keeps the archive's owners)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from homeport.kinds import App
from homeport.kinds.app import AppSource
from homeport.reconcilers.app.artifact import curl_argv, parse_sha256sum, tar_argv
from homeport.reconcilers.appfiles import render_unit
from homeport.source.validate import validate_sources

SHA = "0f" * 32


def _app(name: str, source: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "homeport.dev/v1alpha1",
        "kind": "App",
        "metadata": {"name": name},
        "spec": {"vm": name, "source": source, "execStart": "/usr/bin/shop", "port": 8080, **spec},
    }


def test_the_short_git_form_is_the_git_source() -> None:
    short = AppSource.model_validate({"repo": "https://git.example.com/a.git"})
    long = AppSource.model_validate({"git": {"repo": "https://git.example.com/a.git"}})
    assert short.git_source == long.git_source
    assert short.git_source is not None and short.git_source.ref == "main"
    assert short.identity() == long.identity()


@pytest.mark.parametrize(
    "source",
    [
        {"repo": "https://git.example.com/a.git", "ref": "v1"},
        {"git": {"repo": "https://git.example.com/a.git", "ref": "v1"}},
        {"artifact": {"url": "https://example.com/a.tar.gz", "sha256": SHA}},
        {"none": {}},
    ],
)
def test_a_stored_app_reads_back_the_same(source: dict[str, Any]) -> None:
    """The store keeps ``model_dump(by_alias, exclude_none=False)`` and validates it again."""
    app = App.model_validate(_app("shop", source, packages=[{"name": "shop"}]))
    again = App.model_validate(app.model_dump(mode="json", by_alias=True, exclude_none=False))
    assert again == app


def test_sha256_is_64_hex_digits_any_case() -> None:
    source = AppSource.model_validate(
        {"artifact": {"url": "https://example.com/a.tar.gz", "sha256": SHA.upper()}}
    )
    assert source.artifact is not None and source.artifact.sha256 == SHA
    for bad in (SHA[:-1], SHA + "0", "g" * 64, f"sha256:{SHA}"):
        with pytest.raises(ValidationError, match="is not a SHA-256"):
            AppSource.model_validate({"artifact": {"url": "https://e.com/a", "sha256": bad}})


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/acme/shop/releases/download/v1.2/shop-1.2.tar.gz",
        "http://127.0.0.1:8000/shop.tar.gz",
        "http://localhost/shop.tar.gz",
        "http://100.101.102.103:8080/shop.tar.gz",
        "http://[fd7a:115c:a1e0::1]/shop.tar.gz",
    ],
)
def test_artifact_urls_accepted(url: str) -> None:
    AppSource.model_validate({"artifact": {"url": url, "sha256": SHA}})


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://example.com/a.tar.gz", "neither loopback nor a tailnet address"),
        ("http://192.168.1.10/a.tar.gz", "neither loopback nor a tailnet address"),
        ("ftp://example.com/a.tar.gz", "must be an https:// URL"),
        ("file:///srv/a.tar.gz", "is not a URL with a host"),
        ("https://user:pw@example.com/a.tar.gz", "embeds a password"),
        ("https://example.com/a b.tar.gz", "is not a URL with a host"),
        ("https://example.com/a\n.tar.gz", "control character"),
    ],
)
def test_artifact_urls_refused(url: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AppSource.model_validate({"artifact": {"url": url, "sha256": SHA}})


@pytest.mark.parametrize(
    ("exec_start", "absolute"),
    [
        ("/usr/bin/ollama serve", True),
        ("-/usr/bin/ollama serve", True),
        ("@/usr/bin/ollama ollama serve", True),
        ("ollama serve", False),
        ("./bin/shop", False),
    ],
)
def test_exec_start_names_its_program_by_absolute_path(exec_start: str, absolute: bool) -> None:
    document = _app("models", {"none": {}})
    document["spec"]["execStart"] = exec_start
    assert App.model_validate(document).executable_is_absolute is absolute


def test_a_packaged_service_runs_in_its_data_directory() -> None:
    app = App.model_validate(_app("models", {"none": {}}, packages=[{"name": "ollama"}]))
    unit = render_unit(app, "127.0.3.9")
    assert "WorkingDirectory=/srv/apps/models/data\n" in unit
    git = App.model_validate(_app("shop", {"repo": "https://git.example.com/a.git"}))
    assert "WorkingDirectory=/srv/apps/shop/current\n" in render_unit(git, "127.0.3.9")


def _pair_estate(primary: dict[str, Any], standby: dict[str, Any]) -> list[tuple[str, bytes]]:
    machines = [
        {
            "apiVersion": "homeport.dev/v1alpha1",
            "kind": "Machine",
            "metadata": {"name": m},
            "spec": {"node": m, "capacity": {"cores": 8, "memoryMiB": 16384, "storageGiB": 200}},
        }
        for m in ("m1", "m2")
    ]
    vms = [
        {
            "apiVersion": "homeport.dev/v1alpha1",
            "kind": "VM",
            "metadata": {"name": n},
            "spec": {"machine": m},
        }
        for n, m in (("shop-a", "m1"), ("shop-b", "m2"))
    ]
    pair = {
        "apiVersion": "homeport.dev/v1alpha1",
        "kind": "StandbyPair",
        "metadata": {"name": "shop"},
        "spec": {"primary": "shop-a", "standby": "shop-b"},
    }
    docs = [*machines, *vms, _app("shop-a", primary), _app("shop-b", standby), pair]
    return [("estate.yaml", yaml.safe_dump_all(docs).encode())]


def test_pair_members_may_spell_the_same_git_source_either_way() -> None:
    result = validate_sources(
        _pair_estate(
            {"repo": "https://git.example.com/a.git"},
            {"git": {"repo": "https://git.example.com/a.git", "ref": "main"}},
        )
    )
    assert result.ok, [e.render() for e in result.errors]


def test_pair_members_run_the_same_artifact() -> None:
    same = {"artifact": {"url": "https://example.com/a.tar.gz", "sha256": SHA}}
    assert validate_sources(_pair_estate(same, same)).ok
    other = {"artifact": {"url": "https://example.com/a.tar.gz", "sha256": "1" * 64}}
    result = validate_sources(_pair_estate(same, other))
    [error] = result.errors
    assert "deploys https://example.com/a.tar.gz (sha256 111111111111), not the primary's" in (
        error.render()
    )


def test_curl_never_falls_back_to_plain_http_and_tar_keeps_no_owner() -> None:
    argv = curl_argv("https://example.com/a.tar.gz", "/srv/apps/a/releases/x.download")
    assert argv[argv.index("--proto") + 1] == "=https"
    assert argv[argv.index("--proto-redir") + 1] == "=https"
    assert argv[-2:] == ["--", "https://example.com/a.tar.gz"] and "--fail" in argv
    local = curl_argv("http://127.0.0.1:8000/a.tar.gz", "/tmp/x")
    assert local[local.index("--proto") + 1] == "=http,https"
    assert tar_argv("/a.download", "/a.partial", 0) == [
        *("tar", "-x", "-f", "/a.download", "-C", "/a.partial", "--no-same-owner"),
    ]
    assert tar_argv("/a", "/b", 1)[-1] == "--strip-components=1"
    assert parse_sha256sum(f"{SHA}  /srv/x.download\n") == SHA
    assert parse_sha256sum("") == ""
