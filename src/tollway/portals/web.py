"""What every portal page shares: templates, the request context, forms with CSRF, error pages.

Handlers run their database work in their own unit of work (``ctx.unit_of_work()``) so that a
refused form rolls back everything the service flushed before it refused, and the page can still
answer with the form and the error in words.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import HTMLResponse, RedirectResponse, Response

from tollway.db.session import transaction
from tollway.errors import Forbidden, NotFound, TollwayError
from tollway.identity.principal import Principal
from tollway.identity.roles import allowed_scopes
from tollway.models import DEFAULT_TENANT
from tollway.portals import formatting
from tollway.portals.sessions import (
    CSRF_FIELD,
    CSRF_HEADER,
    PortalSession,
    PortalUser,
    load_session,
    resolve_user,
    store_session,
)
from tollway.runtime import Runtime

log = logging.getLogger(__name__)

Portal = Literal["admin", "publisher", "devportal"]
PORTAL_TITLES: dict[str, str] = {
    "admin": "Admin Portal",
    "publisher": "Publisher Portal",
    "devportal": "Developer Portal",
}
STATIC_DIR = Path(__file__).parent / "static"
# No framing (clickjacking) and no page addresses leaked to other sites.
PAGE_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}
GENERIC_ERROR = "Something went wrong on our side and the action was not completed. It has been logged."

_env = Environment(
    loader=PackageLoader("tollway.portals", "templates"),
    autoescape=select_autoescape(["html", "svg"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters.update(formatting.FILTERS)

NAV: dict[str, list[tuple[str, str]]] = {
    "admin": [
        ("/admin/plans", "Business plans"),
        ("/admin/wallets", "Wallets"),
        ("/admin/invoices", "Invoices"),
        ("/admin/tasks", "Tasks"),
        ("/admin/users", "Users"),
        ("/admin/monetization", "Monetization"),
    ],
    "publisher": [
        ("/publisher/apis", "APIs"),
        ("/publisher/wallets", "Wallets"),
        ("/publisher/webhooks", "Webhooks"),
    ],
    "devportal": [
        ("/devportal/apis", "APIs"),
        ("/devportal/applications", "Applications"),
        ("/devportal/subscriptions", "Subscriptions"),
        ("/devportal/invoices", "Invoices"),
        ("/devportal/wallets", "Wallet"),
        ("/devportal/alerts", "Alerts"),
    ],
}


def nav_links(portal: str, user: PortalUser | None) -> list[tuple[str, str]]:
    if user is None and portal != "devportal":
        return []
    if user is None:
        return NAV["devportal"][:1]
    if portal == "admin" and user.tenant_domain == DEFAULT_TENANT:
        return [*NAV[portal], ("/admin/tenants", "Tenants")]  # only the default tenant manages tenants
    return NAV[portal]


_env.globals["nav_links"] = nav_links
_env.globals.update(formatting.GLOBALS)


class SignInRequired(Exception):
    """Raised by the context dependencies; answered with a redirect to the sign-in page."""


def portal_of(path: str) -> Portal:
    first = path.strip("/").split("/", 1)[0]
    if first in ("admin", "publisher"):
        return first  # type: ignore[return-value]
    return "devportal"


@dataclass
class PortalContext:
    """One portal request: who is signed in, their cookie session, and how to answer."""

    request: Request
    runtime: Runtime
    session: PortalSession
    user: PortalUser | None
    portal: Portal

    @property
    def me(self) -> PortalUser:
        if self.user is None:
            raise SignInRequired
        return self.user

    @property
    def principal(self) -> Principal:
        """The signed-in user as the domain services know callers (same scopes as their REST token)."""
        me = self.me
        return Principal(
            tenant_id=me.tenant_id,
            tenant_domain=me.tenant_domain,
            user_id=me.user_id,
            username=me.display_name,
            roles=me.roles,
            scopes=allowed_scopes(me.roles, default_tenant=me.tenant_domain == DEFAULT_TENANT),
            client_pk="",
            application_id=None,
        )

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        with transaction(self.runtime.session_factory) as db:
            yield db

    def render(self, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
        context = {
            "portal": self.portal,
            "portal_title": PORTAL_TITLES[self.portal],
            "user": self.user,
            "csrf_token": self.session.csrf_token,
            "flash": self.session.pop_flash(),
            "path": self.request.url.path,
            "error": None,
            **values,
        }
        html = _env.get_template(template).render(context)
        response = HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)
        if self.user is not None:
            # A signed-in person's pages are theirs alone: not kept for the back button after sign-out.
            response.headers["Cache-Control"] = "no-store"
        store_session(self.request, self.runtime, response)
        return response

    def redirect(self, url: str, flash: str | None = None) -> Response:
        if flash:
            self.session.flash(flash)
        if self.request.headers.get("hx-request"):
            response: Response = Response(status_code=204, headers={"HX-Redirect": url})
        else:
            response = RedirectResponse(url, status_code=303)
        store_session(self.request, self.runtime, response)
        return response


def _context(request: Request) -> PortalContext:
    runtime: Runtime = request.app.state.runtime
    session = load_session(request, runtime)
    user = None
    if session.user_id is not None:
        with transaction(runtime.session_factory) as db:
            user = resolve_user(db, session)
    return PortalContext(request, runtime, session, user, portal_of(request.url.path))


def any_visitor(request: Request) -> PortalContext:
    return _context(request)


def signed_in(request: Request) -> PortalContext:
    ctx = _context(request)
    _ = ctx.me
    return ctx


def admin_user(request: Request) -> PortalContext:
    ctx = signed_in(request)
    if not ctx.me.is_admin:
        raise Forbidden("The admin portal is for administrators; your account is not one.")
    return ctx


def publisher_user(request: Request) -> PortalContext:
    ctx = signed_in(request)
    if not ctx.me.can_publish:
        raise Forbidden("The publisher portal is for API publishers and creators; your account is neither.")
    return ctx


async def checked_form(request: Request) -> FormData:
    """The submitted form, refused unless it carries this session's CSRF token."""
    runtime: Runtime = request.app.state.runtime
    form = await request.form()
    presented = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    if not load_session(request, runtime).check_csrf(presented if isinstance(presented, str) else None):
        raise Forbidden("This form has expired. Reload the page and try again.")
    return form


