"""Pricing: examples pinned to exact cents, plus properties that must hold for every plan."""

from __future__ import annotations

import itertools
import math
from decimal import ROUND_DOWN, Decimal, Inexact, localcontext
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tollway.pricing.currency import MINOR_UNITS
from tollway.pricing.encoding import pricing_from_json, pricing_to_json
from tollway.pricing.prices import (
    MAX_BILLABLE_CALLS,
    InvoiceLine,
    PricedPeriod,
    PriceTier,
    PricingError,
    PricingPlan,
    parse_price,
    price_period,
    price_usage_batches,
    usage_cost,
)

D = Decimal


def per_request(price: str, currency: str = "USD", included: int = 0) -> PricingPlan:
    return PricingPlan(
        "DynamicRate", currency, "month", price_per_request=D(price), included_requests=included
    )


def tiered(*tiers: PriceTier, mode: str = "graduated", included: int = 0) -> PricingPlan:
    return PricingPlan(
        "DynamicRate",
        "USD",
        "month",
        tiers=tiers,
        tier_mode=mode,  # type: ignore[arg-type]
        included_requests=included,
    )


def half_up(exact: Fraction, places: int) -> Decimal:
    """Reference rounding in integer arithmetic, independent of the decimal module's rounding."""
    scaled = exact * 10**places
    sign = -1 if scaled < 0 else 1
    units = sign * math.floor(abs(scaled) + Fraction(1, 2))
    return D(f"{units}E-{places}")


# --- examples ------------------------------------------------------------------------------------


def test_2500_calls_at_0_0004_usd_cost_exactly_one_dollar() -> None:
    period = price_period(per_request("0.0004"), 2500)
    assert period.lines == (InvoiceLine("Billable requests", 2500, D("0.0004"), D("1.00")),)
    assert str(period.total) == "1.00"
    assert period.currency == "USD"


def test_one_call_at_0_0004_usd_rounds_half_up_to_zero() -> None:
    period = price_period(per_request("0.0004"), 1)
    assert str(period.lines[0].amount) == "0.00"
    assert period.lines[0].unit_amount == D("0.0004")  # the unit price stays exact
    assert str(period.total) == "0.00"


def test_half_a_cent_rounds_up() -> None:
    assert str(price_period(per_request("0.005"), 1).total) == "0.01"


@pytest.mark.parametrize(
    ("price", "calls", "expected"),
    [
        ("0.004", 3, "0.01"),  # 0.012: rounding each call first would give 0.00
        ("0.005", 3, "0.02"),  # 0.015: rounding each call first would give 0.03
        ("0.0001", 49, "0.00"),  # 0.0049
        ("0.0001", 50, "0.01"),  # 0.0050
    ],
)
def test_each_line_is_rounded_once_not_per_call(price: str, calls: int, expected: str) -> None:
    assert str(price_period(per_request(price), calls).total) == expected


def test_jpy_rounds_to_whole_yen() -> None:
    assert str(price_period(per_request("0.5", "JPY"), 3).total) == "2"  # 1.5 -> 2
    assert str(price_period(per_request("0.4", "JPY"), 1).total) == "0"
    period = price_period(per_request("0.25", "jpy"), 10)  # 2.5 -> 3, and code is normalised
    assert period.currency == "JPY"
    assert str(period.total) == "3"
    assert str(period.tax) == "0"


def test_kwd_rounds_to_three_places() -> None:
    assert str(price_period(per_request("0.0005", "KWD"), 1).total) == "0.001"
    assert str(price_period(per_request("0.0004", "KWD"), 1).total) == "0.000"
    assert str(price_period(per_request("0.0004", "KWD"), 2500).total) == "1.000"
    assert str(price_period(per_request("0.0004", "KWD"), 2500).tax) == "0.000"


def test_fixed_rate_is_one_subscription_line() -> None:
    plan = PricingPlan("FixedRate", "USD", "month", fixed_price=D("9.999"))
    period = price_period(plan, 0)
    assert period.lines == (InvoiceLine("month subscription fee", 1, D("9.999"), D("10.00")),)
    assert str(period.total) == "10.00"


