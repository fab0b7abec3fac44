"""Pure pricing: turn a pricing plan and a period's call count into invoice lines.

Money rules, which every other part of Tollway relies on:

* Amounts are :class:`~decimal.Decimal`, never float. Floats are refused with ``TypeError``
  because 0.1 + 0.2 != 0.3 in binary and a price like 0.0004 USD is not representable.
* Arithmetic is exact. It runs in a private decimal context (50 digits, ``Inexact`` and
  ``Rounded`` trapped), so the caller's global context cannot change a result, and an
  operation that would have to round raises instead of silently losing a digit.
* Rounding happens once per invoice line: ``amount = round_half_up(quantity * unit_price
  [+ flat_amount])`` to the currency's minor unit (:func:`tollway.pricing.currency.round_amount`).
  Unit prices stay unrounded on the line. Subtotal and total are sums of already-rounded line
  amounts, so ``total == sum(line.amount)`` holds exactly and nothing is rounded twice.

Plan semantics (``billable_calls`` is the number of calls in the billing period):

* ``FixedRate``: one "<cycle> subscription fee" line; usage never changes it.
* ``DynamicRate`` with ``pricePerRequest``: the first ``includedRequests`` calls are free, every
  later call costs ``pricePerRequest``.
* ``DynamicRate`` with ``tiers``: tier *i* covers call numbers ``(tiers[i-1].up_to, up_to]`` of
  the period (the last tier is open-ended). Included requests are the period's first calls and
  are free whichever tier they fall in.
  ``graduated``: each tier's billable calls are charged at that tier's unit price, one line per
  tier with billable calls (plus the tier's ``flat_amount``), in tier order.
  ``volume``: every billable call is charged at the unit price of the tier that holds the
  period's last call (plus that tier's ``flat_amount``), as one line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import (
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    Rounded,
    localcontext,
)
from typing import Final, Literal

from tollway.pricing.currency import UnknownCurrencyError, normalize_currency, round_amount

__all__ = [
    "MAX_BILLABLE_CALLS",
    "MAX_PRICE",
    "MAX_PRICE_PLACES",
    "InvoiceLine",
    "PriceTier",
    "PricedPeriod",
    "PricingError",
    "PricingPlan",
    "parse_price",
    "price_period",
    "price_usage_batches",
    "usage_cost",
]

MAX_PRICE: Final = Decimal(10**12)
"""Largest accepted price; anything above is a typo or an attack, not a tariff."""
MAX_PRICE_PLACES: Final = 12
"""Most decimal places a price may carry (fits NUMERIC(25, 12) storage)."""
MAX_BILLABLE_CALLS: Final = 10**18
"""Cap on calls per period, so quantity * price always fits the exact 50-digit context."""

_PLAN_TYPES: Final = frozenset({"FixedRate", "DynamicRate"})
_BILLING_CYCLES: Final = frozenset({"day", "week", "month", "year"})
_TIER_MODES: Final = frozenset({"graduated", "volume"})
_ZERO: Final = Decimal(0)
PREPAID_LINE: Final = "Paid from prepaid wallet"


def _exact_context() -> Context:
    # 50 digits hold MAX_BILLABLE_CALLS (19 digits) times a 25-digit price with room to spare;
    # trapping Inexact/Rounded turns any would-be silent rounding into an error.
    return Context(
        prec=50,
        rounding=ROUND_HALF_UP,
        traps=[InvalidOperation, DivisionByZero, Overflow, Inexact, Rounded],
    )


class PricingError(ValueError):
    """A price or plan is invalid; ``field`` is the REST field name to report it under."""

    field: str
    message: str

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def parse_price(value: object, field: str) -> Decimal:
    """Parse a price given as ``str``, ``int`` or ``Decimal`` into a finite Decimal >= 0.

    Rejected with :class:`PricingError` naming ``field``: text that is not a decimal number,
    NaN/Infinity, negatives, more than 12 decimal places, or more than 10**12. A float (or bool,
    or any other type) raises ``TypeError``: its value is already inexact, so it cannot be
    trusted as money. Trailing zeros past 12 places are dropped and a positive exponent is
    expanded ("1E+3" -> 1000), so the result has between 0 and 12 decimal places and
    ``format(result, "f")`` is its plain decimal text.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise TypeError(f"{field}: price must be a str, int or Decimal, not {type(value).__name__}")
    if isinstance(value, str):
        text = value.strip()
        # Decimal() also accepts "1_000"; a price with digit separators is more likely a typo.
        if not text or "_" in text:
            raise PricingError(field, f"not a decimal number: {value!r}")
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise PricingError(field, f"not a decimal number: {value!r}") from None
    else:
        number = Decimal(value)

    if not number.is_finite():
        raise PricingError(field, f"must be a finite number, got {value!r}")
    if number < 0:
        raise PricingError(field, f"must not be negative, got {value!r}")
    if number > MAX_PRICE:
        raise PricingError(field, f"must not exceed {MAX_PRICE}, got {value!r}")
    number = number.copy_abs()  # "-0" is zero, not a negative price
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)  # finite, checked above
    if exponent > 0:
        exponent = 0  # "1E+3" -> "1000"
    elif exponent < -MAX_PRICE_PLACES:
        exponent = -MAX_PRICE_PLACES  # drop trailing zeros; anything else is rejected below
    # 50 digits always hold a value <= 10**12 with 12 places, so quantize cannot fail.
    with localcontext(Context(prec=50)):
        normalized = number.quantize(Decimal((0, (1,), exponent)))
    if normalized != number:
        raise PricingError(field, f"must have at most {MAX_PRICE_PLACES} decimal places, got {value!r}")
    return normalized


