"""Portal pages over real HTTP (every selected database): ownership, errors in words, no leaks."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, text

from tests.billing.conftest import use_engine
from tests.portals.world import PASSWORDS, World, principal, seed
from tests.support.servers import ServerThread
from tollway.bootstrap import ensure_default_tenant
from tollway.config import load_settings
from tollway.db import migrate
from tollway.db.session import transaction
from tollway.models import Api, Subscription
from tollway.publishing import jobs, locks
from tollway.runtime import Runtime
from tollway.tenants.service import monetization_info
from tollway.web.app import create_app
from tollway.wiring import create_runtime

NOT_YOURS = "There is nothing here, or it is not yours."
LEAKS = ("Traceback", 'File "', "sqlalchemy", "Error:", "Exception")


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def main_of(html: str) -> str:
    found = re.search(r"<main>(.*)</main>", html, re.S)
    assert found
    return found.group(1)


class Browser:
    """A person's HTTP session: cookies, and the CSRF token of the last page seen."""

    def __init__(self, base: str) -> None:
        self.http = httpx.Client(base_url=base, follow_redirects=False, timeout=15)
        self.token = ""

    def get(self, path: str, *, follow: bool = False) -> httpx.Response:
        answer = self.http.get(path, follow_redirects=follow)
        if 'name="csrf_token"' in answer.text:
            self.token = csrf_of(answer.text)
        return answer

    def post(self, path: str, **form: str) -> httpx.Response:
        return self.http.post(path, data={"csrf_token": self.token, **form})

    def sign_in(self, portal: str, username: str, password: str) -> None:
        self.get(f"/{portal}/login")
        answer = self.post(f"/{portal}/login", username=username, password=password, next="")
        assert answer.status_code == 303, answer.text
        assert self.get(f"/{portal}", follow=True).status_code == 200

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def world(runtime: Runtime) -> World:
    return seed(runtime)


SIGN_INS = {
    "sue": ("devportal", "sue"),
    "tom": ("devportal", "tom"),
    "pat": ("publisher", "pat"),
    "olga": ("publisher", "olga@other.example"),
    "admin": ("admin", "admin"),
}


class People(dict[str, Browser]):
    """The seeded people, each signed in on first use."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base

    def __missing__(self, name: str) -> Browser:
        portal, login = SIGN_INS[name]
        person = Browser(self.base)
        person.sign_in(portal, login, PASSWORDS.get(name, "admin"))
        self[name] = person
        return person


@pytest.fixture
def people(live_server: ServerThread, world: World) -> Iterator[People]:
    signed = People(live_server.url)
    yield signed
    for person in signed.values():
        person.close()


def test_another_partys_objects_answer_exactly_like_missing_ones(people: People, world: World) -> None:
    tom, olga = people["tom"], people["olga"]
    missing = str(uuid.uuid4())
    pairs = [
        (
            tom,
            f"/devportal/subscriptions/{world.subs['sue']}/invoice",
            f"/devportal/subscriptions/{missing}/invoice",
        ),
        (tom, f"/devportal/subscriptions/{world.subs['sue']}", f"/devportal/subscriptions/{missing}"),
        (tom, f"/devportal/applications/{world.apps['sue']}", f"/devportal/applications/{missing}"),
        (olga, f"/publisher/apis/{world.api_id}", f"/publisher/apis/{missing}"),
        (olga, f"/publisher/apis/{world.api_id}/revenue", f"/publisher/apis/{missing}/revenue"),
        (olga, f"/admin/plans/{missing}", "/admin/plans/not%00an-id"),
    ]
    for person, theirs, nobodys in pairs:
        a, b = person.get(theirs), person.get(nobodys)
        assert a.status_code == b.status_code == 404, (theirs, a.status_code, b.status_code)
        assert main_of(a.text) == main_of(b.text)
        assert NOT_YOURS in a.text


def test_a_publisher_sees_only_invoices_of_their_own_apis_subscriptions(
    people: People, world: World, runtime: Runtime
) -> None:
    pat = people["pat"]
    own = pat.get(f"/publisher/apis/{world.api_id}/subscriptions/{world.subs['sue']}/invoice")
    assert own.status_code == 200 and "10.00" in own.text
    # The same subscription under another API id of the same publisher: not found.
    with transaction(runtime.session_factory) as db:
        other_api = db.scalar(select(Api.id).where(Api.id != world.api_id))
    assert other_api is None  # only one API in this world; a made-up id must not find it either
    assert (
        pat.get(f"/publisher/apis/{uuid.uuid4()}/subscriptions/{world.subs['sue']}/invoice").status_code
        == 404
    )


def test_writes_on_another_partys_objects_change_nothing(
    people: People, world: World, runtime: Runtime
) -> None:
    tom, olga = people["tom"], people["olga"]
    assert tom.post(f"/devportal/subscriptions/{world.subs['sue']}/delete").status_code == 404
    assert tom.post(f"/devportal/applications/{world.apps['sue']}/keys").status_code == 404
    subscribed = tom.post(
        f"/devportal/apis/{world.api_id}/subscribe",
        applicationId=world.apps["sue"],
        throttlingPolicy="Bronze",
    )
    assert subscribed.status_code == 404
    assert olga.post(f"/publisher/apis/{world.api_id}/monetization").status_code == 404
    assert olga.post(f"/publisher/apis/{world.api_id}/lifecycle", action="Block").status_code == 404
    with transaction(runtime.session_factory) as db:
        api = db.get(Api, world.api_id)
        assert api is not None and api.monetization_enabled and api.lifecycle_status == "PUBLISHED"
        assert db.get(Subscription, world.subs["sue"]) is not None
        assert len(list(db.scalars(select(Subscription)))) == 2


def test_refused_forms_say_why_in_words_and_keep_what_was_typed(people: People) -> None:
    admin, pat, tom = people["admin"], people["pat"], people["tom"]
    admin.get("/admin/plans/new")
    duplicate = admin.post("/admin/plans/new", policyName="Gold", billingPlan="FREE", requestCount="5")
    assert duplicate.status_code == 400
    assert "already exists" in duplicate.text and 'value="Gold"' in duplicate.text

    admin.get("/admin/plans/new")
    bad = admin.post(
        "/admin/plans/new",
        policyName="Paid2",
        billingPlan="COMMERCIAL",
        monetizationPlan="FixedRate",
        fixedPrice="ten",
        currencyType="USD",
        requestCount="many",
    )
    assert bad.status_code == 400 and "Request count must be a whole number" in bad.text

    pat.get("/publisher/apis/new")
    api = pat.post("/publisher/apis/new", name="Bad", context="/bad", version="1", endpoint="ftp://nowhere")
    assert api.status_code == 400 and "Production endpoint" in api.text

    tom.get("/devportal/applications")
    twice = tom.post("/devportal/applications", name="tom-app")
    assert twice.status_code == 400 and "already have an application named" in twice.text
    for answer in (duplicate, bad, api, twice):
        assert not any(leak in answer.text for leak in LEAKS), answer.text


def test_publishing_while_a_job_runs_is_refused_inline(people: People, runtime: Runtime) -> None:
    admin = people["admin"]
    admin.get("/admin/monetization")
    holder = locks.new_holder()
    assert locks.acquire(runtime.session_factory, jobs.LOCK, holder, jobs.LEASE)
    try:
        answer = admin.http.post(
            "/admin/monetization/publish-usage", headers={"HX-Request": "true", "X-CSRF-Token": admin.token}
        )
    finally:
        locks.release(runtime.session_factory, jobs.LOCK, holder)
    assert answer.status_code == 200
    assert "already running" in answer.text and 'id="publish-status"' in answer.text


def test_an_unexpected_failure_is_a_sentence_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database that lost a table (a real fault, on a private SQLite file) behind the admin page."""
    monkeypatch.setenv("TOLLWAY_ADMIN_PASSWORD", "admin")
    settings = load_settings(None, environ={}, overrides={"server": {"data_dir": str(tmp_path / "data")}})
    runtime = create_runtime(settings)
    try:
        migrate.upgrade(runtime.engine)
        with transaction(runtime.session_factory) as db:
            ensure_default_tenant(db, "127.0.0.1")
        with runtime.engine.begin() as conn:
            conn.execute(text("DROP TABLE usage_publish_jobs"))
        with ServerThread(create_app(runtime)) as server:
            person = Browser(server.url)
            person.sign_in("admin", "admin", "admin")
            answer = person.get("/admin/monetization")
            person.close()
    finally:
        runtime.close()
    assert answer.status_code == 500
    assert "Something went wrong on our side" in answer.text
    assert not any(leak in answer.text for leak in (*LEAKS, "usage_publish_jobs", "no such table"))


