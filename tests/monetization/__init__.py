"""Tests for tollway.monetization."""
