"""The control-plane ASGI application: every router, the OpenAPI documents, the lifespan."""
