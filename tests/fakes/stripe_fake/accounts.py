"""Account objects: the platform behind a secret key and its connected accounts."""

from __future__ import annotations

import copy
from typing import Any

from .errors import StripeError, mask_key
from .fixtures import template
from .state import RESOLVERS, AccountState, Ctx, Obj


def account_object(account_id: str, *, created: int, connected: bool, fields: dict[str, Any]) -> Obj:
    account = template("account")
    account.update(
        id=account_id,
        business_type=None,
        charges_enabled=True,
        controller={"type": "application", "is_controller": True} if connected else {"type": "account"},
        country="US",
        created=created,
        default_currency="usd",
        details_submitted=True,
        email=None,
        metadata={},
        payouts_enabled=True,
        type="standard",
    )
    account["external_accounts"]["url"] = f"/v1/accounts/{account_id}/external_accounts"
    for requirements in ("requirements", "future_requirements"):
        account[requirements].update(currently_due=[], eventually_due=[], past_due=[], disabled_reason=None)
    account.update(fields)
    return account


def no_access(api_key: str, account_id: str) -> StripeError:
    """What Stripe answers when a key names an account it is not connected to (HTTP 403)."""
    return StripeError(
        403,
        f"The provided key '{mask_key(api_key)}' does not have access to account '{account_id}' (or that "
        "account does not exist). Application access may have been revoked.",
        code="account_invalid",
    )


def retrieve_current(ctx: Ctx, params: dict[str, Any]) -> Obj:
    return copy.deepcopy(ctx.account.object)


def make_retrieve(accounts: dict[str, AccountState]) -> Any:
    def retrieve_account(ctx: Ctx, params: dict[str, Any], id: str) -> Obj:
        target = accounts.get(id)
        acting = ctx.account
        if target is None or not (target.id == acting.id or target.platform == acting.id):
            raise no_access(ctx.api_key, id)
        return copy.deepcopy(target.object)

    return retrieve_account


def _resolve_account(ctx: Ctx, object_id: str) -> Obj | None:
    return copy.deepcopy(ctx.account.object) if object_id == ctx.account.id else None


RESOLVERS["acct"] = _resolve_account
