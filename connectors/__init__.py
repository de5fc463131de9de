"""The provider side: handler SDK, runtime and adapters (arrives with the connectors issue)."""

__all__: list[str] = []
