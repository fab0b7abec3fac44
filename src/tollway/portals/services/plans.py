"""Business plans for the admin portal, through tollway.policies."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from tollway.errors import BadRequest
from tollway.identity.principal import Principal
from tollway.policies import service as policy_service
from tollway.policies.schemas import PolicyIn
from tollway.portals.forms import words_for
from tollway.portals.services.common import checked_id, dump, require
from tollway.runtime import Runtime


def _policy_in(body: dict[str, Any]) -> PolicyIn:
    try:
        return PolicyIn.model_validate(body)
    except ValidationError as exc:
        raise BadRequest(words_for(exc)) from None


def list_plans(db: Session, principal: Principal) -> list[dict[str, Any]]:
    require(principal, "apim:tier_view", "apim:tier_manage")
    return [dump(policy_service.policy_out(p)) for p in policy_service.list_policies(db, principal.tenant_id)]


def get_plan(db: Session, principal: Principal, policy_id: str) -> dict[str, Any]:
    require(principal, "apim:tier_view", "apim:tier_manage")
    return dump(
        policy_service.policy_out(policy_service.get_policy(db, principal.tenant_id, checked_id(policy_id)))
    )


def create_plan(db: Session, runtime: Runtime, principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
    require(principal, "apim:tier_manage")
    policy = policy_service.create_policy(db, runtime.hooks, principal.tenant_id, _policy_in(body))
    return dump(policy_service.policy_out(policy))


def update_plan(
    db: Session, runtime: Runtime, principal: Principal, policy_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    require(principal, "apim:tier_manage")
    policy = policy_service.get_policy(db, principal.tenant_id, checked_id(policy_id))
    return dump(
        policy_service.policy_out(policy_service.update_policy(db, runtime.hooks, policy, _policy_in(body)))
    )


def delete_plan(db: Session, runtime: Runtime, principal: Principal, policy_id: str) -> None:
    require(principal, "apim:tier_manage")
    policy_service.delete_policy(
        db, runtime.hooks, policy_service.get_policy(db, principal.tenant_id, checked_id(policy_id))
    )
