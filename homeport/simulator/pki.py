"""The simulator's own CA and the loopback server certificate clients verify against.

Generated once with `cryptography` into a state directory and reused on the next start, so a
controller keeps trusting the same `ca.pem` across simulator restarts. ECDSA P-256 keeps
handshakes cheap. Used by `proxmox_api.server` (TLS context) and `simulator` (CA path
handed to clients). Like real PVE nodes (each with its own `pve-ssl.pem` signed by the
cluster CA), every simulated node gets its own certificate, made on first use; its SHA-256
fingerprint is that node's `ssl_fingerprint` in `/nodes`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

_VALIDITY = dt.timedelta(days=3650)


@dataclass(frozen=True)
class Pki:
    ca_cert: Path
    server_cert: Path
    server_key: Path
    ca_key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.server_cert, self.server_key)
        return context

    def node_fingerprints(self, nodes: Iterable[str]) -> dict[str, str]:
        """Each node's own certificate's `AA:BB:...` SHA-256 fingerprint, as PVE shows it
        (the certificate is made, signed by the CA, on first use)."""
        return {name: _fingerprint(self._node_certificate(name)) for name in nodes}

    def _node_certificate(self, name: str) -> Path:
        path = self.ca_cert.parent / "nodes" / f"{name}.pem"
        if path.exists():
            return path
        path.parent.mkdir(exist_ok=True)
        ca_key = serialization.load_pem_private_key(self.ca_key.read_bytes(), password=None)
        assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
        ca = x509.load_pem_x509_certificate(self.ca_cert.read_bytes())
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _builder(_name(name), ca.subject, key.public_key())
        cert = cert.add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), False)
        _write(path.with_name(f"{name}-key.pem"), _key_pem(key), private=True)
        _write(path, cert.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
        return path


def ensure_pki(directory: Path) -> Pki:
    """Load the CA and server certificate from `directory`, creating them if missing."""
    pki = Pki(
        directory / "ca.pem",
        directory / "server.pem",
        directory / "server-key.pem",
        directory / "ca-key.pem",
    )
    if all(p.exists() for p in (pki.ca_cert, pki.server_cert, pki.server_key, pki.ca_key)):
        return pki
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("homeport simulator CA")
    ca = _builder(ca_name, ca_name, ca_key.public_key())
    ca = ca.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
    ca = ca.add_extension(_ca_usage(), critical=True)
    ca_cert = ca.sign(ca_key, hashes.SHA256())
    key = ec.generate_private_key(ec.SECP256R1())
    server = _builder(_name("127.0.0.1"), ca_name, key.public_key())
    server = server.add_extension(_loopback_san(), critical=False)
    server = server.add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
    server = server.add_extension(
        x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
    )
    server_cert = server.sign(ca_key, hashes.SHA256())
    _write(pki.server_key, _key_pem(key), private=True)
    _write(pki.server_cert, server_cert.public_bytes(serialization.Encoding.PEM))
    _write(pki.ca_cert, ca_cert.public_bytes(serialization.Encoding.PEM))
    _write(pki.ca_key, _key_pem(ca_key), private=True)
    shutil.rmtree(directory / "nodes", ignore_errors=True)  # signed by the CA replaced above
    return pki


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _fingerprint(path: Path) -> str:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    # Certificates are about wall time (the client's clock checks them), not simulated time.
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + _VALIDITY)
    )


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _loopback_san() -> x509.SubjectAlternativeName:
    return x509.SubjectAlternativeName(
        [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    if private:
        tmp.chmod(0o600)
    tmp.replace(path)