def test_the_engines_keys_are_write_only(people: People, runtime: Runtime) -> None:
    use_engine(runtime, "stripe")
    admin = people["admin"]
    page = admin.get("/admin/monetization")
    assert "Not set" in page.text and "Stripe webhook signing secret" in page.text
    saved = admin.post(
        "/admin/monetization/settings", key_BillingEnginePlatformAccountKey="sk_test_portal_secret_123"
    )
    assert saved.status_code == 303
    page = admin.get("/admin/monetization")
    assert "A key is set" in page.text and "sk_test_portal_secret_123" not in page.text
    tenant_id = principal(runtime, "admin").tenant_id
    with transaction(runtime.session_factory) as db:
        stored = monetization_info(db, runtime.secrets, tenant_id)
    assert stored == {"BillingEnginePlatformAccountKey": "sk_test_portal_secret_123"}
    cleared = admin.post("/admin/monetization/settings", clear_BillingEnginePlatformAccountKey="on")
    assert cleared.status_code == 303
    with transaction(runtime.session_factory) as db:
        assert monetization_info(db, runtime.secrets, tenant_id) == {}


def test_the_ledger_asks_the_admin_for_no_key(people: People) -> None:
    page = people["admin"].get("/admin/monetization")
    assert page.status_code == 200
    assert "needs no keys" in page.text
    assert "BillingEnginePlatformAccountKey" not in page.text and 'type="password"' not in page.text


def test_the_stripe_engine_asks_publishers_for_their_connected_account_unconfigured(
    people: People, runtime: Runtime, world: World
) -> None:
    unconfigured = runtime.settings.monetization.model_copy(update={"additional_attributes": []})
    runtime.settings = runtime.settings.model_copy(update={"monetization": unconfigured})
    use_engine(runtime, "stripe")
    page = people["pat"].get(f"/publisher/apis/{world.api_id}/monetization")
    assert page.status_code == 200
    assert 'name="prop_ConnectedAccountKey"' in page.text


def test_each_portal_opens_with_or_without_a_trailing_slash(people: People) -> None:
    for name, portal, landing in (
        ("tom", "devportal", "/devportal/apis"),
        ("pat", "publisher", "/publisher/apis"),
    ):
        for path in (f"/{portal}", f"/{portal}/"):
            answer = people[name].http.get(path, follow_redirects=True)
            assert answer.status_code == 200, (path, answer.status_code)
            assert answer.url.path == landing
