"""The publisher portal's Wallets page over real HTTP (every selected database): a publisher grants
credit to a subscriber (reason, optional expiry), refusals under their field, the same form sent
twice grants once, and only the tenant's subscribers' wallets are listed, to the tenant's publishers."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from tests.portals.test_pages_http import LEAKS, People, main_of
from tests.portals.world import World, principal, seed
from tests.support.servers import ServerThread
from tollway.db.session import transaction
from tollway.models import Wallet, WalletEntry
from tollway.portals import services
from tollway.runtime import Runtime

GRANT = {"owner": "sue", "currency": "USD", "amount": "5.00", "reason": "Launch week credit"}


@pytest.fixture
def world(runtime: Runtime) -> World:
    return seed(runtime)


@pytest.fixture
def people(live_server: ServerThread, world: World) -> Iterator[People]:
    signed = People(live_server.url)
    yield signed
    for person in signed.values():
        person.close()


def counts(runtime: Runtime) -> tuple[int, int]:
    with transaction(runtime.session_factory) as db:
        wallets = db.scalar(select(func.count()).select_from(Wallet)) or 0
        made = db.scalar(select(func.count()).select_from(WalletEntry)) or 0
    return wallets, made


def field_error(page: str, name: str) -> str:
    found = re.search(rf'data-testid="error-{name}">([^<]*)<', page)
    assert found, f"no error under {name}"
    return html.unescape(found.group(1)).lower()


def flash_of(page: str) -> str:
    found = re.search(r'<p class="notice" role="status">([^<]*)<', page)
    assert found, "no notice on the page"
    return html.unescape(found.group(1))


def test_a_publisher_grants_credit_that_the_subscriber_sees(people: People, runtime: Runtime) -> None:
    pat = people["pat"]
    listed = pat.get("/publisher/wallets")
    assert listed.status_code == 200
    assert '<a href="/publisher/wallets" aria-current="page">Wallets</a>' in listed.text
    assert 'data-testid="no-wallets"' in listed.text
    form = pat.get("/publisher/wallets/grant")
    assert form.status_code == 200 and 'name="reference" value="portal:' in form.text
    answer = pat.post("/publisher/wallets/grant", **GRANT, expiresAt="2999-01-01")
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/publisher/wallets"
    after = pat.get("/publisher/wallets").text
    assert flash_of(after) == "5.00 USD was granted to sue. Their balance is 5.00 USD."
    assert re.search(r'data-testid="balance-sue-USD">5\.00 USD<', after)
    assert 'href="/publisher/wallets/grant?owner=sue&amp;currency=USD"' in after

    sue = people["sue"].get("/devportal/wallets").text
    assert '<strong data-testid="balance-USD">5.00</strong>' in sue
    assert "Launch week credit" in sue and "+5.00 USD" in sue and "expires 2999-01-01" in sue
    with transaction(runtime.session_factory) as db:
        entry = db.scalar(select(WalletEntry))
        assert entry is not None and entry.kind == "grant" and entry.actor == "pat"
    assert counts(runtime) == (1, 1)


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"amount": "abc"}, "amount", "must be a decimal number"),
        ({"amount": "-1"}, "amount", "must be more than 0"),
        ({"amount": "0"}, "amount", "must not be 0"),
        ({"amount": "1e3"}, "amount", "must be written as digits and a decimal point"),
        ({"amount": ""}, "amount", "amount is required"),
        ({"currency": "XYZ"}, "currency", "not an iso 4217 currency code"),
        ({"owner": "nobody"}, "owner", "no user 'nobody' in this tenant"),
        ({"owner": "olga"}, "owner", "no user 'olga' in this tenant"),
        ({"owner": ""}, "owner", "subscriber is required"),
        ({"reason": ""}, "reason", "reason is required"),
        ({"expiresAt": "2001-01-01"}, "expiresAt", "must be in the future"),
        ({"expiresAt": "soon"}, "expiresAt", "must be a date"),
    ],
)
def test_a_refused_grant_says_why_under_its_field_and_changes_nothing(
    people: People, runtime: Runtime, changes: dict[str, str], field: str, words: str
) -> None:
    pat = people["pat"]
    pat.get("/publisher/wallets/grant")
    answer = pat.post("/publisher/wallets/grant", **(GRANT | changes))
    assert answer.status_code == 400
    assert words in field_error(answer.text, field)
    assert f'id="f-{field}" name="{field}"' in answer.text and 'aria-invalid="true"' in answer.text
    assert "No credit was granted: correct the field marked below." in answer.text
    for value in (GRANT | changes).values():
        if value:
            assert f'value="{value}"' in answer.text  # what was typed is kept
    assert not any(leak in answer.text for leak in LEAKS)
    assert counts(runtime) == (0, 0)


def test_the_same_grant_form_sent_twice_grants_once(people: People, runtime: Runtime) -> None:
    pat = people["pat"]
    pat.get("/publisher/wallets/grant")
    reference = f"portal:{uuid.uuid4().hex}"
    first = pat.post("/publisher/wallets/grant", **GRANT, reference=reference)
    again = pat.post("/publisher/wallets/grant", **GRANT, reference=reference)
    assert first.status_code == again.status_code == 303
    assert flash_of(pat.get("/publisher/wallets").text).startswith("This grant was already recorded")
    assert counts(runtime) == (1, 1)
    # The same reference for another grant is refused, not silently taken as the first one.
    other = pat.post("/publisher/wallets/grant", **(GRANT | {"amount": "6.00"}), reference=reference)
    assert other.status_code == 400
    error = re.search(r'data-testid="form-error">([^<]*)<', other.text)
    assert error and "was used for another credit" in html.unescape(error.group(1))
    assert counts(runtime) == (1, 1)


def test_only_the_tenants_publishers_see_and_grant_to_its_subscribers(
    people: People, runtime: Runtime
) -> None:
    with transaction(runtime.session_factory) as db:  # pat is a publisher, no subscriber
        services.credit(
            db,
            principal(runtime, "admin"),
            {
                "owner": "pat",
                "currency": "EUR",
                "amount": "3.00",
                "kind": "GRANT",
                "reason": "Not a subscriber",
            },
        )
    pat = people["pat"]
    pat.get("/publisher/wallets/grant")
    assert pat.post("/publisher/wallets/grant", **GRANT).status_code == 303
    listed = main_of(pat.get("/publisher/wallets").text)
    assert listed.count('data-testid="wallet-row"') == 1 and "sue" in listed
    assert "Not a subscriber" not in listed and "3.00 EUR" not in listed

    olga = people["olga"]  # a publisher of another tenant
    theirs = main_of(olga.get("/publisher/wallets").text)
    assert 'data-testid="no-wallets"' in theirs and "sue" not in theirs
    olga.get("/publisher/wallets/grant")
    refused = olga.post("/publisher/wallets/grant", **GRANT)
    assert refused.status_code == 400 and "no user 'sue'" in field_error(refused.text, "owner")

    sue = people["sue"]  # a subscriber is no publisher
    assert sue.get("/publisher/wallets").status_code in (303, 403)
    forged = pat.http.post("/publisher/wallets/grant", data=GRANT)  # no CSRF token
    assert forged.status_code == 403
    assert counts(runtime) == (2, 2)