@given(calls=st.integers(0, MAX_BILLABLE_CALLS), cycle=st.sampled_from(["day", "week", "month", "year"]))
def test_fixed_rate_ignores_usage(calls: int, cycle: str) -> None:
    plan = PricingPlan(
        "FixedRate",
        "EUR",
        cycle,  # type: ignore[arg-type]
        fixed_price=D("49.50"),
        price_per_request=D("1"),  # not used by a FixedRate plan
        included_requests=10,
    )
    assert price_period(plan, calls) == price_period(plan, 0)
    assert price_period(plan, calls).lines[0].description == f"{cycle} subscription fee"


def test_included_requests_are_free() -> None:
    plan = per_request("0.01", included=1000)
    under = price_period(plan, 999)
    assert under.lines == (
        InvoiceLine("Included requests", 999, D(0), D("0.00")),
        InvoiceLine("Billable requests", 0, D("0.01"), D("0.00")),
    )
    assert str(under.total) == "0.00"
    over = price_period(plan, 1500)
    assert over.lines[0].quantity == 1000
    assert over.lines[1] == InvoiceLine("Billable requests", 500, D("0.01"), D("5.00"))
    assert str(over.total) == "5.00"


def test_no_included_line_without_included_requests() -> None:
    descriptions = [line.description for line in price_period(per_request("0.01"), 10).lines]
    assert descriptions == ["Billable requests"]


GRADUATED = (
    PriceTier(100, D("0.01")),
    PriceTier(1000, D("0.005"), flat_amount=D("1")),
    PriceTier(None, D("0.001")),
)


def test_graduated_tiers_are_applied_in_order() -> None:
    period = price_period(tiered(*GRADUATED), 5000)
    assert [(line.quantity, line.unit_amount, line.amount) for line in period.lines] == [
        (100, D("0.01"), D("1.00")),
        (900, D("0.005"), D("5.50")),  # 4.50 + flat 1
        (4000, D("0.001"), D("4.00")),
    ]
    assert [line.description.split(":")[0] for line in period.lines] == ["Tier 1", "Tier 2", "Tier 3"]
    assert str(period.total) == "10.50"


def test_graduated_tiers_skip_unused_tiers_and_their_flat_fee() -> None:
    period = price_period(tiered(*GRADUATED), 100)
    assert [(line.quantity, line.amount) for line in period.lines] == [(100, D("1.00"))]
    assert str(price_period(tiered(*GRADUATED), 0).total) == "0.00"
    assert price_period(tiered(*GRADUATED), 0).lines == ()


def test_included_requests_take_the_first_calls_of_graduated_tiers() -> None:
    period = price_period(tiered(*GRADUATED, included=150), 1200)
    assert [(line.description, line.quantity, line.amount) for line in period.lines] == [
        ("Included requests", 150, D("0.00")),
        ("Tier 2: requests 151-1000 (incl. flat fee)", 850, D("5.25")),
        ("Tier 3: requests 1001-1200", 200, D("0.20")),
    ]


def test_volume_tiers_price_every_call_at_the_reached_tier() -> None:
    plan = tiered(
        PriceTier(1000, D("0.01")), PriceTier(10000, D("0.005")), PriceTier(None, D("0.001")), mode="volume"
    )
    at_1000 = price_period(plan, 1000)
    assert [(line.quantity, line.unit_amount, line.amount) for line in at_1000.lines] == [
        (1000, D("0.01"), D("10.00"))
    ]
    at_1001 = price_period(plan, 1001)  # crossing the boundary reprices *all* calls
    assert [(line.quantity, line.unit_amount, line.amount) for line in at_1001.lines] == [
        (1001, D("0.005"), D("5.01"))
    ]
    assert str(price_period(plan, 20000).total) == "20.00"
    assert price_period(plan, 0).lines == ()


def test_volume_tier_is_chosen_by_total_calls_and_included_calls_stay_free() -> None:
    plan = tiered(
        PriceTier(100, D("1")), PriceTier(None, D("0.1"), flat_amount=D("2")), mode="volume", included=50
    )
    period = price_period(plan, 150)
    assert [(line.quantity, line.unit_amount, line.amount) for line in period.lines] == [
        (50, D(0), D("0.00")),
        (100, D("0.1"), D("12.00")),  # 100 * 0.1 + flat 2
    ]
    assert str(price_period(plan, 40).total) == "0.00"


