"""JSON that parses but cannot be kept is a 400 naming the problem, on every JSON endpoint.

Two shapes got past the parsers into a 500: a string with a lone UTF-16 surrogate (``"\\ud800"``:
valid JSON, decoded by Python, but no database stores it as UTF-8) and nesting deep enough to
exhaust the recursion limit of a decoder. Every route of the app that takes a JSON body (FastAPI
models as well as the SCIM endpoints that read the raw body) is sent each shape, by a caller it
accepts, and must answer 400 with its usual error body: ``{"code","message","description"}``, or
a SCIM error message on /scim2.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import params

from tests.support.identity import Caller, OrmIdentity
from tests.support.rest import ADMIN, POLICIES, PUBLISHER, STORE, commercial_plan, expect, new_api
from tollway.identity.roles import ROLE_PUBLISHER, ROLE_SUBSCRIBER
from tollway.identity.scim import ERROR_SCHEMA
from tollway.rest.bodies import MAX_JSON_DEPTH, JsonRefused, decode_json
from tollway.runtime import Runtime
from tollway.web.app import create_app
from tollway.web.openapi import accepted_scopes, api_routes

TENANT_CONFIG = f"{ADMIN}/tenant-config"
SURROGATE = "surrogate"
DEPTH = "nest"
# The shape sent, and what the answer's description must name.
SHAPES: dict[str, tuple[bytes, str]] = {
    "lone surrogate": (b'{"name":"\\ud800x"}', SURROGATE),
    "lone low surrogate": (b'{"name":"x\\udc00"}', SURROGATE),
    "surrogates in the wrong order": (b'{"name":"\\udc00\\ud800"}', SURROGATE),
    "lone surrogate in a field name": (b'{"\\udbff":"x"}', SURROGATE),
    "lone surrogate as raw bytes": (b'{"name":"\xed\xa0\x80x"}', SURROGATE),
    "lone surrogate in a list": (b'[1, "\\ud800"]', SURROGATE),
    "deep arrays": (b"[" * 20000, DEPTH),
    "deep arrays, closed": (b"[" * 20000 + b"]" * 20000, DEPTH),
    "deep objects": (b'{"a":' * 20000 + b"1" + b"}" * 20000, DEPTH),
}
# JSON routes that check the caller themselves (no scope dependency): who calls them here.
SELF_AUTHENTICATED = {
    "/client-registration/v0.17/register": "basic-admin",
    "/scim2/Users": "admin",
    "/scim2/Users/{user_id}": "admin",
    "/api/identity/user/v1.0/me": "anonymous",
    "/api/am/{engineName}/webhook/{tenantDomain}": "anonymous",  # the engine checks its own signature
}


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    scopes: tuple[str, ...] | None  # None: the endpoint authenticates by itself

    @property
    def scim(self) -> bool:
        return self.path.startswith("/scim2/")

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _takes_json(route: Any) -> bool:
    body = route.body_field
    if body is not None and not isinstance(body.field_info, params.Form):
        return True
    declared = (route.openapi_extra or {}).get("requestBody", {}).get("content", {})
    return any(kind == "application/json" or kind.endswith("+json") for kind in declared)


def json_endpoints(runtime: Runtime) -> list[Endpoint]:
    """Every route of the app whose body is JSON, parsed by FastAPI or by the endpoint itself."""
    found = []
    for context in api_routes(create_app(runtime)):
        route = context.original_route
        if _takes_json(route):
            for method in sorted(context.methods or ()):
                found.append(Endpoint(method, context.path, accepted_scopes(route.dependant)))
    return found


def seed(http: httpx.Client, admin: Caller, subscriber: Caller) -> dict[str, str]:
    """Real objects, so that each request would otherwise reach its endpoint's work."""
    policy = expect(http.post(POLICIES, headers=admin.headers, json=commercial_plan("Kept")), 201)
    api = expect(http.post(f"{PUBLISHER}/apis", headers=admin.headers, json=new_api(policies=["Kept"])), 201)
    app = expect(http.post(f"{STORE}/applications", headers=subscriber.headers, json={"name": "Kept"}), 201)
    return {
        "policyId": policy["policyId"],
        "apiId": api["id"],
        "applicationId": app["applicationId"],
        # A body that cannot be kept is refused before any look-up: no real subscription needed.
        "subscriptionId": "any-subscription",
        "endpointId": "any-webhook-endpoint",
        "invoiceId": "any-invoice",
        "currency": "USD",
        "keyType": "PRODUCTION",
        "user_id": subscriber.user_id,
        "engineName": "ledger",
        "tenantDomain": "carbon.super",
    }


