"""Tiered prices in the portals, over real HTTP: every band in the developer portal and the admin
plan list, and one clear refusal when a plan has a price per request and tiers."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pytest

from tests.apis.test_tier_tables import graduated_plan, volume_plan
from tests.portals.test_pages_http import LEAKS, People
from tests.portals.world import World, principal, seed
from tests.support.servers import ServerThread
from tollway.db.session import transaction
from tollway.portals import services
from tollway.runtime import Runtime

GRADUATED_ROWS = [
    "First 500 calls each month | included, free",
    "1\u20131,000 | 0.001 USD per call",
    "1,001\u201310,000 | 0.0008 USD per call + 5.00 USD flat fee",
    "over 10,000 | 0.000125 USD per call",
]
VOLUME_ROWS = [
    "1\u2013100 | 0.5 KWD per call",
    "over 100 | 0.25 KWD per call + 1.125 KWD flat fee",
]


@pytest.fixture
def world(runtime: Runtime) -> World:
    world = seed(runtime)
    admin, pat = principal(runtime, "admin"), principal(runtime, "pat")
    with transaction(runtime.session_factory) as db:
        services.create_plan(db, runtime, admin, graduated_plan())
        services.create_plan(db, runtime, admin, volume_plan())
    api = {
        "name": "Bands",
        "context": "/bands",
        "version": "1.0.0",
        "policies": ["Graduated", "Volume", "Gold Paid"],
        "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": "http://127.0.0.1:9/b"}},
    }
    with transaction(runtime.session_factory) as db:
        world.api_id = services.create_api(db, runtime, pat, api)["id"]
        services.change_lifecycle(db, runtime, pat, world.api_id, "Publish")
    with transaction(runtime.session_factory) as db:  # paid plans are offered only then
        services.set_api_monetization(
            db, runtime, pat, world.api_id, True, {"ConnectedAccountKey": "acct_pat"}
        )
    return world


@pytest.fixture
def people(live_server: ServerThread, world: World) -> Iterator[People]:
    signed = People(live_server.url)
    yield signed
    for person in signed.values():
        person.close()


def table_rows(page: str, testid: str) -> list[str]:
    """The rows of the table marked data-testid=testid, cells joined by ' | ', as a person reads them."""
    found = re.search(rf'<table[^>]*data-testid="{re.escape(testid)}"[^>]*>(.*?)</table>', page, re.S)
    assert found, f"no table {testid!r} on the page"
    rows = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", found.group(1), re.S):
        cells = [
            re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", c))).strip()
            for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        ]
        rows.append(" | ".join(cells))
    return rows


def text_of(page: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def test_the_developer_portal_shows_every_band_of_a_tiered_plan(people: People, world: World) -> None:
    page = people["tom"].get(f"/devportal/apis/{world.api_id}")
    assert page.status_code == 200
    assert table_rows(page.text, "price-table-Graduated") == GRADUATED_ROWS
    assert table_rows(page.text, "price-table-Volume") == VOLUME_ROWS
    words = text_of(page.text)
    assert "Graduated: each band's calls are charged at that band's price" in words
    assert (
        "Volume: every call of the week is charged at the price of the band the week's total reaches" in words
    )
    assert "from 0.001" not in words and "from 0.5" not in words
    assert "10.00 USD" in words  # the fixed-price plan is shown as before


def test_the_developer_portal_stops_advertising_prices_when_monetization_is_disabled(
    people: People, world: World, runtime: Runtime
) -> None:
    with transaction(runtime.session_factory) as db:
        services.set_api_monetization(db, runtime, principal(runtime, "pat"), world.api_id, False, {})
    page = people["tom"].get(f"/devportal/apis/{world.api_id}")
    assert page.status_code == 200
    assert "price-table-" not in page.text and "subscribe-form" not in page.text
    words = text_of(page.text)
    assert "USD per call" not in words and "10.00 USD" not in words and "KWD" not in words


def test_the_admin_plan_list_shows_the_bands(people: People, world: World) -> None:
    page = people["admin"].get("/admin/plans")
    assert page.status_code == 200
    assert table_rows(page.text, "price-table-Graduated") == GRADUATED_ROWS
    assert table_rows(page.text, "price-table-Volume") == VOLUME_ROWS


def test_the_plan_form_refuses_a_price_per_request_with_tiers_in_one_message(people: People) -> None:
    admin = people["admin"]
    admin.get("/admin/plans/new")
    form: dict[str, str | list[str]] = {
        "csrf_token": admin.token,
        "policyName": "Both",
        "billingPlan": "COMMERCIAL",
        "monetizationPlan": "DynamicRate",
        "currencyType": "USD",
        "billingCycle": "month",
        "requestCount": "100",
        "pricePerRequest": "0.001",
        "tierMode": "graduated",
        "tierUpTo": ["1000", ""],
        "tierUnitPrice": ["0.002", "0.0005"],
        "tierFlatAmount": ["", "2"],
    }
    answer = admin.http.post("/admin/plans/new", data=form)
    assert answer.status_code == 400
    assert "Price per request and Tiers: give a price per request or tiers, not both." in text_of(answer.text)
    assert 'value="0.0005"' in answer.text and 'value="2"' in answer.text  # what was typed is kept
    assert not any(leak in answer.text for leak in LEAKS)

    # Without the price per request the same tiers, flat amount included, make the plan.
    admin.get("/admin/plans/new")
    form = {**form, "csrf_token": admin.token, "pricePerRequest": ""}
    assert admin.http.post("/admin/plans/new", data=form).status_code == 303
    assert table_rows(admin.get("/admin/plans").text, "price-table-Both") == [
        "1\u20131,000 | 0.002 USD per call",
        "over 1,000 | 0.0005 USD per call + 2.00 USD flat fee",
    ]
