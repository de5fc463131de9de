"""The catalogue: versioned Avro contracts per service, compatibility and the wire codec."""

from contracts.errors import ContractError, InteropError

__all__ = ["ContractError", "InteropError"]
