"""Hashing and encryption of secrets."""
