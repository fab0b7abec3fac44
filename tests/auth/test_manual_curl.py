"""The manual's Step 4, commands 1 and 2, run verbatim with the real curl (host and port changed)."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

from tests.support.servers import ServerThread

CURL = "/usr/bin/curl"


def curl(*args: str, cwd: Path) -> str:
    done = subprocess.run([CURL, "--silent", "--show-error", *args], cwd=cwd, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


def test_registration_then_password_grant_with_the_usage_publish_scope(
    live_server: ServerThread, tmp_path: Path
) -> None:
    base = live_server.url  # the manual's https://localhost:9443
    # payload.json "should take the following format" (the manual's lines, as a JSON object).
    (tmp_path / "payload.json").write_text(
        "{\n"
        '  "callbackUrl": "www.google.lk",\n'
        '  "clientName": "rest_api_admin",\n'
        '  "owner": "admin",\n'
        '  "grantType": "password refresh_token",\n'
        '  "saasApp": true\n'
        "}\n"
    )
    admin_credentials = base64.b64encode(b"admin:admin").decode()
    registered = json.loads(
        curl(
            "-X", "POST",
            "-H", f"Authorization: Basic {admin_credentials}",
            "-H", "Content-Type: application/json",
            "-d", "@payload.json",
            f"{base}/client-registration/v0.17/register",
            cwd=tmp_path,
        )
    )  # fmt: skip
    client_credentials = base64.b64encode(
        f"{registered['clientId']}:{registered['clientSecret']}".encode()
    ).decode()
    token = json.loads(
        curl(
            "-X", "POST", f"{base}/oauth2/token",
            "-H", f"Authorization: Basic {client_credentials}",
            "-d", "grant_type=password&username=admin&password=admin&scope=apim:monetization_usage_publish",
            cwd=tmp_path,
        )
    )  # fmt: skip
    assert token["scope"] == "apim:monetization_usage_publish"
    assert token["token_type"] == "Bearer"
    assert token["access_token"] and token["refresh_token"]
