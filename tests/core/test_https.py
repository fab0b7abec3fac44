"""HTTPS by default, on WSO2's ports: the generated certificate, the control plane on its HTTPS
and HTTP ports (a real `tollway serve`), the gateway over HTTPS (one process and workers)."""

from __future__ import annotations

import ipaddress
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from tests.monetization.served import Served, expect, sign_in, tollway_serve
from tests.support.servers import free_port
from tollway.cli import main
from tollway.config import load_settings
from tollway.errors import ConfigError
from tollway.runtime import Runtime
from tollway.security.certificates import (
    CERT_FILE,
    KEY_FILE,
    self_signed,
    server_certificate,
    with_certificate,
)

TOLLWAY = [sys.executable, "-m", "tollway"]


def sans(path: Path) -> tuple[set[str], set[str]]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(san.get_values_for_type(x509.DNSName)), {
        str(ip) for ip in san.get_values_for_type(x509.IPAddress)
    }


def trusting(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


# -- the certificate ----------------------------------------------------------------------------


def test_the_generated_certificate_covers_loopback_and_this_host_and_is_private(tmp_path: Path) -> None:
    made = self_signed(tmp_path / "data", "127.0.0.1")
    assert made.generated and not made.configured
    assert made.cert == tmp_path / "data" / CERT_FILE and made.key == tmp_path / "data" / KEY_FILE
    dns, ips = sans(made.cert)
    assert {"localhost", socket.gethostname().lower()} <= dns
    assert {"127.0.0.1", "::1"} <= ips
    assert made.cert.stat().st_mode & 0o777 == 0o600
    assert made.key.stat().st_mode & 0o777 == 0o600
    cert = x509.load_pem_x509_certificate(made.cert.read_bytes())
    assert made.fingerprint == cert.fingerprint(hashes.SHA256()).hex(":").upper()
    assert cert.not_valid_after_utc - cert.not_valid_before_utc >= timedelta(days=365)


def test_the_certificate_is_kept_until_it_expires_or_misses_the_host(tmp_path: Path) -> None:
    first = self_signed(tmp_path, "127.0.0.1")
    again = self_signed(tmp_path, "127.0.0.1")
    assert not again.generated and again.fingerprint == first.fingerprint
    assert not self_signed(tmp_path, "0.0.0.0").generated  # listening everywhere names no address
    later = self_signed(tmp_path, "127.0.0.1", now=datetime.now(UTC) + timedelta(days=400))
    assert later.generated and later.fingerprint != first.fingerprint
    on_lan = self_signed(tmp_path, "10.1.2.3")
    assert on_lan.generated
    assert "10.1.2.3" in sans(on_lan.cert)[1]
    named = self_signed(tmp_path, "api.example.test")
    assert named.generated and "api.example.test" in sans(named.cert)[0]


def test_a_configured_certificate_replaces_the_generated_one(tmp_path: Path) -> None:
    own = self_signed(tmp_path / "elsewhere", "127.0.0.1")
    settings = load_settings(
        None,
        environ={},
        overrides={
            "server": {"data_dir": str(tmp_path / "data"), "tls_cert": str(own.cert), "tls_key": str(own.key)}
        },
    )
    chosen = server_certificate(settings)
    assert chosen.configured and chosen.cert == own.cert and chosen.fingerprint == own.fingerprint
    served = with_certificate(settings)
    assert served.server.tls_cert == own.cert and served.server.tls_key == own.key
    assert not (tmp_path / "data" / CERT_FILE).exists()


def test_half_a_certificate_pair_or_an_unreadable_one_stops_start_up(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tls_cert is set but tls_key is not"):
        load_settings(None, environ={}, overrides={"server": {"tls_cert": "cert.pem"}})
    (tmp_path / "bad.pem").write_text("not a certificate")
    settings = load_settings(
        None,
        environ={},
        overrides={"server": {"tls_cert": str(tmp_path / "bad.pem"), "tls_key": str(tmp_path / "bad.pem")}},
    )
    with pytest.raises(ConfigError, match=r"\[server\] tls_cert: .* is not a readable PEM certificate"):
        server_certificate(settings)
    with pytest.raises(ConfigError, match="http_port and port are both 9443"):
        load_settings(None, environ={}, overrides={"server": {"http_port": 9443}})


def test_config_check_shows_the_ports_and_the_certificate_files(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLWAY_")}
    env["TOLLWAY_SERVER__TLS_CERT"] = "/etc/tollway/cert.pem"
    env["TOLLWAY_SERVER__TLS_KEY"] = "/etc/tollway/key.pem"
    result = CliRunner().invoke(main, ["config", "check", "--data-dir", str(tmp_path)], env=env)
    assert result.exit_code == 0, result.output
    for shown in (
        '"port": 9443',
        '"http_port": 9763',
        '"gateway_port": 8280',
        '"gateway_https_port": 8243',
        '"tls_cert": "/etc/tollway/cert.pem"',
        '"tls_key": "/etc/tollway/key.pem"',
    ):
        assert shown in result.output


# -- the control plane: HTTPS and HTTP ----------------------------------------------------------


@pytest.fixture
def served(runtime: Runtime, database_url: str, tmp_path: Path) -> Iterator[Served]:
    with tollway_serve(database_url, tmp_path / "data") as running:
        yield running


def test_serve_answers_https_and_http_with_oauth_and_portal_cookies_on_both(served: Served) -> None:
    log = served.log.read_text()
    fingerprint = re.search(
        r"TLS certificate generated \(self-signed\) .* SHA-256 fingerprint ([0-9A-F:]+)", log
    )
    assert fingerprint is not None, log
    cert = x509.load_pem_x509_certificate(served.ca.read_bytes())
    assert fingerprint.group(1) == cert.fingerprint(hashes.SHA256()).hex(":").upper()
    assert f"control plane on {served.https_url} and {served.url}" in log

    with (
        httpx.Client(base_url=served.https_url, verify=trusting(served.ca), timeout=30) as https,
        httpx.Client(base_url=served.url, timeout=30) as http,
    ):
        for client in (https, http):
            assert expect(client.get("/health"), 200)["status"] == "UP"
            token = sign_in(client, "admin", "admin", "apim:tier_view")
            assert expect(
                client.get(
                    "/api/am/admin/v1/throttling/policies/subscription",
                    headers={"Authorization": f"Bearer {token}"},
                ),
                200,
            )
            # The portal's sign-in: the cookie is Secure only when it came over HTTPS.
            page = client.get("/devportal/login")
            assert page.status_code == 200
            cookie = page.headers["set-cookie"]
            assert ("secure" in cookie.lower()) == (client is https), cookie
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert csrf is not None
            signed_in = client.post(
                "/devportal/login",
                data={"csrf_token": csrf.group(1), "username": "admin", "password": "admin", "next": ""},
            )
            assert signed_in.status_code == 303, signed_in.text
            home = client.get(signed_in.headers["location"], follow_redirects=True)
            assert home.status_code == 200 and not home.url.path.endswith("/login"), home.url
        # Plain HTTP on the HTTPS port is refused; TLS on the HTTP port too.
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://localhost:{served.https_port}/health", timeout=5)
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"https://localhost:{served.port}/health", verify=trusting(served.ca), timeout=5)
        # The gateway too: HTTP and HTTPS, the same certificate.
        assert httpx.get(f"{served.gateway}/nothing/here").status_code == 404
        assert (
            httpx.get(f"{served.gateway_https}/nothing/here", verify=trusting(served.ca)).status_code == 404
        )


def listening(port: int) -> int:
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    count += 1
    return count


def test_gateway_workers_each_listen_on_both_ports(runtime: Runtime, tmp_path: Path) -> None:
    port, https_port = free_port(), free_port()
    config = tmp_path / "gateway.toml"
    config.write_text(f'[database]\nurl = "{runtime.settings.database_url}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLWAY_")}
    proc = subprocess.Popen(
        [
            *TOLLWAY,
            "gateway",
            *("--port", str(port), "--https-port", str(https_port), "--workers", "2"),
            *("--config", str(config), "--data-dir", str(tmp_path / "node")),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    ca = tmp_path / "node" / CERT_FILE
    try:
        deadline = time.monotonic() + 60
        while not (listening(port) == 2 and listening(https_port) == 2):
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "the workers did not listen on both ports"
            time.sleep(0.1)
        assert httpx.get(f"http://127.0.0.1:{port}/nothing/1/x", timeout=5).status_code == 404
        answer = httpx.get(f"https://localhost:{https_port}/nothing/1/x", verify=trusting(ca), timeout=5)
        assert answer.status_code == 404
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out.decode()
    assert "TLS certificate generated (self-signed)" in out.decode()


def test_an_address_that_is_not_loopback_is_in_the_certificate(tmp_path: Path) -> None:
    # The configured host, when it is an address, is one of the certificate's names.
    address = "192.0.2.10"
    made = self_signed(tmp_path, address)
    assert ipaddress.ip_address(address) in {ipaddress.ip_address(ip) for ip in sans(made.cert)[1]}