def _check_price(value: object, field: str) -> None:
    # Plans are usually built from already-parsed values; re-running parse_price catches a
    # float, NaN or negative that bypassed parsing (e.g. constructed directly in code).
    if not isinstance(value, Decimal):
        raise TypeError(f"{field}: price must be a Decimal, not {type(value).__name__}")
    parse_price(value, field)


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class PriceTier:
    """One step of a tiered price: calls up to ``up_to`` (``None`` = no upper bound)."""

    up_to: int | None
    unit_price: Decimal
    flat_amount: Decimal = _ZERO


@dataclass(frozen=True, slots=True)
class PricingPlan:
    """A monetization plan as stored for a subscription policy (WSO2-style FixedRate/DynamicRate)."""

    plan_type: Literal["FixedRate", "DynamicRate"]
    currency: str
    billing_cycle: Literal["day", "week", "month", "year"]
    fixed_price: Decimal | None = None
    price_per_request: Decimal | None = None
    included_requests: int = 0
    tiers: tuple[PriceTier, ...] = ()
    tier_mode: Literal["graduated", "volume"] = "graduated"
    # Paid from the subscriber's wallet as used (tollway.wallets): the invoice states the charges
    # and one "Paid from prepaid wallet" line that takes them back, so nothing is due.
    prepaid: bool = False

    def validate(self) -> None:
        """Raise :class:`PricingError` (``field`` = REST name) if the plan cannot be priced.

        Fields that do not apply to the plan type (e.g. ``fixedPrice`` on a DynamicRate plan)
        are ignored, but a DynamicRate plan must choose between ``pricePerRequest`` and
        ``tiers``: with both, which one bills would be a guess.
        """
        if self.plan_type not in _PLAN_TYPES:
            raise PricingError(
                "monetizationPlan", f"must be one of {sorted(_PLAN_TYPES)}, got {self.plan_type!r}"
            )
        try:
            normalize_currency(self.currency)
        except UnknownCurrencyError:
            raise PricingError("currencyType", f"unknown ISO 4217 currency: {self.currency!r}") from None
        if self.billing_cycle not in _BILLING_CYCLES:
            raise PricingError(
                "billingCycle",
                f"must be one of {sorted(_BILLING_CYCLES)}, got {self.billing_cycle!r}",
            )
        if not _is_count(self.included_requests) or self.included_requests < 0:
            raise PricingError("includedRequests", f"must be an integer >= 0, got {self.included_requests!r}")
        if self.plan_type == "FixedRate":
            if self.fixed_price is None:
                raise PricingError("fixedPrice", "is required for a FixedRate plan")
            _check_price(self.fixed_price, "fixedPrice")
            return

        if self.tier_mode not in _TIER_MODES:
            raise PricingError("tierMode", f"must be one of {sorted(_TIER_MODES)}, got {self.tier_mode!r}")
        if self.price_per_request is None and not self.tiers:
            raise PricingError("pricePerRequest", "a DynamicRate plan needs pricePerRequest or tiers")
        if self.price_per_request is not None and self.tiers:
            raise PricingError("tiers", "give either pricePerRequest or tiers, not both")
        if self.price_per_request is not None:
            _check_price(self.price_per_request, "pricePerRequest")
            return
        self._validate_tiers()

    def _validate_tiers(self) -> None:
        if not isinstance(self.tiers, tuple):
            raise PricingError("tiers", "must be a tuple of PriceTier")
        previous = 0
        last = len(self.tiers) - 1
        for index, tier in enumerate(self.tiers):
            where = f"tier {index + 1}"
            if not isinstance(tier, PriceTier):
                raise PricingError("tiers", f"{where} is not a PriceTier")
            for attribute in ("unit_price", "flat_amount"):
                try:
                    _check_price(getattr(tier, attribute), "tiers")
                except PricingError as error:
                    raise PricingError("tiers", f"{where}: {attribute} {error.message}") from None
            if tier.up_to is None:
                if index != last:
                    raise PricingError("tiers", f"{where}: only the last tier may have no upper bound")
                continue
            if not _is_count(tier.up_to):
                raise PricingError("tiers", f"{where}: up_to must be an integer, got {tier.up_to!r}")
            if tier.up_to <= previous:
                raise PricingError(
                    "tiers", f"{where}: up_to must be greater than {previous}, got {tier.up_to}"
                )
            if index == last:
                raise PricingError("tiers", "the last tier must have no upper bound (up_to None)")
            previous = tier.up_to


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    """One priced line. ``unit_amount`` is the exact plan price; ``amount`` is rounded once."""

    description: str
    quantity: int
    unit_amount: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class PricedPeriod:
    """A billing period's charges; ``subtotal == sum(line.amount)``, ``total == subtotal + tax``."""

    currency: str
    lines: tuple[InvoiceLine, ...]
    subtotal: Decimal
    tax: Decimal
    total: Decimal


