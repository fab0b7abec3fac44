"""Tests that pin the behaviour of the fakes in tests/fakes against the official clients."""
