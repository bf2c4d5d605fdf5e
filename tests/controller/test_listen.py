"""The Prometheus endpoint listens on loopback or the tailnet, and nowhere else."""

from __future__ import annotations

from pathlib import Path

import pytest

from homeport.controller.config import ConfigError, TelemetrySettings, load_settings
from homeport.controller.listen import scrape_address
from homeport.services.telemetry.exporters import build_providers


@pytest.mark.parametrize(
    ("listen", "expected"),
    [
        ("127.0.0.1:9464", ("127.0.0.1", 9464)),
        ("127.8.0.3:9000", ("127.8.0.3", 9000)),
        ("localhost:9464", ("127.0.0.1", 9464)),
        ("[::1]:9464", ("::1", 9464)),
        ("100.64.0.1:9464", ("100.64.0.1", 9464)),
        ("100.127.255.254:9464", ("100.127.255.254", 9464)),
        ("[fd7a:115c:a1e0:ab12::1]:9464", ("fd7a:115c:a1e0:ab12::1", 9464)),
    ],
)
def test_loopback_and_tailnet_addresses_are_accepted(
    listen: str, expected: tuple[str, int]
) -> None:
    assert scrape_address(listen) == expected


@pytest.mark.parametrize(
    ("listen", "complaint"),
    [
        ("0.0.0.0:9464", "neither loopback nor a tailnet address"),
        ("[::]:9464", "neither loopback nor a tailnet address"),
        (":9464", "an empty host is not an IP address"),
        ("192.168.1.10:9464", "neither loopback nor a tailnet address"),
        ("203.0.113.7:9464", "neither loopback nor a tailnet address"),
        ("100.128.0.1:9464", "neither loopback nor a tailnet address"),  # just past 100.64/10
        ("[fd7a:115c:a1e1::1]:9464", "neither loopback nor a tailnet address"),
        ("metrics.example.com:9464", "is not an IP address"),
        ("127.0.0.1", "expected host:port"),
        ("127.0.0.1:0", "expected host:port"),
        ("127.0.0.1:99999", "expected host:port"),
        ("::1:9464", "write IPv6 addresses as [addr]:port"),
    ],
)
def test_anything_else_is_refused_with_the_fix(listen: str, complaint: str) -> None:
    with pytest.raises(ValueError, match="prometheus_listen") as raised:
        scrape_address(listen)
    assert complaint in str(raised.value)


def test_the_config_file_is_refused_when_loaded(tmp_path: Path) -> None:
    config = tmp_path / "homeport.toml"
    config.write_text(
        '[source]\ndirectory = "manifests"\n\n'
        '[telemetry]\nmetrics = "prometheus"\nprometheus_listen = "0.0.0.0:9464"\n'
    )
    with pytest.raises(ConfigError) as raised:
        load_settings(config)
    message = str(raised.value)
    assert "[telemetry.prometheus_listen]" in message
    assert "0.0.0.0 is neither loopback nor a tailnet address" in message
    assert "use 127.0.0.1:<port>" in message


def test_building_the_exporters_checks_again() -> None:
    # Settings built in code skip the loader; the exporter still refuses to bind.
    settings = TelemetrySettings.model_construct(
        traces="none", metrics="prometheus", prometheus_listen="0.0.0.0:9464"
    )
    with pytest.raises(ConfigError, match=r"\[telemetry\] prometheus_listen '0.0.0.0:9464'"):
        build_providers(settings)
