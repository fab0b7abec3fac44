"""The manual's Step 4, run with the real curl, verbatim (host and port aside), against `tollway serve`.

The control plane serves HTTPS with a self-signed certificate, as the manual's URLs expect. Steps
1 and 2 call curl without ``-k``: the certificate is trusted through ``CURL_CA_BUNDLE``, as it
would be by an operator who installed it; steps 3 and 4 use ``-k`` as written.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.monetization.served import tollway_serve
from tollway.runtime import Runtime

# The manual's commands, copied as written.
STEP_1 = (
    'curl -X POST -H "Authorization: Basic <base64encoded-admin-account-credentials>" '
    '-H "Content-Type: application/json" -d @payload.json https://localhost:9443/client-registration/v0.17/register'
)
PAYLOAD = """{
  "callbackUrl": "www.google.lk",
  "clientName": "rest_api_admin",
  "owner": "admin",
  "grantType": "password refresh_token",
  "saasApp": true
}"""
STEP_2 = (
    "curl -X POST https://localhost:9443/oauth2/token "
    "-H 'Authorization: Basic <base64encoded-registeration-credentials>' "
    "-d 'grant_type=password&username=admin&password=admin&scope=apim:monetization_usage_publish'"
)
STEP_3 = (
    'curl -k -H "Authorization: Bearer <monetization-usage-publish-token>" -X POST '
    '-H "Content-Type: application/json" https://localhost:9443/api/am/admin/v1/monetization/publish-usage'
)
STEP_4 = (
    'curl -k -H "Authorization: Bearer <monetization-usage-publish-token>" -X GET '
    '-H "Content-Type: application/json" https://localhost:9443/api/am/admin/v1/monetization/publish-usage/status'
)


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def curl(command: str, port: int, cwd: Path, ca: Path, **placeholders: str) -> str:
    command = command.replace("localhost:9443", f"localhost:{port}")
    for name, value in placeholders.items():
        command = command.replace(f"<{name}>", value)
    assert "<" not in command, command
    env = {**os.environ, "CURL_CA_BUNDLE": str(ca)}
    done = subprocess.run(
        ["bash", "-c", command + " --silent --show-error"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"{command}\n{done.stderr}"
    return done.stdout


def test_step_4_curl_commands_work_verbatim(runtime: Runtime, database_url: str, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    env = {"TOLLWAY_SERVER__TLS_CERT": str(cert), "TOLLWAY_SERVER__TLS_KEY": str(key)}
    (tmp_path / "payload.json").write_text(PAYLOAD)
    with tollway_serve(database_url, tmp_path / "data", **env) as served:
        admin = base64.b64encode(b"admin:admin").decode()
        registered = json.loads(
            curl(STEP_1, served.port, tmp_path, cert, **{"base64encoded-admin-account-credentials": admin})
        )
        client = base64.b64encode(f"{registered['clientId']}:{registered['clientSecret']}".encode()).decode()
        token = json.loads(
            curl(STEP_2, served.port, tmp_path, cert, **{"base64encoded-registeration-credentials": client})
        )
        assert token["scope"] == "apim:monetization_usage_publish"
        bearer = {"monetization-usage-publish-token": token["access_token"]}

        accepted = json.loads(curl(STEP_3, served.port, tmp_path, cert, **bearer))
        assert accepted == {"status": "Request Accepted", "message": "Server is running the usage publisher"}

        deadline = time.monotonic() + 30
        while True:
            status = json.loads(curl(STEP_4, served.port, tmp_path, cert, **bearer))
            if status["state"] == "COMPLETED" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert status["state"] == "COMPLETED" and status["status"] == "SUCCESSFUL"
        assert set(status) == {"state", "status", "startedTime", "lastPublishedTime", "lastPublsihedTime"}
        assert int(status["startedTime"]) > 0 and int(status["lastPublsihedTime"]) > 0