def test_result_does_not_depend_on_the_global_decimal_context() -> None:
    plan = tiered(*GRADUATED)
    expected = price_period(plan, 123_456_789)
    with localcontext() as ctx:
        ctx.prec = 2
        ctx.rounding = ROUND_DOWN
        ctx.traps[Inexact] = True
        assert price_period(plan, 123_456_789) == expected
    assert str(expected.total) == "123462.29"  # 1.00 + 5.50 + 123455.79


def test_extreme_values_are_exact() -> None:
    # A 31-digit tie: any loss of precision (e.g. float, or a 28-digit context) would miss the cent.
    price = D("999999999999.995")
    calls = MAX_BILLABLE_CALLS - 1
    period = price_period(per_request(str(price)), calls)
    assert period.total == half_up(Fraction(price) * calls, 2)
    assert str(period.total) == "999999999999994999000000000000.01"  # exact ...000.005 rounded up


def test_padded_prices_do_not_overflow_the_exact_context() -> None:
    padded = PricingPlan("DynamicRate", "USD", "month", price_per_request=D("0.5" + "0" * 60))
    period = price_period(padded, MAX_BILLABLE_CALLS)
    assert period == price_period(per_request("0.5"), MAX_BILLABLE_CALLS)
    assert str(period.total) == "5" + "0" * 17 + ".00"


def test_price_usage_batches_sums_batches() -> None:
    plan = per_request("0.0004")
    assert price_usage_batches(plan, [1000, 1500]) == price_period(plan, 2500)
    assert price_usage_batches(plan, []) == price_period(plan, 0)
    with pytest.raises(PricingError):
        price_usage_batches(plan, [10, -1])
    with pytest.raises(TypeError):
        price_usage_batches(plan, [1.0])  # type: ignore[list-item]


@pytest.mark.parametrize("calls", [-1, MAX_BILLABLE_CALLS + 1])
def test_price_period_rejects_out_of_range_calls(calls: int) -> None:
    with pytest.raises(PricingError) as info:
        price_period(per_request("1"), calls)
    assert info.value.field == "billableCalls"


@pytest.mark.parametrize("calls", [1.0, True, "10", D(10)])
def test_price_period_rejects_non_int_calls(calls: object) -> None:
    with pytest.raises(TypeError):
        price_period(per_request("1"), calls)  # type: ignore[arg-type]


def test_price_period_validates_the_plan() -> None:
    with pytest.raises(PricingError) as info:
        price_period(PricingPlan("FixedRate", "USD", "month"), 1)
    assert info.value.field == "fixedPrice"


# --- plan validation -----------------------------------------------------------------------------

VALID_TIERS = (PriceTier(10, D("1")), PriceTier(None, D("0.5")))


