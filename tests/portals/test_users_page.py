"""The admin portal's Users page: the tenant's users listed, created, given roles, locked and
unlocked with SCIM's rules; another tenant's admin neither sees nor touches them."""

from __future__ import annotations

import html

import pytest

from tests.portals.test_pages_http import Browser, People, people
from tests.portals.world import PASSWORDS, World, seed
from tests.support.servers import ServerThread
from tollway.db.session import transaction
from tollway.models import User
from tollway.runtime import Runtime

__all__ = ["people"]


@pytest.fixture
def world(runtime: Runtime) -> World:
    return seed(runtime)


def user(runtime: Runtime, name: str, domain: str = "carbon.super") -> User | None:
    with transaction(runtime.session_factory) as db:
        for found in db.query(User).filter_by(username=name):  # roles and tenant load with it
            if found.tenant.domain == domain:
                db.expunge(found)
                return found
    return None


def can_sign_in(base: str, portal: str, login: str, password: str) -> bool:
    person = Browser(base)
    try:
        person.get(f"/{portal}/login")
        return person.post(f"/{portal}/login", username=login, password=password, next="").status_code == 303
    finally:
        person.close()


def test_an_admin_creates_a_user_and_sets_their_roles(
    people: People, runtime: Runtime, live_server: ServerThread
) -> None:
    admin = people["admin"]
    page = admin.get("/admin/users")
    assert page.status_code == 200
    for name in ("admin", "pat", "sue", "tom"):
        assert f">{name}" in page.text
    assert "olga" not in page.text  # another tenant's

    short = admin.post(
        "/admin/users", username="carol", password="short", email="", roles="Internal/subscriber"
    )
    assert short.status_code == 400 and "Password" in html.unescape(short.text)
    assert 'value="carol"' in short.text  # what was typed is kept
    taken = admin.post("/admin/users", username="sue", password="long-enough-1", roles="Internal/subscriber")
    assert taken.status_code == 400 and "already exists" in html.unescape(taken.text)
    made = admin.post(
        "/admin/users",
        username="carol",
        password="carol-password",
        email="carol@example.com",
        roles="Internal/subscriber",
    )
    assert made.status_code == 303
    assert "User carol was created." in admin.get("/admin/users").text
    carol = user(runtime, "carol")
    assert carol is not None and carol.email == "carol@example.com"
    assert carol.role_names == {"Internal/subscriber"}
    assert can_sign_in(live_server.url, "devportal", "carol", "carol-password")

    admin.get("/admin/users")
    assert admin.post(f"/admin/users/{carol.id}/roles", roles="Internal/publisher").status_code == 303
    changed = user(runtime, "carol")
    assert changed is not None and changed.role_names == {"Internal/publisher"}
    assert can_sign_in(live_server.url, "publisher", "carol", "carol-password")


def test_locking_a_user_stops_them_and_an_admin_cannot_lock_themselves(
    people: People, runtime: Runtime, live_server: ServerThread
) -> None:
    admin = people["admin"]
    tom, me = user(runtime, "tom"), user(runtime, "admin")
    assert tom is not None and me is not None
    admin.get("/admin/users")
    assert admin.post(f"/admin/users/{tom.id}/active", active="false").status_code == 303
    assert "User tom was locked" in admin.get("/admin/users").text
    locked = user(runtime, "tom")
    assert locked is not None and not locked.active
    assert not can_sign_in(live_server.url, "devportal", "tom", PASSWORDS["tom"])
    assert admin.post(f"/admin/users/{tom.id}/active", active="true").status_code == 303
    assert can_sign_in(live_server.url, "devportal", "tom", PASSWORDS["tom"])

    assert admin.post(f"/admin/users/{me.id}/active", active="false").status_code == 303
    assert "you cannot lock your own account" in html.unescape(admin.get("/admin/users").text)
    assert admin.post(f"/admin/users/{me.id}/roles", roles="Internal/publisher").status_code == 303
    assert "admin role from your own account" in html.unescape(admin.get("/admin/users").text)
    still = user(runtime, "admin")
    assert still is not None and still.active and "admin" in still.role_names


def test_another_tenants_admin_cannot_touch_the_users(
    world: World, runtime: Runtime, live_server: ServerThread
) -> None:
    olga = Browser(live_server.url)
    try:
        olga.sign_in("admin", "olga@other.example", PASSWORDS["olga"])
        tom = user(runtime, "tom")
        assert tom is not None
        assert "tom" not in olga.get("/admin/users").text.split("<main")[1]
        assert olga.post(f"/admin/users/{tom.id}/active", active="false").status_code == 404
        assert olga.post(f"/admin/users/{tom.id}/roles", roles="admin").status_code == 404
    finally:
        olga.close()
    after = user(runtime, "tom")
    assert after is not None and after.active and after.role_names == {"Internal/subscriber"}
