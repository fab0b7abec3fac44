"""POST /client-registration/v0.17/register: WSO2's dynamic client registration."""

from __future__ import annotations

import json

import httpx
from sqlalchemy import select

from tests.auth.flows import ADMIN, basic, password_token, register, sign_up, token_request
from tollway.db.session import transaction
from tollway.models import OAuthClient
from tollway.runtime import Runtime

URL = "/client-registration/v0.17/register"
RESPONSE_FIELDS = {
    "clientId",
    "clientName",
    "callBackURL",
    "clientSecret",
    "isSaasApplication",
    "appOwner",
    "jsonString",
}
PAYLOAD = {
    "callbackUrl": "www.google.lk",
    "clientName": "rest_api_admin",
    "owner": "admin",
    "grantType": "password refresh_token",
    "saasApp": True,
}


def test_registration_answers_wso2_fields_and_the_client_gets_tokens(http: httpx.Client) -> None:
    client = register(http)
    assert set(client) == RESPONSE_FIELDS
    assert client["clientName"] == "rest_api_admin"
    assert client["callBackURL"] == "www.google.lk"
    assert client["appOwner"] == "admin"
    assert json.loads(client["jsonString"])["grant_types"] == "password refresh_token"
    assert password_token(http, client, ADMIN)["token_type"] == "Bearer"


def test_registering_again_answers_the_same_client_and_both_answers_keep_working(http: httpx.Client) -> None:
    first = register(http)
    second = register(http)
    assert (second["clientId"], second["clientSecret"]) == (first["clientId"], first["clientSecret"])
    form = {"grant_type": "password", "username": "admin", "password": "admin"}
    assert token_request(http, first, **form).status_code == 200
    assert token_request(http, second, **form).status_code == 200
    # Another name is another client.
    assert register(http, client_name="other")["clientId"] != first["clientId"]


def test_saas_app_is_answered_as_registered(http: httpx.Client) -> None:
    assert register(http)["isSaasApplication"] is True  # flows.register sends saasApp: true
    answer = http.post(URL, json={**PAYLOAD, "clientName": "plain", "saasApp": False}, headers=basic(*ADMIN))
    assert answer.json()["isSaasApplication"] is False


def test_the_secret_is_kept_encrypted_never_in_plain(http: httpx.Client, runtime: Runtime) -> None:
    client = register(http)
    with transaction(runtime.session_factory) as session:
        row = session.scalar(select(OAuthClient).where(OAuthClient.client_id == client["clientId"]))
        assert row is not None and row.secret_encrypted
        stored = (row.secret_hash, row.secret_encrypted)
    assert all(client["clientSecret"] not in value for value in stored)
    assert runtime.secrets.decrypt(stored[1]) == client["clientSecret"]


def test_registration_needs_a_users_credentials(http: httpx.Client) -> None:
    anonymous = http.post(URL, json=PAYLOAD)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Basic")
    assert http.post(URL, json=PAYLOAD, headers=basic("admin", "wrong")).status_code == 401
    garbled = http.post(URL, json=PAYLOAD, headers={"Authorization": "Basic %%%"})
    assert garbled.status_code == 401


def test_registration_refuses_bad_bodies_naming_the_field(http: httpx.Client) -> None:
    auth = basic(*ADMIN)
    unknown = http.post(URL, json={**PAYLOAD, "tokenScope": "Production"}, headers=auth)
    assert unknown.status_code == 400
    assert "tokenScope" in unknown.json()["description"]
    # The manual prints the payload's lines without braces: that file is not JSON.
    braceless = '"callbackUrl": "www.google.lk",\n"clientName": "rest_api_admin"'
    not_json = http.post(URL, content=braceless, headers={**auth, "Content-Type": "application/json"})
    assert not_json.status_code == 400
    array = http.post(URL, json=[PAYLOAD], headers=auth)
    assert array.status_code == 400
    grant = http.post(URL, json={**PAYLOAD, "grantType": "password magic"}, headers=auth)
    assert grant.status_code == 400
    assert "grantType" in grant.json()["description"]
    assert http.post(URL, json={**PAYLOAD, "clientName": ""}, headers=auth).status_code == 400


def test_only_an_admin_registers_a_client_for_another_user(http: httpx.Client) -> None:
    assert sign_up(http, "dev1", "dev1-password").status_code == 201
    refused = http.post(URL, json={**PAYLOAD, "owner": "admin"}, headers=basic("dev1", "dev1-password"))
    assert refused.status_code == 403
    own = register(http, ("dev1", "dev1-password"), client_name="mine")
    assert own["appOwner"] == "dev1"
    for_dev = register(http, ADMIN, client_name="for_dev", owner="dev1")
    assert for_dev["appOwner"] == "dev1"
    missing = http.post(URL, json={**PAYLOAD, "owner": "nobody"}, headers=basic(*ADMIN))
    assert missing.status_code == 400
    assert "owner" in missing.json()["description"]
