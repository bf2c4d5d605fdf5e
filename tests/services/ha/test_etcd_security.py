"""The etcd client with TLS client certificates (``--client-cert-auth``) and with etcd's
own users (``password_file``), against real single-member clusters on loopback."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from homeport.clients.etcd import EtcdAuthFailed, EtcdClient, EtcdError, EtcdSettings
from homeport.controller.config import CoordinationSettings
from homeport.services.ha.planes import etcd_settings
from testkit.ha.etcd_cluster import EtcdCluster

pytestmark = pytest.mark.integration


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write(path: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
    path.with_suffix(".key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _cert(
    name: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    *,
    server: bool = False,
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0] if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


def pki(directory: Path) -> dict[str, Path]:
    directory.mkdir(parents=True)
    ca_key = _key()
    ca = _cert("homeport test CA", ca_key, None)
    _write(directory / "ca", ca_key, ca)
    for name, server in (("server", True), ("client", False)):
        key = _key()
        _write(directory / name, key, _cert(name, key, (ca.subject, ca_key), server=server))
    return {
        "ca": directory / "ca.crt",
        "cert": directory / "server.crt",
        "key": directory / "server.key",
        "client_cert": directory / "client.crt",
        "client_key": directory / "client.key",
    }


async def test_tls_with_client_certificates(tmp_path: Path) -> None:
    tls = pki(tmp_path / "pki")
    async with EtcdCluster.running(tmp_path / "etcd", size=1, tls=tls) as cluster:
        settings = CoordinationSettings.model_validate(
            {
                "backend": "etcd",
                "endpoints": cluster.endpoints,
                "ca_file": str(tls["ca"]),
                "cert_file": str(tls["client_cert"]),
                "key_file": str(tls["client_key"]),
            }
        )
        client = EtcdClient(etcd_settings(settings))
        try:
            await client.put("/t/k", {"v": 1})
            found = await client.get("/t/k")
            assert found is not None and found.json() == {"v": 1}
        finally:
            await client.close()
        # Without a client certificate the members refuse the connection.
        anonymous = EtcdClient(
            EtcdSettings(tuple(cluster.endpoints), ca_file=tls["ca"], timeout=1.0)
        )
        try:
            with pytest.raises(EtcdError):
                await anonymous.get("/t/k")
        finally:
            await anonymous.close()


async def test_etcd_users_with_a_password_file(tmp_path: Path) -> None:
    async with EtcdCluster.running(tmp_path / "etcd", size=1) as cluster:
        url = cluster.endpoints[0]
        async with httpx.AsyncClient(trust_env=False, timeout=5) as http:
            for path, body in (
                ("/v3/auth/user/add", {"name": "root", "password": "rootpw"}),
                ("/v3/auth/user/grant", {"user": "root", "role": "root"}),
                ("/v3/auth/user/add", {"name": "homeport", "password": "s3cret"}),
                ("/v3/auth/user/grant", {"user": "homeport", "role": "root"}),
                ("/v3/auth/enable", {}),
            ):
                response = await http.post(f"{url}{path}", json=body)
                assert response.status_code == 200, response.text
        password = tmp_path / "password"
        password.write_text("s3cret\n")
        settings = CoordinationSettings.model_validate(
            {
                "backend": "etcd",
                "endpoints": cluster.endpoints,
                "username": "homeport",
                "password_file": str(password),
            }
        )
        client = EtcdClient(etcd_settings(settings))
        try:
            lease, _ = await client.grant(5)
            await client.put("/t/k", {"v": 2}, lease=lease)
            found = await client.get("/t/k")
            assert found is not None and found.json() == {"v": 2}
        finally:
            await client.close()
        password.write_text("wrong\n")
        wrong = EtcdClient(etcd_settings(settings))
        try:
            with pytest.raises(EtcdAuthFailed):
                await wrong.get("/t/k")
        finally:
            await wrong.close()
