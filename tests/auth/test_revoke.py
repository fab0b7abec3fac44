"""POST /oauth2/revoke (RFC 7009)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.auth.flows import ADMIN, basic, bearer, client_auth, password_token, register, token_request
from tollway.models.changes import gateway_config_version
from tollway.runtime import Runtime

CONFIG = "/api/am/admin/v1/tenant-config"


@pytest.fixture
def client(http: httpx.Client) -> dict[str, Any]:
    return register(http)


def gateway_version(runtime: Runtime) -> int:
    with runtime.session_factory() as session:
        return gateway_config_version(session)


def test_a_revoked_access_token_stops_working_and_the_gateway_is_told(
    http: httpx.Client, client: dict[str, Any], runtime: Runtime
) -> None:
    token = password_token(http, client, ADMIN, "apim:admin")
    assert http.get(CONFIG, headers=bearer(token["access_token"])).status_code == 200
    before = gateway_version(runtime)
    answer = http.post(
        "/oauth2/revoke",
        data={"token": token["access_token"], "token_type_hint": "access_token"},
        headers=client_auth(client),
    )
    assert answer.status_code == 200
    assert http.get(CONFIG, headers=bearer(token["access_token"])).status_code == 401
    assert gateway_version(runtime) > before
    # The refresh token of the grant still works: only the access token was revoked.
    refreshed = token_request(http, client, grant_type="refresh_token", refresh_token=token["refresh_token"])
    assert refreshed.status_code == 200


def test_revoking_a_refresh_token_revokes_its_grant(http: httpx.Client, client: dict[str, Any]) -> None:
    token = password_token(http, client, ADMIN, "apim:admin")
    answer = http.post("/oauth2/revoke", data={"token": token["refresh_token"]}, headers=client_auth(client))
    assert answer.status_code == 200
    assert http.get(CONFIG, headers=bearer(token["access_token"])).status_code == 401
    refreshed = token_request(http, client, grant_type="refresh_token", refresh_token=token["refresh_token"])
    assert refreshed.json()["error"] == "invalid_grant"


def test_unknown_tokens_are_not_an_error(http: httpx.Client, client: dict[str, Any]) -> None:
    answer = http.post("/oauth2/revoke", data={"token": "never-issued"}, headers=client_auth(client))
    assert answer.status_code == 200


def test_revocation_needs_the_client_that_got_the_token(http: httpx.Client, client: dict[str, Any]) -> None:
    token = password_token(http, client, ADMIN, "apim:admin")
    anonymous = http.post("/oauth2/revoke", data={"token": token["access_token"]})
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "invalid_client"
    wrong = http.post(
        "/oauth2/revoke", data={"token": token["access_token"]}, headers=basic(client["clientId"], "x")
    )
    assert wrong.status_code == 401
    other = register(http, client_name="other")
    foreign = http.post("/oauth2/revoke", data={"token": token["access_token"]}, headers=client_auth(other))
    assert foreign.status_code == 400
    assert foreign.json()["error"] == "invalid_grant"
    missing = http.post("/oauth2/revoke", data={}, headers=client_auth(client))
    assert missing.json()["error"] == "invalid_request"
    assert http.get(CONFIG, headers=bearer(token["access_token"])).status_code == 200
