"""Identity: OAuth2 authorization server, client registration, scopes, SCIM2 users."""