@pytest.mark.parametrize(
    ("plan", "field"),
    [
        (PricingPlan("FixedRate", "USD", "month"), "fixedPrice"),
        (PricingPlan("FixedRate", "USD", "month", fixed_price=D(-1)), "fixedPrice"),
        (PricingPlan("FixedRate", "USD", "month", fixed_price=D("NaN")), "fixedPrice"),
        (PricingPlan("FixedRate", "XYZ", "month", fixed_price=D(1)), "currencyType"),
        (PricingPlan("FixedRate", "USD", "fortnight", fixed_price=D(1)), "billingCycle"),  # type: ignore[arg-type]
        (
            PricingPlan("FixedRate", "USD", "month", fixed_price=D(1), included_requests=-1),
            "includedRequests",
        ),
        (PricingPlan("Freemium", "USD", "month", fixed_price=D(1)), "monetizationPlan"),  # type: ignore[arg-type]
        (PricingPlan("DynamicRate", "USD", "month"), "pricePerRequest"),
        (PricingPlan("DynamicRate", "USD", "month", price_per_request=D("-0.1")), "pricePerRequest"),
        (PricingPlan("DynamicRate", "USD", "month", price_per_request=D("1e13")), "pricePerRequest"),
        (PricingPlan("DynamicRate", "USD", "month", price_per_request=D(1), tiers=VALID_TIERS), "tiers"),
        (PricingPlan("DynamicRate", "USD", "month", tiers=VALID_TIERS, tier_mode="flat"), "tierMode"),  # type: ignore[arg-type]
        (tiered(PriceTier(10, D(1))), "tiers"),  # last tier must be open-ended
        (tiered(PriceTier(None, D(1)), PriceTier(None, D(1))), "tiers"),
        (tiered(PriceTier(None, D(1)), PriceTier(10, D(1))), "tiers"),
        (tiered(PriceTier(10, D(1)), PriceTier(10, D(1)), PriceTier(None, D(1))), "tiers"),
        (tiered(PriceTier(10, D(1)), PriceTier(5, D(1)), PriceTier(None, D(1))), "tiers"),
        (tiered(PriceTier(0, D(1)), PriceTier(None, D(1))), "tiers"),
        (tiered(PriceTier(True, D(1)), PriceTier(None, D(1))), "tiers"),
        (tiered(PriceTier(10, D(-1)), PriceTier(None, D(1))), "tiers"),
        (tiered(PriceTier(10, D(1), flat_amount=D(-1)), PriceTier(None, D(1))), "tiers"),
    ],
)
def test_validate_names_the_rest_field(plan: PricingPlan, field: str) -> None:
    with pytest.raises(PricingError) as info:
        plan.validate()
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")


@pytest.mark.parametrize(
    "plan",
    [
        PricingPlan("FixedRate", "usd", "year", fixed_price=D(0)),
        PricingPlan("DynamicRate", "KWD", "day", price_per_request=D("0.0004"), included_requests=5),
        tiered(*VALID_TIERS),
        tiered(PriceTier(None, D("0.1"))),
        tiered(*VALID_TIERS, mode="volume"),
    ],
)
def test_validate_accepts_good_plans(plan: PricingPlan) -> None:
    plan.validate()
    assert price_period(plan, 3).total >= 0


def test_float_prices_in_a_plan_are_a_type_error() -> None:
    with pytest.raises(TypeError):
        PricingPlan("FixedRate", "USD", "month", fixed_price=9.99).validate()  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        tiered(PriceTier(None, 0.001)).validate()  # type: ignore[arg-type]


# --- parse_price ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["abc", "", "   ", "NaN", "nan", "sNaN", "Infinity", "-Infinity", "-1", "-0.0001", "1e400", "1e13",
     "1000000000000.000000000001", "0.0000000000001", "1e-400", "1_000", "1,5", "0x10", -1, D("-1"),
     D("NaN"), D("Infinity"), 10**13],
)  # fmt: skip
def test_parse_price_rejects(value: object) -> None:
    with pytest.raises(PricingError) as info:
        parse_price(value, "pricePerRequest")
    assert info.value.field == "pricePerRequest"
    assert "pricePerRequest" in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("value", [0.1, 1.0, float("nan"), True, None, [1], b"1"])
def test_parse_price_rejects_non_decimal_types_with_type_error(value: object) -> None:
    with pytest.raises(TypeError):
        parse_price(value, "fixedPrice")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.0004", "0.0004"),
        ("10", "10"),
        (" 10.50 ", "10.50"),
        (D("2.5"), "2.5"),
        (7, "7"),
        ("0", "0"),
        ("-0", "0"),
        ("1E+3", "1000"),
        ("1e12", "1000000000000"),
        ("0.000000000001", "0.000000000001"),
        ("0.50000000000000", "0.500000000000"),  # trailing zeros past 12 places are harmless
    ],
)
def test_parse_price_accepts(value: object, expected: str) -> None:
    result = parse_price(value, "fixedPrice")
    assert isinstance(result, Decimal)
    assert format(result, "f") == expected


@given(
    st.integers(0, 12).flatmap(
        lambda places: st.decimals(
            min_value=0, max_value=10**12, places=places, allow_nan=False, allow_infinity=False
        )
    )
)
def test_parse_price_round_trips_valid_prices(value: Decimal) -> None:
    assert parse_price(str(value), "fixedPrice") == value
    assert parse_price(format(value, "f"), "fixedPrice") == value
    assert parse_price(value, "fixedPrice") == value


