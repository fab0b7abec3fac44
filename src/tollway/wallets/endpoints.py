"""REST: wallets of the tenant (admin), credits (admin, publisher), the caller's own wallets (store)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from sqlalchemy.orm import Session

from tollway.identity.principal import Principal, requires
from tollway.models import Wallet
from tollway.rest.deps import DbSession
from tollway.rest.pagination import Page, page
from tollway.rest.prefixes import ADMIN, PUBLISHER, STORE
from tollway.rest.responses import ERRORS
from tollway.rest.schemas import clean_query
from tollway.wallets import service
from tollway.wallets.schemas import (
    CURRENCY_PATTERN,
    OWNER_MAX,
    CreditIn,
    EntryList,
    EntryOut,
    GrantIn,
    StoreWalletList,
    WalletList,
    WalletOut,
)

TAGS: list[str | Any] = ["Wallets (prepaid credits)"]
admin_router = APIRouter(prefix=ADMIN + "/wallets", tags=TAGS, responses=ERRORS)
publisher_router = APIRouter(prefix=PUBLISHER + "/wallets", tags=TAGS, responses=ERRORS)
store_router = APIRouter(prefix=STORE + "/wallets", tags=TAGS, responses=ERRORS)

Admin = Annotated[Principal, Depends(requires("apim:admin"))]
Publisher = Annotated[Principal, Depends(requires("apim:api_publish"))]
Subscriber = Annotated[Principal, Depends(requires("apim:subscribe"))]
Paging = Annotated[Page, Depends(page)]
WalletId = Annotated[str, Path(max_length=64)]
CurrencyPath = Annotated[str, Path(pattern=CURRENCY_PATTERN, description="ISO 4217 code, any case")]
ALREADY_MADE: dict[int | str, dict[str, Any]] = {
    200: {"model": EntryOut, "description": "The entry already made with this reference (nothing changed)"}
}


def _entry_list(session: Session, wallet: Wallet, tenant_id: str, paging: Page) -> EntryList:
    total, rows, left = service.entries_page(session, wallet, limit=paging.limit, offset=paging.offset)
    items = [service.entry_out(row, wallet.currency, tenant_id, left) for row in rows]
    return EntryList(count=len(items), list=items, pagination=paging.pagination(total))


def _one(session: Session, tenant_domain: str, wallet: Wallet) -> WalletOut:
    return service.wallet_out(service.views(session, tenant_domain, [wallet])[0])


def _credited(session: Session, caller: Principal, body: GrantIn, response: Response) -> EntryOut:
    made = service.credit(session, caller, body)
    left: dict[str, Decimal] = {}
    if not made.created:
        response.status_code = 200
        left = service.credits_left(session, made.wallet.id)  # used since, perhaps
    return service.entry_out(made.entry, made.wallet.currency, caller.tenant_id, left)


# ---------------------------------------------------------------------------------------------
# Admin


@admin_router.get("", response_model=WalletList, summary="The tenant's wallets")
def list_wallets(
    session: DbSession,
    caller: Admin,
    paging: Paging,
    owner: Annotated[str | None, Query(max_length=OWNER_MAX, description="a username")] = None,
    currency: Annotated[str | None, Query(pattern=CURRENCY_PATTERN, description="ISO 4217 code")] = None,
) -> WalletList:
    owner_name = clean_query(owner, "owner", max_length=OWNER_MAX)
    code = service.currency_of(currency) if currency is not None else None
    owner_id: str | None = None
    if owner_name is not None:
        user = service.owner_named(session, caller, owner_name)
        if user is None:
            return WalletList(
                count=0, list=[], pagination=paging.pagination(0, owner=owner_name, currency=code)
            )
        owner_id = user.id
    total, wallets = service.list_wallets(
        session, caller.tenant_id, owner_id=owner_id, currency=code, limit=paging.limit, offset=paging.offset
    )
    items = [service.wallet_out(view) for view in service.views(session, caller.tenant_domain, wallets)]
    return WalletList(
        count=len(items), list=items, pagination=paging.pagination(total, owner=owner_name, currency=code)
    )


@admin_router.post(
    "/credits",
    response_model=EntryOut,
    status_code=201,
    responses=ALREADY_MADE,
    summary="Credit a subscriber's wallet: a grant, a top-up (payment received) or an adjustment",
)
def credit(body: CreditIn, session: DbSession, caller: Admin, response: Response) -> EntryOut:
    entry = _credited(session, caller, body, response)
    response.headers["Location"] = f"{ADMIN}/wallets/{entry.walletId}"
    return entry


@admin_router.get("/{walletId}", response_model=WalletOut, summary="A wallet of the tenant")
def get_wallet(walletId: WalletId, session: DbSession, caller: Admin) -> WalletOut:
    return _one(session, caller.tenant_domain, service.get_wallet(session, caller.tenant_id, walletId))


@admin_router.get("/{walletId}/entries", response_model=EntryList, summary="A wallet's entries, newest first")
def list_entries(walletId: WalletId, session: DbSession, caller: Admin, paging: Paging) -> EntryList:
    wallet = service.get_wallet(session, caller.tenant_id, walletId)
    return _entry_list(session, wallet, caller.tenant_id, paging)


# ---------------------------------------------------------------------------------------------
# Publisher


@publisher_router.post(
    "/credits",
    response_model=EntryOut,
    status_code=201,
    responses=ALREADY_MADE,
    summary="Grant credit to a subscriber of the tenant",
)
def grant(body: GrantIn, session: DbSession, caller: Publisher, response: Response) -> EntryOut:
    return _credited(session, caller, body, response)


# ---------------------------------------------------------------------------------------------
# Developer portal: the caller's own wallets


@store_router.get("", response_model=StoreWalletList, summary="Your wallets")
def my_wallets(session: DbSession, caller: Subscriber) -> StoreWalletList:
    _, wallets = service.list_wallets(session, caller.tenant_id, owner_id=service.user_of(caller))
    items = [service.wallet_out(view) for view in service.views(session, caller.tenant_domain, wallets)]
    return StoreWalletList(count=len(items), list=items)


@store_router.get("/{currency}", response_model=WalletOut, summary="Your wallet in a currency")
def my_wallet(currency: CurrencyPath, session: DbSession, caller: Subscriber) -> WalletOut:
    return _one(session, caller.tenant_domain, service.own_wallet(session, caller, currency))


@store_router.get(
    "/{currency}/entries", response_model=EntryList, summary="Your wallet's entries, newest first"
)
def my_entries(currency: CurrencyPath, session: DbSession, caller: Subscriber, paging: Paging) -> EntryList:
    wallet = service.own_wallet(session, caller, currency)
    return _entry_list(session, wallet, caller.tenant_id, paging)
