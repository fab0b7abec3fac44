"""Billing meters, meter events (v1, v2 and the v2 high-throughput stream) and usage aggregation."""

from __future__ import annotations

import copy
import hashlib
import re
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from .errors import StripeError, invalid, no_such, param_error
from .fixtures import template
from .ids import new_id, random_suffix
from .rendering import list_object
from .state import RESOLVERS, Ctx, MeterEventRecord, MeterEventSession, Obj

PAST_WINDOW = 35 * 86400  # events must be within the past 35 calendar days…
FUTURE_WINDOW = 5 * 60  # …or at most 5 minutes in the future
SESSION_LIFETIME = 15 * 60  # meter event session tokens are valid for 15 minutes
STREAM_MAX_EVENTS = 100
_WHOLE = re.compile(r"^\d+$")


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def parse_iso(value: str, param: str) -> int:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise param_error(f"Invalid timestamp: {value} is not an ISO 8601 date-time.", param=param) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


# --------------------------------------------------------------------------- meters


def _get_meter(ctx: Ctx, meter_id: str) -> Obj:
    meter = ctx.account.meters.get(meter_id)
    if meter is None:
        raise no_such("billing meter", meter_id)
    return meter


def _active_meter_for(ctx: Ctx, event_name: str) -> Obj | None:
    return next(
        (m for m in ctx.account.meters.values() if m["event_name"] == event_name and m["status"] == "active"),
        None,
    )


def create_meter(ctx: Ctx, params: dict[str, Any]) -> Obj:
    if _active_meter_for(ctx, params["event_name"]) is not None:
        raise StripeError(
            400,
            f"An active meter with event_name `{params['event_name']}` already exists; event names must be "
            "unique among the account's active meters.",
            param="event_name",
            code="resource_already_exists",
        )
    mapping = params.get("customer_mapping") or {"event_payload_key": "stripe_customer_id", "type": "by_id"}
    meter = template("billing.meter")
    meter.update(
        id=new_id("mtr"),
        created=ctx.now,
        updated=ctx.now,
        customer_mapping={"event_payload_key": mapping["event_payload_key"], "type": mapping["type"]},
        default_aggregation={"formula": params["default_aggregation"]["formula"]},
        display_name=params["display_name"],
        event_name=params["event_name"],
        event_time_window=params.get("event_time_window"),
        livemode=ctx.account.livemode,
        status="active",
        status_transitions={"deactivated_at": None},
        value_settings={
            "event_payload_key": (params.get("value_settings") or {}).get("event_payload_key", "value")
        },
    )
    ctx.account.meters[meter["id"]] = meter
    return copy.deepcopy(meter)


def retrieve_meter(ctx: Ctx, params: dict[str, Any], id: str) -> Obj:
    return copy.deepcopy(_get_meter(ctx, id))


def update_meter(ctx: Ctx, params: dict[str, Any], id: str) -> Obj:
    meter = _get_meter(ctx, id)
    if "display_name" in params:
        meter["display_name"] = params["display_name"]
        meter["updated"] = ctx.now
    return copy.deepcopy(meter)


def list_meters(ctx: Ctx, params: dict[str, Any]) -> Obj:
    rows = [
        copy.deepcopy(m)
        for m in reversed(ctx.account.meters.values())
        if "status" not in params or m["status"] == params["status"]
    ]
    return list_object(ctx, rows, params, "/v1/billing/meters", "billing meter")


def deactivate_meter(ctx: Ctx, params: dict[str, Any], id: str) -> Obj:
    meter = _get_meter(ctx, id)
    if meter["status"] != "active":
        raise invalid(f"The meter `{id}` is already inactive.")
    meter.update(status="inactive", updated=ctx.now, status_transitions={"deactivated_at": ctx.now})
    return copy.deepcopy(meter)


def reactivate_meter(ctx: Ctx, params: dict[str, Any], id: str) -> Obj:
    meter = _get_meter(ctx, id)
    if meter["status"] == "active":
        raise invalid(f"The meter `{id}` is already active.")
    if _active_meter_for(ctx, meter["event_name"]) is not None:
        raise invalid(
            f"Another active meter already uses event_name `{meter['event_name']}`.",
            code="resource_already_exists",
        )
    meter.update(status="active", updated=ctx.now, status_transitions={"deactivated_at": None})
    return copy.deepcopy(meter)


# --------------------------------------------------------------------------- meter events


def _reject(code: str, message: str, param: str | None = None) -> StripeError:
    return StripeError(400, message, code=code, param=param)


