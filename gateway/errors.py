"""The gateway family of errors: each one is an HTTP problem (RFC 9457) with a stable code.

::

    InteropError
    └── GatewayError                      500  GATEWAY_ERROR (never raised as such)
        ├── InvalidRequestError           400  INVALID_REQUEST (carries field problems)
        │   └── SubjectMismatchError      400  SUBJECT_MISMATCH (data names another subject)
        ├── UnauthenticatedError          401  UNAUTHENTICATED
        ├── ForbiddenError                403  FORBIDDEN
        │   ├── ConsentRequiredError      403  CONSENT_REQUIRED (explicit: no usable consent)
        │   └── OppositionActiveError     403  OPPOSITION_ACTIVE (presumed: the subject objects)
        ├── NotFoundError                 404  NOT_FOUND
        │   ├── UnknownServiceError       404  UNKNOWN_SERVICE
        │   ├── UnknownVersionError       404  UNKNOWN_VERSION
        │   ├── UnknownProviderError      404  UNKNOWN_PROVIDER
        │   ├── UnknownExchangeError      404  UNKNOWN_EXCHANGE
        │   ├── UnknownConsentError       404  UNKNOWN_CONSENT
        │   └── UnknownOppositionError    404  UNKNOWN_OPPOSITION
        ├── MethodNotAllowedError         405  METHOD_NOT_ALLOWED
        ├── NotAcceptableError            406  NOT_ACCEPTABLE (no format the Accept header allows)
        ├── GoneError                     410  GONE (a retired endpoint; says where to go)
        ├── IdempotencyConflictError      409  IDEMPOTENCY_CONFLICT
        ├── PayloadTooLargeError          413  PAYLOAD_TOO_LARGE
        ├── UnsupportedMediaTypeError     415  UNSUPPORTED_MEDIA_TYPE
        ├── ClientClosedRequestError      499  CLIENT_CLOSED_REQUEST (nobody reads it; counted)
        ├── RateLimitedError              429  RATE_LIMITED (carries retry_after_s)
        ├── ProviderError                 502  PROVIDER_ERROR
        ├── ServiceUnavailableError       503  SERVICE_UNAVAILABLE (broker/store down; retriable)
        │   ├── StoreUnavailableError     503  STORE_UNAVAILABLE (the gateway's database)
        │   ├── BusRefusingWritesError    503  BUS_REFUSING_WRITES (too few in-sync replicas)
        │   └── GatewayStartingError      503  GATEWAY_STARTING (no broker yet since start-up)
        └── DeadlineExceededError         504  DEADLINE_EXCEEDED (retriable)

The ``code`` is the machine-readable contract with back-office systems: it appears as the
problem's ``code`` member and at the end of its ``type`` URI, and never changes once
published. Errors from other packages (contracts, bus) are translated into this family in
exactly one place per boundary, never passed through.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from contracts.errors import InteropError

__all__ = [
    "BusRefusingWritesError",
    "ClientClosedRequestError",
    "ConsentRequiredError",
    "DeadlineExceededError",
    "FieldProblem",
    "ForbiddenError",
    "GatewayError",
    "GatewayStartingError",
    "GoneError",
    "IdempotencyConflictError",
    "InvalidRequestError",
    "MethodNotAllowedError",
    "NotAcceptableError",
    "NotFoundError",
    "OppositionActiveError",
    "PayloadTooLargeError",
    "ProviderError",
    "RateLimitedError",
    "ServiceUnavailableError",
    "StoreUnavailableError",
    "SubjectMismatchError",
    "UnauthenticatedError",
    "UnknownConsentError",
    "UnknownExchangeError",
    "UnknownOppositionError",
    "UnknownProviderError",
    "UnknownServiceError",
    "UnknownVersionError",
    "UnsupportedMediaTypeError",
]


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One thing wrong with one field: a JSON pointer into the request body and why."""

    pointer: str
    message: str


class GatewayError(InteropError):
    """An error the gateway answers as an RFC 9457 problem."""

    code = "GATEWAY_ERROR"
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"
    retry_after_s: int | None = None
    """Seconds for ``Retry-After`` (429, some 503s); None: no header."""

    @property
    def public_detail(self) -> str:
        """The problem's ``detail``: the message, unless the class keeps it for operators."""
        return self.message


class InvalidRequestError(GatewayError):
    """The request is malformed or its data does not match the schema (every problem listed)."""

    code = "INVALID_REQUEST"
    status = 400
    title = "Invalid request"

    def __init__(self, message: str, problems: Sequence[FieldProblem] = ()) -> None:
        super().__init__(message)
        self.problems: tuple[FieldProblem, ...] = tuple(problems)


class SubjectMismatchError(InvalidRequestError):
    """The request's data names someone other than its ``subject`` (the person the consent
    decision is made for): refused before anything is decided, audited or sent."""

    code = "SUBJECT_MISMATCH"


class UnauthenticatedError(GatewayError):
    """No valid credentials: unknown API key or client certificate."""

    code = "UNAUTHENTICATED"
    status = 401
    title = "Authentication required"


class ForbiddenError(GatewayError):
    """A known member without the right to do this."""

    code = "FORBIDDEN"
    status = 403
    title = "Forbidden"