def _line(
    description: str, quantity: int, unit: Decimal, currency: str, flat: Decimal = _ZERO
) -> InvoiceLine:
    # Validated prices may still carry padding such as 0.5000...000 (60 digits); parse_price
    # trims them to <= 12 places so the product always fits the 50-digit context.
    unit = parse_price(unit, "unit_amount")
    flat = parse_price(flat, "flat_amount")
    # The product is exact (Inexact is trapped); round_amount is the line's single rounding.
    with localcontext(_exact_context()):
        exact = Decimal(quantity) * unit + flat
    return InvoiceLine(description, quantity, unit, round_amount(exact, currency))


def _tier_bounds(tiers: tuple[PriceTier, ...]) -> list[tuple[int, int | None, PriceTier]]:
    """(lower, upper, tier): the tier covers call numbers lower+1 .. upper (upper None = open)."""
    bounds = []
    lower = 0
    for tier in tiers:
        bounds.append((lower, tier.up_to, tier))
        if tier.up_to is not None:
            lower = tier.up_to
    return bounds


def _graduated_lines(plan: PricingPlan, calls: int, currency: str) -> list[InvoiceLine]:
    lines = []
    for number, (lower, upper, tier) in enumerate(_tier_bounds(plan.tiers), start=1):
        first = max(lower, plan.included_requests) + 1  # first billable call in this tier
        last = calls if upper is None else min(upper, calls)
        quantity = last - first + 1
        if quantity <= 0:
            continue
        description = f"Tier {number}: requests {first}-{last}"
        if tier.flat_amount:
            description += " (incl. flat fee)"
        lines.append(_line(description, quantity, tier.unit_price, currency, tier.flat_amount))
    return lines


def _volume_line(plan: PricingPlan, calls: int, currency: str) -> list[InvoiceLine]:
    quantity = calls - plan.included_requests
    if quantity <= 0:
        return []
    for number, (_lower, upper, tier) in enumerate(_tier_bounds(plan.tiers), start=1):
        if upper is None or calls <= upper:
            description = f"Volume tier {number}: requests {plan.included_requests + 1}-{calls}"
            if tier.flat_amount:
                description += " (incl. flat fee)"
            return [_line(description, quantity, tier.unit_price, currency, tier.flat_amount)]
    raise AssertionError("validated tiers always end with an open tier")  # pragma: no cover