def ingest(
    ctx: Ctx,
    event_name: str,
    payload: dict[str, str],
    identifier: str | None,
    timestamp: int | None,
    *,
    param: str = "",
) -> MeterEventRecord:
    """Validate one meter event and record it for its meter; raise Stripe's error if refused."""
    acct = ctx.account

    def name(key: str) -> str:
        return f"{param}[{key}]" if param else key

    ts = ctx.now if timestamp is None else timestamp
    if ts < ctx.now - PAST_WINDOW:
        raise _reject(
            "timestamp_too_far_in_past",
            "The event timestamp must be within the past 35 calendar days.",
            name("timestamp"),
        )
    if ts > ctx.now + FUTURE_WINDOW:
        raise _reject(
            "timestamp_in_future",
            "The event timestamp must be at most 5 minutes in the future.",
            name("timestamp"),
        )
    meter = _active_meter_for(ctx, event_name)
    if meter is None:
        inactive = any(m["event_name"] == event_name for m in acct.meters.values())
        if inactive:
            raise _reject(
                "archived_meter",
                f"The meter for event_name `{event_name}` is inactive.",
                name("event_name"),
            )
        raise _reject(
            "no_meter", f"No active meter was found for event_name `{event_name}`.", name("event_name")
        )
    if identifier is not None and identifier in acct.identifiers:
        raise invalid(f"An event already exists with identifier {identifier}.", param=name("identifier"))
    customer_key = meter["customer_mapping"]["event_payload_key"]
    customer_id = payload.get(customer_key)
    if customer_id is None:
        raise _reject(
            "meter_event_no_customer_defined",
            f"Customer mapping key {customer_key} not found in payload.",
            f"{name('payload')}[{customer_key}]",
        )
    if customer_id not in acct.customers or customer_id in acct.deleted_customers:
        raise _reject(
            "meter_event_customer_not_found",
            f"Customer {customer_id} not found.",
            f"{name('payload')}[{customer_key}]",
        )
    value_key = meter["value_settings"]["event_payload_key"]
    raw_value = payload.get(value_key)
    if raw_value is None:
        if meter["default_aggregation"]["formula"] != "count":
            raise _reject(
                "meter_event_invalid_value",
                f"Value key {value_key} not found in payload.",
                f"{name('payload')}[{value_key}]",
            )
        value = Decimal(1)
    elif not _WHOLE.match(str(raw_value)):
        raise _reject(
            "meter_event_invalid_value",
            f"The value in the event payload must be a non-negative whole number. Received `{raw_value}`.",
            f"{name('payload')}[{value_key}]",
        )
    else:
        value = Decimal(str(raw_value))
    record = MeterEventRecord(
        identifier=identifier or str(uuid.uuid4()),
        event_name=event_name,
        meter=meter["id"],
        customer=customer_id,
        value=value,
        timestamp=ts,
        created=ctx.now,
        sequence=acct.next_sequence(),
        payload={str(k): str(v) for k, v in payload.items()},
    )
    acct.meter_events.append(record)
    acct.identifiers[record.identifier] = record
    return record


def create_meter_event(ctx: Ctx, params: dict[str, Any]) -> Obj:
    record = ingest(
        ctx, params["event_name"], params["payload"], params.get("identifier"), params.get("timestamp")
    )
    event = template("billing.meter_event")
    event.update(
        created=record.created,
        event_name=record.event_name,
        identifier=record.identifier,
        livemode=ctx.account.livemode,
        payload=dict(record.payload),
        timestamp=record.timestamp,
    )
    return event


def create_meter_event_adjustment(ctx: Ctx, params: dict[str, Any]) -> Obj:
    if params.get("type", "cancel") == "cancel":
        cancel = params.get("cancel") or {}
        identifier = cancel.get("identifier")
        if identifier is None:
            raise param_error(
                "Missing required param: cancel[identifier].",
                param="cancel[identifier]",
                code="parameter_missing",
            )
        record = ctx.account.identifiers.get(identifier)
        if record is None or record.event_name != params["event_name"]:
            ctx.account.meter_event_errors.append(
                {
                    "code": "meter_event_adjustment_not_found",
                    "identifier": identifier,
                    "event_name": params["event_name"],
                }
            )
        else:
            record.canceled = True
    adjustment = template("billing.meter_event_adjustment")
    adjustment.update(
        cancel={"identifier": (params.get("cancel") or {}).get("identifier")},
        event_name=params["event_name"],
        livemode=ctx.account.livemode,
        status="complete",
        type=params.get("type", "cancel"),
    )
    return adjustment


def _v2_event(ctx: Ctx, record: MeterEventRecord) -> Obj:
    return {
        "object": "v2.billing.meter_event",
        "created": iso(record.created),
        "event_name": record.event_name,
        "identifier": record.identifier,
        "livemode": ctx.account.livemode,
        "payload": dict(record.payload),
        "timestamp": iso(record.timestamp),
    }


def create_v2_meter_event(ctx: Ctx, params: dict[str, Any]) -> Obj:
    ts = parse_iso(params["timestamp"], "timestamp") if "timestamp" in params else None
    record = ingest(ctx, params["event_name"], params["payload"], params.get("identifier"), ts)
    return _v2_event(ctx, record)


