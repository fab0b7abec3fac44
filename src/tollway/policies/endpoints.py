"""Admin API: /throttling/policies/subscription (business plans)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from tollway.identity.principal import Principal, requires
from tollway.policies import service
from tollway.policies.schemas import PolicyIn, PolicyList, PolicyOut
from tollway.rest.deps import DbSession, Hooks
from tollway.rest.prefixes import ADMIN
from tollway.rest.responses import ERRORS

PATH = "/throttling/policies/subscription"

router = APIRouter(prefix=ADMIN + PATH, tags=["Throttling policies (business plans)"], responses=ERRORS)

Viewer = Annotated[Principal, Depends(requires("apim:tier_view", "apim:tier_manage"))]
Manager = Annotated[Principal, Depends(requires("apim:tier_manage"))]


@router.get("", response_model=PolicyList, summary="List the tenant's subscription policies")
def list_policies(session: DbSession, caller: Viewer) -> PolicyList:
    items = [service.policy_out(p) for p in service.list_policies(session, caller.tenant_id)]
    return PolicyList(count=len(items), list=items)


@router.post("", response_model=PolicyOut, status_code=201, summary="Create a subscription policy")
def create_policy(
    body: PolicyIn, session: DbSession, hooks: Hooks, caller: Manager, response: Response
) -> PolicyOut:
    policy = service.create_policy(session, hooks, caller.tenant_id, body)
    response.headers["Location"] = f"{ADMIN}{PATH}/{policy.id}"
    return service.policy_out(policy)


@router.get("/{policyId}", response_model=PolicyOut, summary="Get a subscription policy")
def get_policy(policyId: str, session: DbSession, caller: Viewer) -> PolicyOut:
    return service.policy_out(service.get_policy(session, caller.tenant_id, policyId))


@router.put("/{policyId}", response_model=PolicyOut, summary="Replace a subscription policy")
def update_policy(
    policyId: str, body: PolicyIn, session: DbSession, hooks: Hooks, caller: Manager
) -> PolicyOut:
    policy = service.get_policy(session, caller.tenant_id, policyId)
    return service.policy_out(service.update_policy(session, hooks, policy, body))


@router.delete(
    "/{policyId}", status_code=200, response_class=Response, summary="Delete a subscription policy"
)
def delete_policy(policyId: str, session: DbSession, hooks: Hooks, caller: Manager) -> Response:
    service.delete_policy(session, hooks, service.get_policy(session, caller.tenant_id, policyId))
    return Response(status_code=200)
