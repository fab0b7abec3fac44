"""``?limit=&offset=`` paging and WSO2's ``pagination`` block."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Query, Request

from tollway.rest.schemas import MAX_INT, ResponseBody

DEFAULT_LIMIT = 25
MAX_LIMIT = 1000


class Pagination(ResponseBody):
    offset: int
    limit: int
    total: int
    next: str
    previous: str


@dataclass(frozen=True, slots=True)
class Page:
    limit: int
    offset: int
    request: Request

    def pagination(self, total: int, **params: str | None) -> Pagination:
        """WSO2's block: ``next``/``previous`` are relative links ("" at either end)."""
        kept = {key: value for key, value in params.items() if value is not None}

        def link(offset: int) -> str:
            query = urlencode({"limit": self.limit, "offset": offset, **kept})
            return f"{self.request.url.path}?{query}"

        has_next = self.offset + self.limit < total
        has_previous = self.offset > 0
        return Pagination(
            offset=self.offset,
            limit=self.limit,
            total=total,
            next=link(self.offset + self.limit) if has_next else "",
            previous=link(max(0, self.offset - self.limit)) if has_previous else "",
        )


def page(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="most items to return")] = DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, le=MAX_INT, description="items to skip")] = 0,
) -> Page:
    return Page(limit=limit, offset=offset, request=request)
