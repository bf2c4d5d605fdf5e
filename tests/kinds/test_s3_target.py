"""``offsite.s3``: plain HTTP only where WireGuard or the kernel carries it (loopback, the
tailnet); the repository address restic is given. Rejections are in the broken corpus
(``tests/source/broken/backup-s3-*.yaml``)."""

from __future__ import annotations

import pytest

from homeport.kinds.backuppolicy import S3Target


def _target(endpoint: str) -> S3Target:
    return S3Target.model_validate(
        {
            "endpoint": endpoint,
            "bucket": "offsite-copies",
            "prefix": "homeport/site-a",
            "credentialsSecret": "offsite/s3.env",
            "encryptionKeySecret": "offsite/restic.key",
        }
    )


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://s3.eu-central-1.amazonaws.com",
        "https://minio.example.net:9000/",
        "http://127.0.0.1:9000",
        "http://[::1]:9000",
        "http://localhost:9000",
        "http://100.101.7.9:9000",
        "http://minio.tail1234.ts.net:9000",
    ],
)
def test_https_or_plain_http_on_loopback_and_the_tailnet(endpoint: str) -> None:
    target = _target(endpoint)
    assert target.repository == f"s3:{endpoint.rstrip('/')}/offsite-copies/homeport/site-a"
    assert target.key == target.repository


@pytest.mark.parametrize(
    "endpoint", ["http://s3.example.com", "http://192.168.1.20:9000", "http://10.0.0.5"]
)
def test_plain_http_elsewhere_is_refused(endpoint: str) -> None:
    with pytest.raises(ValueError, match="is plain HTTP: use https://"):
        _target(endpoint)
