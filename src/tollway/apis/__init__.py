"""APIs: the publisher's CRUD and lifecycle, and the developer portal's catalog."""