def test_pricing_error_carries_field_and_message() -> None:
    error = PricingError("currencyType", "unknown currency")
    assert error.field == "currencyType"
    assert error.message == "unknown currency"
    assert str(error) == "currencyType: unknown currency"


# --- properties ----------------------------------------------------------------------------------

prices = st.integers(0, 12).flatmap(
    lambda places: st.decimals(
        min_value=0, max_value=1000, places=places, allow_nan=False, allow_infinity=False
    )
)
currencies = st.sampled_from(["USD", "JPY", "KWD", "CLF", "EUR", "CLP"])
calls_st = st.integers(0, 50_000)
included_st = st.one_of(st.just(0), st.integers(0, 20_000))


@st.composite
def tier_lists(draw: st.DrawFn) -> tuple[PriceTier, ...]:
    bounds = sorted(draw(st.sets(st.integers(1, 30_000), max_size=4)))
    flats = st.one_of(st.just(D(0)), prices)
    tiers = [PriceTier(b, draw(prices), draw(flats)) for b in bounds]
    return (*tiers, PriceTier(None, draw(prices), draw(flats)))


@st.composite
def tiered_plans(draw: st.DrawFn, mode: str) -> PricingPlan:
    return PricingPlan(
        "DynamicRate",
        draw(currencies),
        "month",
        tiers=draw(tier_lists()),
        tier_mode=mode,  # type: ignore[arg-type]
        included_requests=draw(included_st),
    )


@st.composite
def per_request_plans(draw: st.DrawFn) -> PricingPlan:
    return PricingPlan(
        "DynamicRate",
        draw(currencies),
        "week",
        price_per_request=draw(prices),
        included_requests=draw(included_st),
    )


fixed_plans = st.builds(
    PricingPlan,
    plan_type=st.just("FixedRate"),
    currency=currencies,
    billing_cycle=st.just("year"),
    fixed_price=prices,
)
any_plan = st.one_of(fixed_plans, per_request_plans(), tiered_plans("graduated"), tiered_plans("volume"))


def tier_ranges(tiers: tuple[PriceTier, ...]) -> list[tuple[int, int | None, PriceTier]]:
    """(low, up_to, tier): the tier holds call numbers low+1 .. up_to."""
    lows = [0] + [t.up_to for t in tiers if t.up_to is not None]
    return [(low, t.up_to, t) for low, t in zip(lows, tiers, strict=True)]


def usage_lines(period: PricedPeriod) -> list[InvoiceLine]:
    return [line for line in period.lines if line.description != "Included requests"]


@given(plan=any_plan, calls=calls_st)
def test_total_is_the_sum_of_rounded_lines(plan: PricingPlan, calls: int) -> None:
    period = price_period(plan, calls)
    places = MINOR_UNITS[plan.currency]
    assert period.subtotal == sum((line.amount for line in period.lines), D(0))
    assert period.total == period.subtotal + period.tax
    assert period.tax == 0
    for amount in (period.subtotal, period.tax, period.total, *(line.amount for line in period.lines)):
        assert amount >= 0
        assert amount.as_tuple().exponent == -places  # always exactly the minor-unit places


@given(plan=st.one_of(per_request_plans(), fixed_plans), calls=calls_st)
def test_every_line_is_the_exact_amount_rounded_half_up_once(plan: PricingPlan, calls: int) -> None:
    # Tier lines are checked against the same Fraction oracle in the tier tests below.
    for line in price_period(plan, calls).lines:
        assert line.unit_amount in (plan.fixed_price, plan.price_per_request, D(0))
        exact = line.quantity * Fraction(line.unit_amount)
        assert line.amount == half_up(exact, MINOR_UNITS[plan.currency])


@given(plan=tiered_plans("graduated"), calls=calls_st, more=st.integers(0, 50_000))
def test_graduated_total_never_decreases_with_more_calls(plan: PricingPlan, calls: int, more: int) -> None:
    assert price_period(plan, calls + more).total >= price_period(plan, calls).total