def headers_for(endpoint: Endpoint, callers: dict[str, Caller]) -> dict[str, str]:
    if endpoint.scopes is None:
        who = SELF_AUTHENTICATED[endpoint.path]
        if who == "anonymous":
            return {}
        if who == "basic-admin":
            return {"Authorization": "Basic " + base64.b64encode(b"admin:admin").decode()}
        return callers[who].headers
    for role in ("subscriber", "publisher", "admin"):  # the narrowest role allowed
        if callers[role].scopes & set(endpoint.scopes):
            return callers[role].headers
    raise AssertionError(f"{endpoint}: no test caller has one of {endpoint.scopes}")


def problems_with(
    response: httpx.Response, endpoint: Endpoint, shape: str, named: str, content_type: str
) -> list[str]:
    where = f"{endpoint} with {shape} as {content_type}"
    if response.status_code != 400:
        return [f"{where}: {response.status_code}, wanted 400: {response.text[:300]}"]
    try:
        body = response.json()
    except ValueError:
        return [f"{where}: the answer is not JSON: {response.text[:300]}"]
    if endpoint.scim:
        if body.get("schemas") != [ERROR_SCHEMA] or body.get("status") != "400":
            return [f"{where}: not a SCIM error message: {body}"]
        description = str(body.get("detail", ""))
    else:
        if set(body) != {"code", "message", "description"} or body["code"] != 400:
            return [f"{where}: not the usual error body: {body}"]
        description = str(body["description"])
    if named not in description.lower():
        return [f"{where}: the description does not say what is wrong ({named!r}): {description!r}"]
    return []


def test_every_json_endpoint_refuses_unstorable_json_with_a_400(
    runtime: Runtime, http: httpx.Client, identity: OrmIdentity
) -> None:
    endpoints = json_endpoints(runtime)
    assert len(endpoints) > 15, endpoints
    unknown = [str(e) for e in endpoints if e.scopes is None and e.path not in SELF_AUTHENTICATED]
    assert not unknown, f"JSON endpoints without a scope dependency: say who calls them: {unknown}"
    callers = {
        "admin": identity.login("admin"),
        "publisher": identity.user("pub", [ROLE_PUBLISHER]),
        "subscriber": identity.user("dev", [ROLE_SUBSCRIBER]),
    }
    ids = seed(http, callers["admin"], callers["subscriber"])
    config_before = expect(http.get(TENANT_CONFIG, headers=callers["admin"].headers), 200)
    failures: list[str] = []
    for endpoint in endpoints:
        path = endpoint.path
        for name, value in ids.items():
            path = path.replace("{" + name + "}", value)
        assert "{" not in path, f"{endpoint}: no id for its path"
        content_types = ["application/json"] + (["application/scim+json"] if endpoint.scim else [])
        for shape, (body, named) in SHAPES.items():
            for content_type in content_types:
                headers = headers_for(endpoint, callers) | {"Content-Type": content_type}
                try:
                    response = http.request(endpoint.method, path, content=body, headers=headers)
                except httpx.TransportError as exc:  # the server dropped the connection
                    failures.append(f"{endpoint} with {shape} as {content_type}: no answer: {exc!r}")
                    continue
                failures += problems_with(response, endpoint, shape, named, content_type)
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:40])
    # Nothing was stored on the way.
    assert expect(http.get(TENANT_CONFIG, headers=callers["admin"].headers), 200) == config_before


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/octet-stream"])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_scim_reads_its_body_itself_and_refuses_in_scim_shape(
    shape: str, content_type: str | None, http: httpx.Client, identity: OrmIdentity
) -> None:
    """SCIM parses whatever body it gets, not only bodies labelled JSON."""
    admin = identity.login("admin")
    user = identity.user("dev", [ROLE_SUBSCRIBER])
    body, named = SHAPES[shape]
    headers = admin.headers | ({"Content-Type": content_type} if content_type else {})
    for method, path in (("POST", "/scim2/Users"), ("PATCH", f"/scim2/Users/{user.user_id}")):
        endpoint = Endpoint(method, path, None)
        response = http.request(method, path, content=body, headers=headers)
        problems = problems_with(response, endpoint, shape, named, str(content_type))
        assert not problems, problems


