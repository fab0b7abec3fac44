"""Sign-in and self sign-up, through tollway.users."""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy.orm import Session

from tollway.errors import BadRequest, Conflict, NotFound
from tollway.identity import repository as user_repository
from tollway.identity import signup
from tollway.identity import users as user_service
from tollway.identity.users import UsernameTaken
from tollway.models import User
from tollway.portals.forms import words_for
from tollway.runtime import Runtime


def authenticate(db: Session, login: str, password: str) -> User | None:
    return user_service.authenticate(db, login, password)


def sign_up(db: Session, runtime: Runtime, fields: dict[str, str]) -> User:
    """Self sign-up in the default tenant (role Internal/subscriber), through the sign-up endpoint's
    own function (tollway.identity.signup has no separate service function)."""
    claims = [
        {"uri": uri, "value": fields[name]}
        for name, uri in (
            ("givenName", signup.CLAIM_GIVEN_NAME),
            ("familyName", signup.CLAIM_LAST_NAME),
            ("email", signup.CLAIM_EMAIL),
        )
        if fields.get(name)
    ]
    try:
        body = signup.SignUpRequest.model_validate(
            {
                "user": {
                    "username": fields.get("username", ""),
                    "password": fields.get("password", ""),
                    "claims": claims,
                }
            }
        )
    except ValidationError as exc:
        raise BadRequest(words_for(exc)) from None
    try:
        created = signup.sign_up(body, db, None, None)
    except UsernameTaken:
        raise Conflict("That username is taken; choose another.") from None
    name, domain = user_service.split_login(created.user.username)
    tenant = user_repository.tenant_by_domain(db, domain)
    found = user_repository.user_by_name(db, tenant.id, name) if tenant else None
    if found is None:  # pragma: no cover - the row was flushed by the sign-up just above
        raise NotFound("the new account could not be found")
    return found
