"""The instance's TLS certificate: the configured one, else a self-signed one made at first start.

``tollway serve`` serves HTTPS by default, like WSO2 API Manager (control plane on 9443, gateway
on 8243). With no ``[server] tls_cert``/``tls_key`` configured, a self-signed certificate for
``localhost``, ``127.0.0.1``, ``::1``, this machine's host name and the configured host is made
once (EC P-256, valid a year) and kept, with its key, in the data folder (mode 0600); it is made
again when it has expired (or expires within a day) or no longer covers those names. A
configured pair replaces it. Its SHA-256 fingerprint is logged at every start, so that a user
can check what their browser or curl is shown.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tollway.config import Settings
from tollway.errors import ConfigError

log = logging.getLogger(__name__)

CERT_FILE = "tls-cert.pem"
KEY_FILE = "tls-key.pem"
VALIDITY = timedelta(days=365)
RENEW_BEFORE = timedelta(days=1)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class ServerCertificate:
    cert: Path
    key: Path
    fingerprint: str  # SHA-256 of the certificate (DER), "AB:CD:…"
    configured: bool  # the operator's ([server] tls_cert/tls_key), not the instance's own
    generated: bool  # made by this start


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def wanted_names(host: str) -> tuple[set[str], set[IPAddress]]:
    """The names the generated certificate covers: loopback, this machine, the configured host."""
    dns = {"localhost"}
    ips: set[IPAddress] = {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")}
    hostname = socket.gethostname()
    if hostname:
        dns.add(hostname.lower())
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if host:
            dns.add(host.lower())
    else:
        if not address.is_unspecified:  # 0.0.0.0 / :: are not an address a client connects to
            ips.add(address)
    return dns, ips


def _covers(cert: x509.Certificate, dns: set[str], ips: set[IPAddress]) -> bool:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    have_dns = {name.lower() for name in san.get_values_for_type(x509.DNSName)}
    have_ips = set(san.get_values_for_type(x509.IPAddress))
    return dns <= have_dns and ips <= have_ips


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by its owner only (0600), replacing it atomically."""
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(partial, path)


def generate(cert_path: Path, key_path: Path, host: str, now: datetime | None = None) -> x509.Certificate:
    """Make a self-signed certificate for :func:`wanted_names` and write it and its key (0600)."""
    now = now or datetime.now(UTC)
    dns, ips = wanted_names(host)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tollway (self-signed)"),
        ]
    )
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in sorted(dns)]
    names += [x509.IPAddress(ip) for ip in sorted(ips, key=str)]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write_private(key_path, key_pem)
    _write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return cert


def _load(path: Path) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None


def self_signed(data_dir: Path, host: str, now: datetime | None = None) -> ServerCertificate:
    """The instance's own certificate in ``data_dir``: kept while valid and covering its names."""
    now = now or datetime.now(UTC)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    cert_path, key_path = data_dir / CERT_FILE, data_dir / KEY_FILE
    cert = _load(cert_path) if key_path.is_file() else None
    dns, ips = wanted_names(host)
    fresh = (
        cert is not None
        and cert.not_valid_before_utc <= now
        and cert.not_valid_after_utc - RENEW_BEFORE > now
        and _covers(cert, dns, ips)
    )
    if cert is not None and fresh:
        return ServerCertificate(cert_path, key_path, fingerprint(cert), configured=False, generated=False)
    cert = generate(cert_path, key_path, host, now)
    return ServerCertificate(cert_path, key_path, fingerprint(cert), configured=False, generated=True)


def server_certificate(settings: Settings) -> ServerCertificate:
    """The configured certificate when ``[server] tls_cert`` and ``tls_key`` are set, else the
    instance's self-signed one (made when missing, expired or not covering the host)."""
    server = settings.server
    if server.tls_cert is not None and server.tls_key is not None:
        cert = _load(server.tls_cert)
        if cert is None:
            raise ConfigError(f"[server] tls_cert: {server.tls_cert} is not a readable PEM certificate")
        if not server.tls_key.is_file():
            raise ConfigError(f"[server] tls_key: {server.tls_key} is not a readable file")
        return ServerCertificate(
            server.tls_cert, server.tls_key, fingerprint(cert), configured=True, generated=False
        )
    return self_signed(server.data_dir, server.host)


def with_certificate(settings: Settings) -> Settings:
    """``settings`` whose ``tls_cert``/``tls_key`` name the certificate to serve; logs its
    SHA-256 fingerprint (and that it was just made, or where it is)."""
    certificate = server_certificate(settings)
    if certificate.configured:
        what = "TLS certificate (configured)"
    elif certificate.generated:
        what = "TLS certificate generated (self-signed)"
    else:
        what = "TLS certificate (self-signed)"
    log.info("%s %s, SHA-256 fingerprint %s", what, certificate.cert, certificate.fingerprint)
    server = settings.server.model_copy(update={"tls_cert": certificate.cert, "tls_key": certificate.key})
    return settings.model_copy(update={"server": server})
