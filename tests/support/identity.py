"""Users, tenants and access tokens for REST tests, made directly through the ORM.

Until the identity endpoints (SCIM2 users, /oauth2/token, tenants) exist, tests get their callers
here. ``OrmIdentity`` is the one place that knows how: a test that builds its callers through
an ``identity`` fixture switches to the HTTP endpoints by swapping the class behind it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from tollway.db.session import transaction
from tollway.identity.principal import qualified_username
from tollway.identity.roles import allowed_scopes
from tollway.identity.tokens import create_client, issue_tokens
from tollway.models import DEFAULT_TENANT, Tenant, User, UserRole
from tollway.policies.service import seed_default_policies
from tollway.runtime import Runtime
from tollway.security.hashing import hash_password

PASSWORD = "Secret-password-1"


@dataclass(frozen=True)
class Caller:
    """A signed-in user: who they are and the bearer token to send."""

    username: str  # qualified: "name" in carbon.super, "name@domain" elsewhere
    user_id: str
    tenant_id: str
    tenant_domain: str
    token: str
    scopes: frozenset[str]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class OrmIdentity:
    """Creates tenants, users and tokens straight in the database."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def tenant(self, domain: str) -> str:
        """Create the tenant (with WSO2's default plans, as tenant creation does); its id."""
        with transaction(self.runtime.session_factory) as session:
            tenant = session.scalar(select(Tenant).where(Tenant.domain == domain))
            if tenant is None:
                tenant = Tenant(domain=domain, config={})
                session.add(tenant)
                session.flush()
                seed_default_policies(session, tenant.id)
            return tenant.id

    def user(self, name: str, roles: Iterable[str], tenant: str = DEFAULT_TENANT) -> Caller:
        """A new user with ``roles``, signed in with every scope the roles allow."""
        self.tenant(tenant)
        with transaction(self.runtime.session_factory) as session:
            tenant_row = session.scalar(select(Tenant).where(Tenant.domain == tenant))
            assert tenant_row is not None
            user = User(tenant_id=tenant_row.id, username=name, password_hash=hash_password(PASSWORD))
            user.roles.extend(UserRole(role=role) for role in roles)
            session.add(user)
            session.flush()
        return self.login(name, tenant)

    def login(self, name: str, tenant: str = DEFAULT_TENANT, scopes: Iterable[str] | None = None) -> Caller:
        """A token for an existing user: the roles' scopes, or the given ones (for 403 tests)."""
        with transaction(self.runtime.session_factory) as session:
            tenant_row = session.scalar(select(Tenant).where(Tenant.domain == tenant))
            assert tenant_row is not None
            user = session.scalar(select(User).where(User.tenant_id == tenant_row.id, User.username == name))
            assert user is not None, f"no user {name} in {tenant}"
            granted = (
                frozenset(scopes)
                if scopes is not None
                else allowed_scopes(user.role_names, default_tenant=tenant == DEFAULT_TENANT)
            )
            client, _ = create_client(
                session,
                tenant_id=tenant_row.id,
                client_name=f"tests-{name}",
                owner_id=user.id,
                grant_types="password",
            )
            issued = issue_tokens(
                session, client=client, user=user, scopes=granted, access_ttl=3600, refresh_ttl=None
            )
            return Caller(
                username=qualified_username(name, tenant),
                user_id=user.id,
                tenant_id=tenant_row.id,
                tenant_domain=tenant,
                token=issued.access_token,
                scopes=granted,
            )
