"""The HTTP gateway that back-office systems call (arrives with the gateway issue)."""

__all__: list[str] = []