def price_period(plan: PricingPlan, billable_calls: int) -> PricedPeriod:
    """Price one billing period of ``plan`` with ``billable_calls`` calls (see module docs)."""
    plan.validate()
    if not _is_count(billable_calls):
        raise TypeError(f"billable_calls must be an int, not {type(billable_calls).__name__}")
    if not 0 <= billable_calls <= MAX_BILLABLE_CALLS:
        raise PricingError(
            "billableCalls", f"must be between 0 and {MAX_BILLABLE_CALLS}, got {billable_calls}"
        )
    currency = normalize_currency(plan.currency)

    lines: list[InvoiceLine] = []
    if plan.plan_type == "FixedRate":
        assert plan.fixed_price is not None  # validate() guarantees it
        lines.append(_line(f"{plan.billing_cycle} subscription fee", 1, plan.fixed_price, currency))
    else:
        if plan.included_requests > 0:
            included = min(billable_calls, plan.included_requests)
            lines.append(_line("Included requests", included, _ZERO, currency))
        if plan.price_per_request is not None:
            remaining = max(0, billable_calls - plan.included_requests)
            lines.append(_line("Billable requests", remaining, plan.price_per_request, currency))
        elif plan.tier_mode == "graduated":
            lines.extend(_graduated_lines(plan, billable_calls, currency))
        else:
            lines.extend(_volume_line(plan, billable_calls, currency))

    zero = round_amount(_ZERO, currency)  # carries the minor-unit places: "0.00", "0", "0.000"
    if plan.prepaid and lines:
        with localcontext(_exact_context()):
            paid = -sum((line.amount for line in lines), zero)
        lines.append(InvoiceLine(PREPAID_LINE, 1, paid, paid))
    with localcontext(_exact_context()):
        subtotal = sum((line.amount for line in lines), zero)
        tax = zero  # no tax engine yet
        total = subtotal + tax
    return PricedPeriod(currency, tuple(lines), subtotal, tax, total)


def price_usage_batches(plan: PricingPlan, batches: Iterable[int]) -> PricedPeriod:
    """Price a period whose usage arrived in batches; equal to pricing the summed calls.

    Exists so that "however usage is batched, the invoice is the same" is a stated, tested
    property: pricing depends only on the period total, never on how it was reported.
    """
    total = 0
    for batch in batches:
        if not _is_count(batch):
            raise TypeError(f"usage batch must be an int, not {type(batch).__name__}")
        if batch < 0:
            raise PricingError("billableCalls", f"usage batch must not be negative, got {batch}")
        total += batch
    return price_period(plan, total)


def usage_cost(plan: PricingPlan, billable_calls: int) -> Decimal:
    """What the period's first ``billable_calls`` calls cost, exactly, before any rounding.

    The same tiers, modes and included requests as :func:`price_period`'s usage lines, without
    their per-line rounding: a prepaid wallet pays each call its exact price as it is made (0.25
    USD pays for exactly 625 calls at 0.0004), so a running sum never gains or loses a fraction
    of a cent. A FixedRate plan's calls cost nothing (its fee is not usage).
    """
    plan.validate()
    if not _is_count(billable_calls) or not 0 <= billable_calls <= MAX_BILLABLE_CALLS:
        raise PricingError(
            "billableCalls", f"must be between 0 and {MAX_BILLABLE_CALLS}, got {billable_calls!r}"
        )
    if plan.plan_type == "FixedRate":
        return _ZERO
    billable = max(0, billable_calls - plan.included_requests)
    with localcontext(_exact_context()):
        if plan.price_per_request is not None:
            return billable * plan.price_per_request
        if not billable:
            return _ZERO
        bounds = _tier_bounds(plan.tiers)
        if plan.tier_mode == "volume":
            for _lower, upper, tier in bounds:
                if upper is None or billable_calls <= upper:
                    return billable * tier.unit_price + tier.flat_amount
        total = _ZERO
        for lower, upper, tier in bounds:
            first = max(lower, plan.included_requests) + 1
            last = billable_calls if upper is None else min(upper, billable_calls)
            if last >= first:
                total += (last - first + 1) * tier.unit_price + tier.flat_amount
        return total