def create_meter_event_session(ctx: Ctx, params: dict[str, Any]) -> Obj:
    session = MeterEventSession(
        id=new_id("mes"),
        token=f"mes_auth_{random_suffix(48)}",
        account=ctx.account.id,
        created=ctx.now,
        expires_at=ctx.now + SESSION_LIFETIME,
    )
    ctx.sessions[session.token] = session
    return {
        "id": session.id,
        "object": "v2.billing.meter_event_session",
        "authentication_token": session.token,
        "created": iso(session.created),
        "expires_at": iso(session.expires_at),
        "livemode": ctx.account.livemode,
    }


def create_meter_event_stream(ctx: Ctx, params: dict[str, Any]) -> Obj:
    """Up to 100 events; validation is asynchronous: refused events are only reported, not answered."""
    events = params["events"]
    if not events or len(events) > STREAM_MAX_EVENTS:
        raise param_error(
            f"events must contain between 1 and {STREAM_MAX_EVENTS} meter events.", param="events"
        )
    parsed: list[tuple[Obj, int | None]] = []
    for index, event in enumerate(events):
        ts = parse_iso(event["timestamp"], f"events[{index}][timestamp]") if "timestamp" in event else None
        parsed.append((event, ts))
    for event, ts in parsed:
        identifier = event.get("identifier")
        if identifier is not None and identifier in ctx.account.identifiers:
            continue  # a duplicate identifier within the uniqueness window is dropped, not counted twice
        try:
            ingest(ctx, event["event_name"], event["payload"], identifier, ts)
        except StripeError as error:
            ctx.account.meter_event_errors.append(
                {
                    "code": error.code,
                    "message": error.message,
                    "identifier": identifier,
                    "event_name": event["event_name"],
                    "received": ctx.now,
                }
            )
    return {}


# --------------------------------------------------------------------------- aggregation


def usage(ctx: Ctx, meter_id: str, customer: str, start: int, end: int) -> Decimal:
    """The meter's aggregate for ``customer`` over ``[start, end)``, per its formula and time window."""
    meter = ctx.account.meters.get(meter_id)
    if meter is None:
        return Decimal(0)
    events = [
        e
        for e in ctx.account.meter_events
        if e.meter == meter_id and e.customer == customer and start <= e.timestamp < end and not e.canceled
    ]
    window = {"hour": 3600, "day": 86400}.get(meter["event_time_window"] or "")
    if window is not None:
        # pre-aggregated meters: the most recently received event of each window replaces the others
        latest: dict[int, MeterEventRecord] = {}
        for event in events:
            bucket = event.timestamp // window
            if bucket not in latest or event.sequence > latest[bucket].sequence:
                latest[bucket] = event
        events = list(latest.values())
    formula = meter["default_aggregation"]["formula"]
    if formula == "count":
        return Decimal(len(events))
    if formula == "last":
        if not events:
            return Decimal(0)
        return max(events, key=lambda e: (e.timestamp, e.sequence)).value
    return sum((e.value for e in events), Decimal(0))


def list_event_summaries(ctx: Ctx, params: dict[str, Any], id: str) -> Obj:
    meter = _get_meter(ctx, id)
    if params["customer"] not in ctx.account.customers:
        raise no_such("customer", params["customer"], param="customer", status=400)
    start, end = params["start_time"], params["end_time"]
    grouping = params.get("value_grouping_window")
    step = {"hour": 3600, "day": 86400}.get(grouping or "", 60)
    for key, value in (("start_time", start), ("end_time", end)):
        if value % step:
            unit = grouping or "minute"
            raise invalid(f"{key} must be aligned with {unit} boundaries.", param=key)
    if end <= start:
        raise invalid("end_time must be after start_time.", param="end_time")
    windows = (
        [(start, end)] if grouping is None else [(t, min(t + step, end)) for t in range(start, end, step)]
    )
    rows = []
    for window_start, window_end in reversed(windows):
        digest = hashlib.sha256(
            f"{id}:{params['customer']}:{window_start}:{window_end}".encode()
        ).hexdigest()[:24]
        summary = template("billing.meter_event_summary")
        summary.update(
            id=f"mtrusg_{digest}",
            aggregated_value=float(usage(ctx, id, params["customer"], window_start, window_end)),
            start_time=window_start,
            end_time=window_end,
            livemode=ctx.account.livemode,
            meter=meter["id"],
        )
        rows.append(summary)
    return list_object(ctx, rows, params, f"/v1/billing/meters/{id}/event_summaries", "meter event summary")


def _resolve_meter(ctx: Ctx, object_id: str) -> Obj | None:
    return copy.deepcopy(ctx.account.meters.get(object_id))


RESOLVERS["mtr"] = _resolve_meter
