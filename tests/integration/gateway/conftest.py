"""Fixtures for gateway tests (and for other areas' tests that need a running gateway)."""

from tests.integration.gateway.support import running_gateway

__all__ = ["running_gateway"]
