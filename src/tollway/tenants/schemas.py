"""Bodies of the tenant endpoints of the admin API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    domain: str = Field(description="lower-case DNS name, e.g. example.com")
    adminUsername: str = Field(description="the tenant admin's name, without or with '@<domain>'")
    adminPassword: str = Field(description="at least 8 characters")


class TenantOut(BaseModel):
    domain: str
    adminUsername: str | None
    active: bool


class TenantList(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    count: int
    items: list[TenantOut] = Field(alias="list")