@pytest.mark.parametrize("escaped", ["\\ud800", "x\\udc00", "\\x", "\\u12"])
def test_scim_filter_and_path_values_are_decoded_as_json_strings_or_refused(
    escaped: str, http: httpx.Client, identity: OrmIdentity
) -> None:
    """The quoted values of ``userName eq "..."`` and ``emails[value eq "..."]`` have JSON escapes."""
    admin = identity.login("admin")
    user = identity.user("dev", [ROLE_SUBSCRIBER])
    response = http.get("/scim2/Users", params={"filter": f'userName eq "{escaped}"'}, headers=admin.headers)
    assert response.status_code == 400, response.text
    assert response.json()["scimType"] == "invalidFilter", response.text
    operation = {"op": "remove", "path": f'emails[value eq "{escaped}"]'}
    body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [operation]}
    response = http.patch(f"/scim2/Users/{user.user_id}", json=body, headers=admin.headers)
    assert response.status_code == 400, response.text
    assert response.json()["scimType"] == "invalidPath", response.text


def test_the_lone_surrogate_of_the_issue_is_not_stored_in_the_tenant_config(
    http: httpx.Client, admin: Caller
) -> None:
    before = expect(http.get(TENANT_CONFIG, headers=admin.headers), 200)
    response = http.put(
        TENANT_CONFIG,
        content=b'{"name":"\\ud800x"}',
        headers=admin.headers | {"Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["description"].startswith("'name': ")
    assert expect(http.get(TENANT_CONFIG, headers=admin.headers), 200) == before


def test_surrogate_pairs_and_reasonable_nesting_are_still_accepted(http: httpx.Client, admin: Caller) -> None:
    nested: Any = "bottom"
    for _ in range(MAX_JSON_DEPTH - 1):
        nested = {"level": nested}
    document = {"emoji": "\U0001f600 caf\u00e9", "deep": nested, "brackets": "[[[[{{{{" * 50}
    text = json.dumps(document)  # ASCII: the emoji travels as the pair "\ud83d\ude00"
    assert "\\ud83d\\ude00" in text
    response = http.put(
        TENANT_CONFIG, content=text.encode(), headers=admin.headers | {"Content-Type": "application/json"}
    )
    assert expect(response, 200)["emoji"] == "\U0001f600 caf\u00e9"
    stored = expect(http.get(TENANT_CONFIG, headers=admin.headers), 200)
    assert stored["deep"] == nested and stored["brackets"] == document["brackets"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"a": {"b": ["\\ud800"]}}', "'a.b[0]': "),
        ('{"a": [{"\\udfff": 1}]}', "'a[0]': a field name "),
        ('"\\ud800"', "'body': "),
        ("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), f"deeper than {MAX_JSON_DEPTH}"),
    ],
)
def test_the_refusal_names_the_field(text: str, problem: str) -> None:
    with pytest.raises(JsonRefused) as refused:
        decode_json(text.encode())
    assert problem in str(refused.value)


@pytest.mark.parametrize(
    "text",
    [
        "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH,
        json.dumps({"a": "[" * 5000, "b": '\\"[[[' * 100}),
        '"\\\\ud800"',  # an escaped backslash, then the letters "ud800"
        '{"pair": "\\ud83d\\ude00"}',
    ],
)
def test_what_is_fine_is_decoded_as_json_does(text: str) -> None:
    assert decode_json(text.encode()) == json.loads(text)
    assert decode_json(text.encode("utf-16")) == json.loads(text)
