"""Sign-in and self sign-up, through tollway.users."""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy.orm import Session

from tollway.errors import BadRequest, Conflict
from tollway.identity import signup
from tollway.identity import users as user_service
from tollway.identity.users import UsernameTaken
from tollway.models import DEFAULT_TENANT, User
from tollway.portals.forms import words_for
from tollway.runtime import Runtime


def authenticate(db: Session, login: str, password: str) -> User | None:
    return user_service.authenticate(db, login, password)


def sign_up(db: Session, runtime: Runtime, fields: dict[str, str]) -> User:
    """Self sign-up in the default tenant (role Internal/subscriber), as the REST sign-up does."""
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
        return signup.sign_up(db, DEFAULT_TENANT, body)
    except UsernameTaken:
        raise Conflict("That username is taken; choose another.") from None