@given(plan=tiered_plans("graduated"), calls=calls_st)
def test_graduated_lines_match_each_tier_span_in_tier_order(plan: PricingPlan, calls: int) -> None:
    period = price_period(plan, calls)
    # Reference model: tier i bills the calls numbered (max(low, included), min(up_to, calls)].
    expected = []
    for low, up_to, tier in tier_ranges(plan.tiers):
        top = calls if up_to is None else min(up_to, calls)
        quantity = top - max(low, plan.included_requests)
        if quantity > 0:
            exact = quantity * Fraction(tier.unit_price) + Fraction(tier.flat_amount)
            expected.append((quantity, tier.unit_price, half_up(exact, MINOR_UNITS[plan.currency])))
    lines = usage_lines(period)
    assert [(line.quantity, line.unit_amount, line.amount) for line in lines] == expected
    numbers = [int(line.description.split(":")[0].removeprefix("Tier ")) for line in lines]
    assert numbers == sorted(numbers)
    assert sum(line.quantity for line in lines) == max(0, calls - plan.included_requests)


@given(plan=st.one_of(per_request_plans(), tiered_plans("graduated"), tiered_plans("volume")), calls=calls_st)
def test_included_line_and_billable_quantities(plan: PricingPlan, calls: int) -> None:
    period = price_period(plan, calls)
    included = [line for line in period.lines if line.description == "Included requests"]
    if plan.included_requests:
        assert included == [
            InvoiceLine("Included requests", min(calls, plan.included_requests), D(0), period.tax)
        ]
    else:
        assert included == []
    assert sum(line.quantity for line in usage_lines(period)) == max(0, calls - plan.included_requests)


@given(plan=tiered_plans("volume"), calls=calls_st)
def test_volume_bills_every_billable_call_at_the_tier_holding_the_total(
    plan: PricingPlan, calls: int
) -> None:
    lines = usage_lines(price_period(plan, calls))
    billable = calls - plan.included_requests
    if billable <= 0:
        assert lines == []
        return
    reached = next(t for low, up_to, t in tier_ranges(plan.tiers) if up_to is None or low < calls <= up_to)
    exact = billable * Fraction(reached.unit_price) + Fraction(reached.flat_amount)
    assert [(line.quantity, line.unit_amount, line.amount) for line in lines] == [
        (billable, reached.unit_price, half_up(exact, MINOR_UNITS[plan.currency]))
    ]


@st.composite
def plan_and_partitions(draw: st.DrawFn) -> tuple[PricingPlan, list[int], list[int]]:
    plan = draw(any_plan)
    total = draw(calls_st)

    def partition() -> list[int]:
        cuts = sorted(draw(st.lists(st.integers(0, total), max_size=8)))
        edges = [0, *cuts, total]
        return [b - a for a, b in itertools.pairwise(edges)]

    return plan, partition(), partition()


@settings(max_examples=200)
@given(plan_and_partitions())
def test_splitting_usage_into_batches_never_changes_the_period(
    case: tuple[PricingPlan, list[int], list[int]],
) -> None:
    plan, batches, other_batches = case
    assert sum(batches) == sum(other_batches)
    single = price_period(plan, sum(batches))
    assert price_usage_batches(plan, batches) == single
    assert price_usage_batches(plan, other_batches) == single
    assert price_usage_batches(plan, iter(batches)) == single  # any iterable, consumed once


def test_a_prepaid_plan_invoice_states_the_charges_and_that_the_wallet_paid_them() -> None:
    plan = PricingPlan(
        "DynamicRate", "USD", "month", price_per_request=Decimal("0.0004"), included_requests=10, prepaid=True
    )
    priced = price_period(plan, 636)  # 626 billable: 0.2504 exactly, 0.25 on the line
    assert [(line.description, line.amount) for line in priced.lines] == [
        ("Included requests", Decimal("0.00")),
        ("Billable requests", Decimal("0.25")),
        ("Paid from prepaid wallet", Decimal("-0.25")),
    ]
    assert priced.total == Decimal("0.00")
    assert usage_cost(plan, 636) == Decimal("0.2504")  # what the wallet paid, call by call
    assert pricing_from_json(pricing_to_json(plan)) == plan
    postpaid = PricingPlan("DynamicRate", "USD", "month", price_per_request=Decimal("0.0004"))
    assert "prepaid" not in pricing_to_json(postpaid)  # stored plans of before compare equal
