"""Sign-in and sign-out for the three portals, and the portals' static files."""

from __future__ import annotations

import re
from typing import Literal

from fastapi import APIRouter
from starlette.datastructures import FormData
from starlette.responses import FileResponse, RedirectResponse, Response

from tollway.errors import NotFound
from tollway.portals import services
from tollway.portals.web import STATIC_DIR, Form, PortalContext, PortalRoute, Visitor

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

_STATIC_NAME = re.compile(r"^[A-Za-z0-9_.-]+\.(css|js)$")
_MEDIA_TYPES = {"css": "text/css", "js": "text/javascript"}
PortalName = Literal["admin", "publisher", "devportal"]


@router.get("/")
def root() -> Response:
    return RedirectResponse("/devportal", status_code=307)


@router.get("/portal-static/{name}")
def static_file(name: str) -> Response:
    match = _STATIC_NAME.match(name)
    path = STATIC_DIR / name
    if match is None or not path.is_file():
        raise NotFound("no such file")
    return FileResponse(
        path, media_type=_MEDIA_TYPES[match.group(1)], headers={"Cache-Control": "public, max-age=3600"}
    )


def safe_next(portal: str, value: object) -> str:
    """Only a path inside the same portal: no open redirect to another site."""
    if (
        isinstance(value, str)
        and re.fullmatch(rf"/{portal}(/[A-Za-z0-9_./?=&%-]*)?", value)
        and "//" not in value
        and ".." not in value
    ):
        return value
    return f"/{portal}"


def _login_page(ctx: PortalContext, next_url: str, username: str = "", error: str | None = None) -> Response:
    status = 200 if error is None else 400
    return ctx.render(
        "login.html", status_code=status, title="Sign in", next_url=next_url, username=username, error=error
    )


def _login_form(portal: PortalName) -> None:
    @router.get(f"/{portal}/login", name=f"{portal}_login")
    def login_page(next: str = "", ctx: PortalContext = Visitor) -> Response:
        target = safe_next(portal, next)
        if ctx.user is not None:
            return ctx.redirect(target)
        return _login_page(ctx, target)

    @router.post(f"/{portal}/login", name=f"{portal}_login_submit")
    def login_submit(ctx: PortalContext = Visitor, form: FormData = Form) -> Response:
        username = str(form.get("username") or "")
        password = str(form.get("password") or "")
        target = safe_next(portal, form.get("next"))
        if not username.strip() or not password:
            return _login_page(ctx, target, username, "Enter your username and password.")
        with ctx.unit_of_work() as db:
            user = services.authenticate(db, username, password)
            if user is not None:
                ctx.session.sign_in(user)
        if user is None:
            return _login_page(ctx, target, username, "The username or password is not correct.")
        return ctx.redirect(target)

    @router.post(f"/{portal}/logout", name=f"{portal}_logout")
    def logout(ctx: PortalContext = Visitor, form: FormData = Form) -> Response:
        ctx.session.sign_out()
        return ctx.redirect(f"/{portal}/login", flash="You have signed out.")


_PORTALS: tuple[PortalName, ...] = ("admin", "publisher", "devportal")
for _portal in _PORTALS:
    _login_form(_portal)
