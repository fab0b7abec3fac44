"""First-start set-up: the default tenant and its admin user."""

from __future__ import annotations

import ipaddress
import logging
import os

from sqlalchemy import select
from sqlalchemy.orm import Session

from tollway.errors import ConfigError
from tollway.identity.roles import ROLE_ADMIN
from tollway.models import DEFAULT_TENANT, Tenant, User, UserRole
from tollway.policies.service import seed_default_policies
from tollway.security.hashing import hash_password, verify_password

log = logging.getLogger(__name__)

ADMIN_PASSWORD_ENV = "TOLLWAY_ADMIN_PASSWORD"  # noqa: S105 - a variable name, not a secret
DEFAULT_ADMIN_PASSWORD = "admin"  # noqa: S105 - allowed only on loopback, with a warning


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def admin_password(host: str) -> str:
    password = os.environ.get(ADMIN_PASSWORD_ENV)
    if password:
        return password
    if not is_loopback(host):
        raise ConfigError(
            f"{ADMIN_PASSWORD_ENV} must be set when listening on {host}: "
            "the default admin password is allowed only on loopback"
        )
    log.warning(
        "user 'admin' has the default password 'admin'; set %s before exposing Tollway", ADMIN_PASSWORD_ENV
    )
    return DEFAULT_ADMIN_PASSWORD


def ensure_default_tenant(session: Session, host: str) -> Tenant:
    """Create ``carbon.super`` and ``admin`` once; later starts reuse them untouched."""
    tenant = session.scalar(select(Tenant).where(Tenant.domain == DEFAULT_TENANT))
    if tenant is None:
        tenant = Tenant(domain=DEFAULT_TENANT, config={})
        session.add(tenant)
        session.flush()
        seed_default_policies(session, tenant.id)
    admin = session.scalar(select(User).where(User.tenant_id == tenant.id, User.username == "admin"))
    if admin is None:
        admin = User(tenant_id=tenant.id, username="admin", password_hash=hash_password(admin_password(host)))
        admin.roles.append(UserRole(role=ROLE_ADMIN))
        session.add(admin)
        session.flush()
        log.info("created tenant %s and user admin", DEFAULT_TENANT)
    elif not is_loopback(host) and verify_password(admin.password_hash, DEFAULT_ADMIN_PASSWORD):
        # Never expose an admin that still has the default password.
        admin.password_hash = hash_password(admin_password(host))
        session.flush()
    return tenant