Visitor = Depends(any_visitor)
SignedIn = Depends(signed_in)
AdminUser = Depends(admin_user)
PublisherUser = Depends(publisher_user)
Form = Depends(checked_form)


def error_message(exc: TollwayError) -> str:
    """The words shown to a person for a refused action."""
    return exc.description or exc.message


class PortalRoute(APIRoute):
    """Answers failures with pages: sign-in redirects, error pages in words, never a traceback."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        inner = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await inner(request)
            except SignInRequired:
                return _to_sign_in(request)
            except NotFound:
                return error_page(request, 404, "Not found", "There is nothing here, or it is not yours.")
            except TollwayError as exc:
                return error_page(request, exc.status_code, exc.message, error_message(exc))
            except RequestValidationError:
                return error_page(request, 400, "Bad request", "The address or form is not valid.")
            except StarletteHTTPException as exc:
                detail = exc.detail if isinstance(exc.detail, str) else "The request was refused."
                return error_page(request, exc.status_code, "Error", detail)
            except Exception:
                log.exception("portal page %s failed", request.url.path)
                return error_page(request, 500, "Error", GENERIC_ERROR)

        return handler


def _to_sign_in(request: Request) -> Response:
    portal = portal_of(request.url.path)
    target = request.url.path if request.method == "GET" else f"/{portal}"
    url = f"/{portal}/login?next={quote(target, safe='/')}"
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def error_page(request: Request, status: int, title: str, message: str) -> Response:
    runtime: Runtime = request.app.state.runtime
    portal = portal_of(request.url.path)
    try:
        ctx = _context(request)
    except Exception:  # the database itself failed: still answer with a page
        log.exception("portal error page could not load the session")
        ctx = PortalContext(request, runtime, PortalSession(), None, portal)
    return ctx.render("error.html", status_code=status, title=title, message=message, status=status)


def add_not_found_page(router: APIRouter) -> None:
    """Register last: any other address under the portal is a 404 page, not a JSON error."""

    @router.api_route("/{rest:path}", methods=["GET", "POST"], include_in_schema=False)
    def not_found(rest: str) -> Response:
        raise NotFound("no such page")
