"""Helpers shared by unit and integration tests (real certificates, not mocks)."""
