"""Steps and seed rows shared by the portal tests."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from sqlalchemy import select

from tollway.db.session import transaction
from tollway.models import DEFAULT_TENANT, Tenant, User, UserRole
from tollway.runtime import Runtime
from tollway.security.hashing import hash_password


def sign_in(page: Page, base: str, portal: str, username: str, password: str) -> None:
    page.goto(f"{base}/{portal}/login")
    page.fill("#f-username", username)
    page.fill("#f-password", password)
    page.click("form.stack button[type=submit]")
    expect(page.get_by_test_id("signed-in-as")).to_be_visible()


def sign_out(page: Page) -> None:
    page.click("text=Sign out")
    expect(page.get_by_test_id("signed-in-as")).to_have_count(0)


_HASHES: dict[str, str] = {}  # argon2 is slow on purpose; tests reuse each password's hash


def add_user(runtime: Runtime, name: str, password: str, *roles: str, tenant: str = DEFAULT_TENANT) -> str:
    """A user made directly in the database (the identity API is tested by its own tests)."""
    with transaction(runtime.session_factory) as db:
        row = db.scalar(select(Tenant).where(Tenant.domain == tenant))
        if row is None:
            row = Tenant(domain=tenant, config={})
            db.add(row)
            db.flush()
        if password not in _HASHES:
            _HASHES[password] = hash_password(password)
        user = User(tenant_id=row.id, username=name, password_hash=_HASHES[password])
        user.roles.extend(UserRole(role=r) for r in roles)
        db.add(user)
        db.flush()
        return user.id


def no_horizontal_scroll(page: Page) -> bool:
    width: int = page.evaluate("document.documentElement.scrollWidth")
    viewport: int = page.evaluate("window.innerWidth")
    return width <= viewport
