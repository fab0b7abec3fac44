"""Identity: OAuth2 authorization server, client registration, the caller (principal) and its
scopes, users (SCIM 2.0 provisioning, developer-portal self sign-up)."""
