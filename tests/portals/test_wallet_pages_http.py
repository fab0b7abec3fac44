"""The wallet pages over real HTTP (every selected database): credits from the admin portal's form,
refusals under the field they are about, and each subscriber seeing only their own wallets."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from tests.portals.test_pages_http import LEAKS, NOT_YOURS, Browser, People, main_of
from tests.portals.world import PASSWORDS, World, principal, seed
from tests.support.servers import ServerThread
from tollway.db.session import transaction
from tollway.models import SubscriptionPolicy, Wallet, WalletEntry
from tollway.portals import services
from tollway.runtime import Runtime


@pytest.fixture
def world(runtime: Runtime) -> World:
    return seed(runtime)


@pytest.fixture
def people(live_server: ServerThread, world: World) -> Iterator[People]:
    signed = People(live_server.url)
    yield signed
    for person in signed.values():
        person.close()


@pytest.fixture
def sue(live_server: ServerThread, world: World) -> Iterator[Browser]:
    person = Browser(live_server.url)
    person.sign_in("devportal", "sue", PASSWORDS["sue"])
    yield person
    person.close()


def counts(runtime: Runtime) -> tuple[int, int]:
    with transaction(runtime.session_factory) as db:
        wallets = db.scalar(select(func.count()).select_from(Wallet)) or 0
        entries = db.scalar(select(func.count()).select_from(WalletEntry)) or 0
    return wallets, entries


def field_error(page: str, name: str) -> str:
    found = re.search(rf'data-testid="error-{name}">([^<]*)<', page)
    assert found, f"no error under {name}"
    return html.unescape(found.group(1)).lower()


def grant(runtime: Runtime, owner: str, amount: str, reason: str, currency: str = "USD") -> str:
    with transaction(runtime.session_factory) as db:
        made = services.credit(
            db,
            principal(runtime, "admin"),
            {"owner": owner, "currency": currency, "amount": amount, "kind": "GRANT", "reason": reason},
        )
    wallet_id: str = made["wallet"]["walletId"]
    return wallet_id


CREDIT = {"owner": "sue", "currency": "USD", "amount": "5.00", "kind": "GRANT", "reason": "Welcome credit"}


def test_an_admin_credit_shows_in_the_subscribers_wallet(
    people: People, sue: Browser, runtime: Runtime
) -> None:
    admin = people["admin"]
    form = admin.get("/admin/wallets/credit")
    assert form.status_code == 200 and 'name="reference" value="portal:' in form.text
    answer = admin.post("/admin/wallets/credit", **CREDIT)
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert re.fullmatch(r"/admin/wallets/[0-9a-f-]+", location)
    detail = admin.get(location)
    assert "was credited to sue" in detail.text and "The new balance is 5.00 USD." in detail.text
    assert '<strong data-testid="wallet-balance">5.00</strong>' in detail.text
    assert "Welcome credit" in detail.text and "admin" in main_of(detail.text)
    listed = admin.get("/admin/wallets")
    assert location in listed.text and "5.00 USD" in listed.text

    page = sue.get("/devportal/wallets")
    assert page.status_code == 200
    assert '<strong data-testid="balance-USD">5.00</strong>' in page.text
    assert "Welcome credit" in page.text and "+5.00 USD" in page.text
    back = sue.get("/devportal/wallets?top-up=paid")  # where Stripe Checkout sends a buyer back
    assert back.status_code == 200 and 'data-testid="top-up-note"' in back.text
    assert 'data-testid="top-up-note"' not in sue.get("/devportal/wallets?top-up=<b>").text
    for path in ("/devportal/wallets/USD", "/devportal/wallets/usd"):
        own = sue.get(path)
        assert own.status_code == 200 and "Welcome credit" in own.text
    assert counts(runtime) == (1, 1)


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"amount": "abc"}, "amount", "must be a decimal number"),
        ({"amount": "-1"}, "amount", "must be more than 0 (only an adjustment may be negative)"),
        ({"amount": "1.5.0"}, "amount", "not a decimal number: '1.5.0'"),
        ({"amount": "1e3"}, "amount", "must be written as digits and a decimal point"),
        ({"amount": "0.0000000000001"}, "amount", "at most 12 decimal places"),
        ({"amount": "0"}, "amount", "must not be 0"),
        ({"amount": ""}, "amount", "amount is required"),
        ({"currency": "XYZ"}, "currency", "not an ISO 4217 currency code"),
        ({"owner": "nobody"}, "owner", "no user 'nobody' in this tenant"),
        ({"owner": "olga"}, "owner", "no user 'olga' in this tenant"),
        ({"reason": ""}, "reason", "reason is required"),
        ({"expiresAt": "2001-01-01"}, "expiresAt", "must be in the future"),
        ({"expiresAt": "soon"}, "expiresAt", "must be a date"),
        ({"kind": "TOP_UP", "expiresAt": "2999-01-01"}, "expiresAt", "only a grant may expire"),
    ],
)
def test_a_refused_credit_says_why_under_its_field_and_changes_nothing(
    people: People, runtime: Runtime, changes: dict[str, str], field: str, words: str
) -> None:
    admin = people["admin"]
    admin.get("/admin/wallets/credit")
    answer = admin.post("/admin/wallets/credit", **(CREDIT | changes))
    assert answer.status_code == 400
    assert words.lower() in field_error(answer.text, field)
    assert f'id="f-{field}" name="{field}"' in answer.text and 'aria-invalid="true"' in answer.text
    assert "correct the field marked below" in answer.text  # one field each here
    for name, value in (CREDIT | changes).items():
        if name != "kind" and value:
            assert f'value="{value}"' in answer.text  # what was typed is kept
    assert not any(leak in answer.text for leak in LEAKS)
    assert counts(runtime) == (0, 0)


def test_the_same_form_sent_twice_credits_once(people: People, runtime: Runtime) -> None:
    admin = people["admin"]
    admin.get("/admin/wallets/credit")
    reference = f"portal:{uuid.uuid4().hex}"
    first = admin.post("/admin/wallets/credit", **CREDIT, reference=reference)
    again = admin.post("/admin/wallets/credit", **CREDIT, reference=reference)
    assert first.status_code == again.status_code == 303
    assert "already recorded" in admin.get(again.headers["location"]).text
    assert counts(runtime) == (1, 1)


def test_a_subscriber_sees_only_their_own_wallets(
    people: People, sue: Browser, runtime: Runtime, world: World
) -> None:
    grant(runtime, "sue", "7.50", "Sue's private credit")
    tom = people["tom"]
    page = tom.get("/devportal/wallets")
    assert page.status_code == 200
    assert 'data-testid="no-wallets"' in page.text and "ask them for credit" in page.text
    assert "Sue" not in main_of(page.text) and "7.50" not in page.text
    theirs, nobodys, bad = (tom.get(f"/devportal/wallets/{c}") for c in ("USD", "EUR", "X%00Y"))
    assert theirs.status_code == nobodys.status_code == bad.status_code == 404
    assert main_of(theirs.text) == main_of(nobodys.text) == main_of(bad.text)
    assert NOT_YOURS in theirs.text and "7.50" not in theirs.text
    # The catalog marks plans paid from a wallet; the page's empty state points there.
    assert 'data-testid="prepaid-' not in tom.get(f"/devportal/apis/{world.api_id}").text
    with transaction(runtime.session_factory) as db:
        plan = db.scalar(select(SubscriptionPolicy).where(SubscriptionPolicy.name == "Gold Paid"))
        assert plan is not None
        plan.billing_mode = "PREPAID"
    catalog = tom.get(f"/devportal/apis/{world.api_id}").text
    assert 'data-testid="prepaid-Gold Paid"' in catalog and 'data-testid="prepaid-Bronze"' not in catalog


def test_wallet_admin_pages_are_the_tenants_admins_only(
    people: People, sue: Browser, runtime: Runtime
) -> None:
    wallet_id = grant(runtime, "sue", "5.00", "Welcome credit")
    olga = Browser(people.base)
    olga.sign_in("admin", "olga@other.example", PASSWORDS["olga"])
    try:
        assert "sue" not in main_of(olga.get("/admin/wallets").text)
        theirs, nobodys = olga.get(f"/admin/wallets/{wallet_id}"), olga.get(f"/admin/wallets/{uuid.uuid4()}")
        assert theirs.status_code == nobodys.status_code == 404
        assert main_of(theirs.text) == main_of(nobodys.text)
        olga.get("/admin/wallets/credit")
        refused = olga.post("/admin/wallets/credit", **CREDIT)
        assert refused.status_code == 400 and "no user 'sue'" in field_error(refused.text, "owner")
    finally:
        olga.close()
    # A subscriber is no admin; a form without this session's CSRF token is refused.
    assert sue.get("/admin/wallets").status_code in (303, 403)
    admin = people["admin"]
    admin.get("/admin/wallets/credit")
    forged = admin.http.post("/admin/wallets/credit", data=CREDIT)
    assert forged.status_code == 403
    assert counts(runtime) == (1, 1)
