"""The web portals: /admin, /publisher and /devportal, server-rendered on the domain services."""

from __future__ import annotations

from fastapi import APIRouter


def portal_routers() -> list[APIRouter]:
    from tollway.portals import admin, devportal, publisher, signin

    return [signin.router, admin.router, publisher.router, devportal.router]
