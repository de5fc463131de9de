"""A request's data on its way to the bus: validated, its personal fields sealed for the
provider (``bus.field_encryption``), encoded with the version's locked request schema.

``RequestEncoder.validate`` runs where the API's order puts data validation (400 with
every problem by ``/data`` pointer); ``encode`` runs once the exchange id exists (the
ciphertexts are bound to it). A version's personal fields are its subject fields and its
``personal_fields``. They are sealed when the provider lists an encryption key in the
members file; with ``field_encryption: required`` a provider without one is refused
(503) rather than sent identifiers in clear.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from bus import FieldSealer, RecipientKey
from contracts import (
    Codec,
    DataValidationError,
    EncodeError,
    LockFile,
    SchemaId,
    json_to_avro,
)
from gateway.errors import FieldProblem, InvalidRequestError, ServiceUnavailableError

__all__ = ["EncodedRequest", "RecipientLookup", "RequestEncoder", "ValidatedData"]

RecipientLookup = Callable[[str, datetime], RecipientKey | None]
"""(provider member id, now) -> the key to seal its requests' personal fields for."""


@dataclass(frozen=True, slots=True)
class ValidatedData:
    """A request's data as the Avro datum of the version's request schema."""

    schema_id: SchemaId
    datum: dict[str, Any]


@dataclass(frozen=True, slots=True)
class EncodedRequest:
    """The record value, and the wrapped data key when personal fields were sealed."""

    value: bytes
    field_key: str | None


class RequestEncoder:
    """Validates, seals and encodes request data for one gateway."""

    def __init__(
        self,
        *,
        codec: Codec,
        lock: LockFile,
        recipients: RecipientLookup,
        mode: Literal["required", "when_keyed"],
    ) -> None:
        self._codec = codec
        self._lock = lock
        self._recipients = recipients
        self._mode = mode
        self._sealer = FieldSealer()

    def validate(self, service_id: str, version: Any, data: dict[str, Any]) -> ValidatedData:
        """``data`` against the version's request schema; 400 listing every problem."""
        entry = self._lock.entry(service_id, str(version.version), "request")
        if entry is None:  # pragma: no cover - the app checks the lock at start-up
            raise ServiceUnavailableError(f"{service_id} {version.version} is not locked")
        try:
            datum = json_to_avro(version.request, data)
        except DataValidationError as exc:
            problems = [
                FieldProblem("/data" + pointer, message) for pointer, message in exc.problems
            ]
            raise InvalidRequestError(
                f"{len(problems)} problem(s) in data for {service_id} {version.version}",
                problems,
            ) from None
        return ValidatedData(entry.schema_id, datum)

    def encode(
        self,
        data: ValidatedData,
        *,
        sealed_fields: tuple[str, ...],
        provider: str,
        exchange_id: str,
        now: datetime,
    ) -> EncodedRequest:
        """The record value, personal fields sealed for ``provider`` when it has a key."""
        datum, field_key = data.datum, None
        if sealed_fields:
            recipient = self._recipients(provider, now)
            if recipient is not None:
                datum, field_key = self._sealer.seal(
                    datum, sealed_fields, exchange_id=exchange_id, recipient=recipient
                )
            elif self._mode == "required":
                raise ServiceUnavailableError(
                    f"{provider} lists no encryption key in the members file: its requests "
                    "carry personal data and are not sent in clear"
                )
        try:
            return EncodedRequest(self._codec.encode(data.schema_id, datum), field_key)
        except EncodeError:
            raise InvalidRequestError(
                "data does not fit the request schema", [FieldProblem("/data", "not encodable")]
            ) from None
