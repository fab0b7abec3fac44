"""Portal sign-in over real HTTP: cookie flags, CSRF, tampering, roles, redirects, static files."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from tests.portals.helpers import add_user
from tests.support.servers import ServerThread
from tollway.db.session import transaction
from tollway.identity.roles import ROLE_SUBSCRIBER
from tollway.models import SubscriptionPolicy, User
from tollway.portals.sessions import COOKIE_NAME
from tollway.runtime import Runtime
from tollway.security.hashing import hash_password
from tollway.web.app import create_app
from tollway.wiring import create_runtime


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


@pytest.fixture
def client(live_server: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, follow_redirects=False, timeout=10) as http:
        yield http


def sign_in(client: httpx.Client, portal: str, username: str, password: str) -> httpx.Response:
    page = client.get(f"/{portal}/login")
    return client.post(
        f"/{portal}/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(page.text), "next": ""},
    )


def test_session_cookie_is_httponly_lax_and_rotates_at_sign_in(client: httpx.Client) -> None:
    page = client.get("/admin/login")
    cookie = page.headers["set-cookie"]
    assert COOKIE_NAME in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    before = csrf_of(page.text)
    answer = sign_in(client, "admin", "admin", "admin")
    assert answer.status_code == 303 and answer.headers["location"] == "/admin"
    after = csrf_of(client.get("/admin/plans").text)
    assert after != before


def test_sign_in_without_csrf_token_is_refused(client: httpx.Client) -> None:
    client.get("/admin/login")
    answer = client.post("/admin/login", data={"username": "admin", "password": "admin"})
    assert answer.status_code == 403
    assert "This form has expired" in answer.text
    assert client.get("/admin/plans").status_code == 303  # still signed out


def test_state_change_with_a_wrong_csrf_token_writes_nothing(client: httpx.Client, runtime: Runtime) -> None:
    sign_in(client, "admin", "admin", "admin")
    form = {
        "csrf_token": "forged-token-forged-token",
        "policyName": "Forged",
        "billingPlan": "FREE",
        "requestCount": "10",
    }
    answer = client.post("/admin/plans/new", data=form)
    assert answer.status_code == 403
    with transaction(runtime.session_factory) as db:
        assert db.scalar(select(SubscriptionPolicy).where(SubscriptionPolicy.name == "Forged")) is None
    # the same form with the page's token goes through: the refusal above was the token's doing
    form["csrf_token"] = csrf_of(client.get("/admin/plans/new").text)
    assert client.post("/admin/plans/new", data=form).status_code == 303


def test_htmx_requests_carry_the_token_in_a_header(client: httpx.Client) -> None:
    sign_in(client, "admin", "admin", "admin")
    token = csrf_of(client.get("/admin/monetization").text)
    refused = client.post("/admin/monetization/publish-usage", headers={"HX-Request": "true"})
    assert refused.status_code == 403
    accepted = client.post(
        "/admin/monetization/publish-usage", headers={"HX-Request": "true", "X-CSRF-Token": token}
    )
    assert accepted.status_code == 200
    assert 'id="publish-status"' in accepted.text


def test_tampered_cookie_is_a_signed_out_visitor(client: httpx.Client) -> None:
    sign_in(client, "admin", "admin", "admin")
    value = client.cookies[COOKIE_NAME]
    client.cookies.set(COOKIE_NAME, value[:-4] + ("AAAA" if not value.endswith("AAAA") else "BBBB"))
    answer = client.get("/admin/plans")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/admin/login")


def test_another_instance_key_does_not_accept_the_cookie(
    client: httpx.Client, runtime: Runtime, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The signing key comes from the instance's master key, not from a constant in the code."""
    sign_in(client, "admin", "admin", "admin")
    other_dir = tmp_path_factory.mktemp("other-instance")
    settings = runtime.settings.model_copy(
        update={"server": runtime.settings.server.model_copy(update={"data_dir": other_dir})}
    )
    other = create_runtime(settings)
    try:
        with ServerThread(create_app(other)) as server:
            cookie = {COOKIE_NAME: client.cookies[COOKIE_NAME]}
            answer = httpx.get(f"{server.url}/admin/plans", cookies=cookie, follow_redirects=False)
            assert answer.status_code == 303 and "/admin/login" in answer.headers["location"]
    finally:
        other.close()


def test_password_change_ends_existing_sessions(client: httpx.Client, runtime: Runtime) -> None:
    add_user(runtime, "carol", "first-pass", ROLE_SUBSCRIBER)
    sign_in(client, "devportal", "carol", "first-pass")
    assert client.get("/devportal/applications").status_code == 200
    with transaction(runtime.session_factory) as db:
        user = db.scalars(select(User).where(User.username == "carol")).one()
        user.password_hash = hash_password("second-pass")
    assert client.get("/devportal/applications").status_code == 303


def test_roles_decide_which_portal_opens(client: httpx.Client, runtime: Runtime) -> None:
    add_user(runtime, "sam", "sam-pass", ROLE_SUBSCRIBER)
    assert sign_in(client, "admin", "sam", "sam-pass").status_code == 303
    admin = client.get("/admin/plans")
    assert admin.status_code == 403
    assert "The admin portal is for administrators" in admin.text
    assert "Traceback" not in admin.text
    assert client.get("/publisher/apis").status_code == 403
    assert client.get("/devportal/applications").status_code == 200


def test_sign_out_needs_the_token_and_ends_the_session(client: httpx.Client) -> None:
    sign_in(client, "admin", "admin", "admin")
    page = client.get("/admin/plans")
    assert client.post("/admin/logout").status_code == 403
    out = client.post("/admin/logout", data={"csrf_token": csrf_of(page.text)})
    assert out.status_code == 303 and out.headers["location"] == "/admin/login"
    assert client.get("/admin/plans").status_code == 303


def test_next_parameter_never_leaves_the_portal(client: httpx.Client) -> None:
    page = client.get("/admin/login", params={"next": "//evil.example/x"})
    answer = client.post(
        "/admin/login",
        data={
            "username": "admin",
            "password": "admin",
            "csrf_token": csrf_of(page.text),
            "next": "//evil.example",
        },
    )
    assert answer.headers["location"] == "/admin"


def test_root_redirects_to_the_developer_portal(client: httpx.Client) -> None:
    answer = client.get("/")
    assert answer.status_code in (302, 303, 307) and answer.headers["location"] == "/devportal"


def test_static_files_are_served_from_the_package_only(client: httpx.Client) -> None:
    htmx = client.get("/portal-static/htmx.min.js")
    assert htmx.status_code == 200 and htmx.headers["content-type"].startswith("text/javascript")
    assert "htmx" in htmx.text[:2000]
    css = client.get("/portal-static/tollway.css")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]
    assert client.get("/portal-static/..%2Fsessions.py").status_code == 404
    assert client.get("/portal-static/htmx.LICENSE").status_code == 404


def test_unknown_portal_addresses_are_pages_and_pages_refuse_framing(client: httpx.Client) -> None:
    sign_in(client, "admin", "admin", "admin")
    for path in ("/admin/nothing-here", "/publisher/apis/x/y/z", "/devportal/zzz"):
        answer = client.get(path)
        assert answer.status_code == 404
        assert answer.headers["content-type"].startswith("text/html")
        assert "There is nothing here, or it is not yours." in answer.text
    page = client.get("/admin/plans")
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
