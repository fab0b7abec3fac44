"""Bodies of the tenant endpoints of the admin API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from tollway.identity.users import DOMAIN_SCHEMA, LOGIN_SCHEMA, PASSWORD_SCHEMA
from tollway.models import DEFAULT_TENANT


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    domain: str = Field(
        description=f"lower-case DNS name, e.g. example.com; not {DEFAULT_TENANT}",
        json_schema_extra=DOMAIN_SCHEMA,
    )
    adminUsername: str = Field(
        description="the tenant admin's name, without or with '@<domain>'", json_schema_extra=LOGIN_SCHEMA
    )
    adminPassword: str = Field(description="8 to 256 characters", json_schema_extra=PASSWORD_SCHEMA)


class TenantOut(BaseModel):
    domain: str
    adminUsername: str | None
    active: bool


class TenantList(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    count: int
    items: list[TenantOut] = Field(alias="list")