class ConsentRequiredError(ForbiddenError):
    """The service needs the subject's explicit consent and none is usable for this request.

    The detail never says whether a consent exists for someone else or existed once.
    """

    code = "CONSENT_REQUIRED"
    title = "Consent required"


class OppositionActiveError(ForbiddenError):
    """The subject objects to presumed access to this service by this requester."""

    code = "OPPOSITION_ACTIVE"
    title = "The subject has opposed this access"


class NotFoundError(GatewayError):
    """No such resource, or one the caller may not know exists."""

    code = "NOT_FOUND"
    status = 404
    title = "Not found"


class UnknownServiceError(NotFoundError):
    code = "UNKNOWN_SERVICE"
    title = "Unknown service"


class UnknownVersionError(NotFoundError):
    code = "UNKNOWN_VERSION"
    title = "Unknown service version"


class UnknownProviderError(NotFoundError):
    code = "UNKNOWN_PROVIDER"
    title = "Unknown provider"


class UnknownExchangeError(NotFoundError):
    code = "UNKNOWN_EXCHANGE"
    title = "Unknown exchange"


class UnknownConsentError(NotFoundError):
    code = "UNKNOWN_CONSENT"
    title = "Unknown consent"


class UnknownOppositionError(NotFoundError):
    code = "UNKNOWN_OPPOSITION"
    title = "Unknown opposition"


class MethodNotAllowedError(GatewayError):
    code = "METHOD_NOT_ALLOWED"
    status = 405
    title = "Method not allowed"


class NotAcceptableError(GatewayError):
    """The ``Accept`` header rules out every format the resource is served in."""

    code = "NOT_ACCEPTABLE"
    status = 406
    title = "Not acceptable"


class GoneError(GatewayError):
    """A retired endpoint: the message names its replacement."""

    code = "GONE"
    status = 410
    title = "Gone"


class IdempotencyConflictError(GatewayError):
    """The Idempotency-Key was already used with a different request body."""

    code = "IDEMPOTENCY_CONFLICT"
    status = 409
    title = "Idempotency key reused with a different request"


class PayloadTooLargeError(GatewayError):
    code = "PAYLOAD_TOO_LARGE"
    status = 413
    title = "Request body too large"


class UnsupportedMediaTypeError(GatewayError):
    code = "UNSUPPORTED_MEDIA_TYPE"
    status = 415
    title = "Unsupported media type"


class ClientClosedRequestError(GatewayError):
    """The client closed its connection before its request body arrived. Nobody reads the
    answer; it exists so the request is logged and counted as the client's doing (499, as
    nginx counts it), never as a server fault (500)."""

    code = "CLIENT_CLOSED_REQUEST"
    status = 499
    title = "Client closed the request"


class RateLimitedError(GatewayError):
    """Too many requests from this member; ``retry_after_s`` feeds ``Retry-After``."""

    code = "RATE_LIMITED"
    status = 429
    title = "Too many requests"
    retriable = True

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = max(1, retry_after_s)


class ProviderError(GatewayError):
    """The provider answered with an error (its code is in the message and the problem)."""

    code = "PROVIDER_ERROR"
    status = 502
    title = "Provider error"

    def __init__(self, message: str, provider_code: str | None = None) -> None:
        super().__init__(message)
        self.provider_code = provider_code


class ServiceUnavailableError(GatewayError):
    """The broker or the store does not answer; trying again later may succeed.

    ``Retry-After: 5`` is a hint, not a promise: the gateway notices the broker's or the
    store's return within a few seconds (readiness, the producer's back-off), and a client
    told nothing retried at once, or gave up."""

    code = "SERVICE_UNAVAILABLE"
    status = 503
    title = "Service unavailable"
    retriable = True
    retry_after_s = 5


class StoreUnavailableError(ServiceUnavailableError):
    """The gateway's database (exchanges, consents) did not answer; retriable.

    The message names the store by its redacted URL and quotes the driver: operators read
    it (start-up errors, logs). Callers read one fixed sentence instead: a database's
    address, user or driver text is nobody else's business.
    """

    code = "STORE_UNAVAILABLE"
    title = "Store unavailable"
    retry_after_s = 1

    @property
    def public_detail(self) -> str:
        return "the gateway's store is unavailable; retry later with the same Idempotency-Key"


class BusRefusingWritesError(ServiceUnavailableError):
    """The Kafka partitions this exchange needs refuse writes (in-sync replicas below
    min.insync.replicas, or no leader): refused before anything is stored or sent."""

    code = "BUS_REFUSING_WRITES"
    title = "The bus refuses writes"

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = max(1, retry_after_s)


class DeadlineExceededError(GatewayError):
    """The exchange's deadline passed before the provider answered."""

    code = "DEADLINE_EXCEEDED"
    status = 504
    title = "Deadline exceeded"
    retriable = True


class GatewayStartingError(ServiceUnavailableError):
    """This replica started while the broker did not answer and is still waiting for it
    (``bus/broker_wait.py``): nothing is stored or sent; retry, here or at another
    replica. Its ``/readyz`` is 503 meanwhile, so a load balancer sends nothing here."""

    code = "GATEWAY_STARTING"
    title = "Gateway starting"
