"""Developer-portal applications, their OAuth2 key pairs and API keys."""
