"""Fixtures for batch tests: the gateway fixtures (a real gateway, broker and provider)."""

from tests.integration.gateway.support import running_gateway

__all__ = ["running_gateway"]
