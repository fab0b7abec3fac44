"""The manual's Step 4, every curl command read from the manual's text and run verbatim with the
real curl against a fresh `tollway serve` over HTTPS.

The commands come from ``manual/step4.txt``, an excerpt of the manual copied as written. Only
what a reader fills in is substituted: the ``<…>`` placeholders, and port 9443 by the free port
the control plane's HTTPS listener has here. Commands 1 and 2 run without ``-k``: the instance's
certificate is trusted through ``CURL_CA_BUNDLE``, as by a user who trusts it (the self-signed
one ``tollway serve`` made at first start, or a configured one); 3 and 4 use ``-k`` as written.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import re
import shlex
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.monetization.served import tollway_serve
from tollway.runtime import Runtime

MANUAL = Path(__file__).parent / "manual" / "step4.txt"


def manual_text() -> str:
    return "".join(line for line in MANUAL.read_text().splitlines(keepends=True) if not line.startswith("#"))


def manual_commands() -> list[str]:
    return [line.strip() for line in manual_text().splitlines() if line.strip().startswith("curl ")]


def manual_payload() -> str:
    """payload.json "should take the following format": the manual's lines, as a JSON object."""
    lines = manual_text().splitlines()
    start = next(i for i, line in enumerate(lines) if "payload.json should take the following format" in line)
    body = []
    for line in lines[start + 1 :]:
        if not line.strip().startswith('"'):
            break
        body.append("  " + line.strip())
    return "{\n" + "\n".join(body) + "\n}\n"


def configured_certificate(directory: Path) -> tuple[Path, Path]:
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
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "operator.crt", directory / "operator.key"
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


def test_the_excerpt_holds_the_manuals_four_commands() -> None:
    commands = manual_commands()
    assert len(commands) == 4
    assert all("https://localhost:9443/" in command for command in commands)
    assert ["-k" in shlex.split(command) for command in commands] == [False, False, True, True]
    assert json.loads(manual_payload())["clientName"] == "rest_api_admin"


@pytest.mark.parametrize("certificate", ["self-signed", "configured"])
def test_step_4_curl_commands_work_verbatim(
    runtime: Runtime, database_url: str, tmp_path: Path, certificate: str
) -> None:
    step_1, step_2, step_3, step_4 = manual_commands()
    env: dict[str, str] = {}
    if certificate == "configured":
        cert, key = configured_certificate(tmp_path)
        env = {"TOLLWAY_SERVER__TLS_CERT": str(cert), "TOLLWAY_SERVER__TLS_KEY": str(key)}
    (tmp_path / "payload.json").write_text(manual_payload())
    with tollway_serve(database_url, tmp_path / "data", **env) as served:
        if certificate == "self-signed":
            assert served.ca == tmp_path / "data" / "tls-cert.pem"
        fingerprint = re.search(r"SHA-256 fingerprint ([0-9A-F:]{95})", served.log.read_text())
        assert fingerprint is not None, served.log.read_text()
        pem = x509.load_pem_x509_certificate(served.ca.read_bytes())
        assert pem.fingerprint(hashes.SHA256()).hex(":").upper() == fingerprint.group(1)

        def run(command: str, **placeholders: str) -> str:
            return curl(command, served.https_port, tmp_path, served.ca, **placeholders)

        admin = base64.b64encode(b"admin:admin").decode()
        registered = json.loads(run(step_1, **{"base64encoded-admin-account-credentials": admin}))
        client = base64.b64encode(f"{registered['clientId']}:{registered['clientSecret']}".encode()).decode()
        token = json.loads(run(step_2, **{"base64encoded-registeration-credentials": client}))
        assert token["scope"] == "apim:monetization_usage_publish"
        bearer = {"monetization-usage-publish-token": token["access_token"]}

        accepted = json.loads(run(step_3, **bearer))
        assert accepted == {"status": "Request Accepted", "message": "Server is running the usage publisher"}

        deadline = time.monotonic() + 30
        while True:
            status = json.loads(run(step_4, **bearer))
            if status["state"] == "COMPLETED" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert status["state"] == "COMPLETED" and status["status"] == "SUCCESSFUL"
        assert set(status) == {"state", "status", "startedTime", "lastPublishedTime", "lastPublsihedTime"}
        assert int(status["startedTime"]) > 0 and int(status["lastPublsihedTime"]) > 0
