"""Asking the legacy side for an answer, under every protection the runtime promises.

``Answerer.answer(request, ctx)`` turns one decoded request into a ``ReplyPlan`` (the
reply status, error code and framed value), and never raises except on cancellation:

1. a slot of the service's semaphore (bounded concurrency protects a fragile registry),
   waited for no longer than the exchange's deadline;
2. the circuit breaker: while open, ``PROVIDER_UNAVAILABLE`` at once, no call;
3. the handler (a Python function, or an adapter + mapping), each attempt bounded by
   ``call_timeout_s`` and all of them by the deadline, retried with backoff and jitter
   on retriable ``LegacyError``s only;
4. the answer mapped (if a mapping is configured) and encoded with the provider's
   locked response schema id; a record that does not fit the contract is an error
   reply, never a malformed one.

Error messages of handlers and adapters may quote legacy data: only their kind and
code reach logs and metrics.

``signed_reply_envelope`` is the reply's envelope as it goes out: bound to the request it
answers (``interop_request_digest``, next to the exchange id, provider and service the
envelope already names) and signed with this connector's key, so the gateway can tell it
came from the exchange's provider and answers that very request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

import structlog

from bus import Envelope, MemberId, RecordSigner, ReplyStatus
from connectors.adapters.base import (
    Found,
    LegacyError,
    LegacyErrorKind,
    LegacyTimeoutError,
    NotFound,
)
from connectors.circuit import CircuitBreaker, CircuitPolicy, CircuitState
from connectors.errors import (
    HandlerError,
    HandlerFailedError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    ResponseInvalidError,
)
from connectors.metrics import ConnectorMetrics
from connectors.retry import RetryPolicy, call_with_retries
from connectors.sdk import Answer, Handler, HandlerContext
from contracts import Codec, CodecError, SchemaId

__all__ = ["Answerer", "CallLimits", "RecordMapper", "ReplyPlan", "signed_reply_envelope"]

_log = structlog.get_logger(__name__)


class RecordMapper(Protocol):
    """The seam to ``connectors.mapping``: legacy record (+ request) -> response datum."""

    def apply(
        self, record: Mapping[str, Any], request: Mapping[str, Any] | None = None
    ) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class ReplyPlan:
    """What to reply: status, error code (not ok), framed value (empty unless ok)."""

    status: ReplyStatus
    error_code: str | None = None
    value: bytes = b""

    @property
    def outcome(self) -> str:
        """The audit/metrics outcome: OK, NOT_FOUND, or the error code."""
        if self.status is ReplyStatus.OK:
            return "OK"
        if self.status is ReplyStatus.NOT_FOUND:
            return "NOT_FOUND"
        return self.error_code or HandlerError.code

    @classmethod
    def failing(cls, error: HandlerError | type[HandlerError]) -> ReplyPlan:
        """The reply for a handler error (an instance may carry the registry's own code)."""
        code = error.reply_code if isinstance(error, HandlerError) else error.code
        return cls(error.status, code)


def signed_reply_envelope(
    request: Envelope,
    digest: str,
    plan: ReplyPlan,
    *,
    member: MemberId,
    signer: RecordSigner | None,
) -> Envelope:
    """The envelope of ``plan``'s reply to ``request``: bound to the request record by its
    digest (``request_digest``, as its signature check gives it), signed over headers and
    value (unsigned only without a configured key)."""
    envelope = request.reply(
        source=member,
        status=plan.status,
        error_code=None if plan.status is ReplyStatus.OK else plan.error_code,
        request_digest=digest,
    )
    return envelope if signer is None else signer.sign(envelope, plan.value)


@dataclass(frozen=True, slots=True)
class CallLimits:
    """How one service's registry is called: at most ``concurrency`` calls at once, each
    attempt within ``call_timeout_s``, retried by ``retry``, guarded by ``circuit``."""

    concurrency: int
    call_timeout_s: float
    retry: RetryPolicy
    circuit: CircuitPolicy


class Answerer:
    """One service's handler behind its semaphore, breaker, retries and deadline."""

    def __init__(
        self,
        *,
        service: str,
        handler: Handler,
        codec: Codec,
        response_schema_id: SchemaId,
        metrics: ConnectorMetrics,
        limits: CallLimits,
        mapping: RecordMapper | None = None,
    ) -> None:
        self._service = service
        self._handler = handler
        self._codec = codec
        self._response_id = response_schema_id
        self._metrics = metrics
        self._slots = asyncio.Semaphore(limits.concurrency)
        self._call_timeout_s = limits.call_timeout_s
        self._retry = limits.retry
        self._mapping = mapping
        metrics.circuit_state.labels(service).set(CircuitState.CLOSED)
        self.breaker = CircuitBreaker(limits.circuit, on_change=self._circuit_changed)

    def _circuit_changed(self, state: CircuitState) -> None:
        self._metrics.circuit_state.labels(self._service).set(int(state))
        _log.warning("circuit_state_changed", service=self._service, state=state.name.lower())

    async def answer(self, request: Mapping[str, Any], ctx: HandlerContext) -> ReplyPlan:
        """The reply for ``request`` (never raises but ``CancelledError``)."""
        deadline = time.monotonic() + ctx.remaining_s()
        try:
            async with asyncio.timeout_at(_loop_time(deadline)):
                async with self._slots:
                    return await self._guarded(request, ctx, deadline)
        except TimeoutError:
            # The whole exchange ran out of time (waiting for a slot, or in the handler).
            self._metrics.legacy_errors.labels(self._service, LegacyErrorKind.TIMEOUT).inc()
            return ReplyPlan.failing(ProviderTimeoutError)

    async def _guarded(
        self, request: Mapping[str, Any], ctx: HandlerContext, deadline: float
    ) -> ReplyPlan:
        if not self.breaker.allow():
            return ReplyPlan.failing(ProviderUnavailableError)
        gauge = self._metrics.in_flight.labels(self._service)
        gauge.inc()
        settled = False
        try:
            answer = await call_with_retries(
                lambda: self._attempt(request, ctx, deadline),
                self._retry,
                deadline=deadline,
                on_retry=self._on_retry,
            )
        except LegacyError as error:
            settled = True
            self._count(error)
            if error.retriable:
                self.breaker.record_failure()
            else:
                self.breaker.record_success()  # it answered: it is up
            return ReplyPlan.failing(error)
        except TimeoutError:
            settled = True
            self.breaker.record_failure()
            raise
        except asyncio.CancelledError:
            # ``answer``'s deadline cancels us from outside (mid-attempt or mid-backoff): a
            # registry that hangs past the deadline is failing, and must open the breaker.
            if time.monotonic() >= deadline - _DEADLINE_SLACK_S:
                settled = True
                self.breaker.record_failure()
            raise
        except Exception as exc:  # a bug in the handler: an error reply, not a crash
            _log.error("handler_raised", service=self._service, exception_type=type(exc).__name__)
            return ReplyPlan.failing(HandlerFailedError)
        finally:
            gauge.dec()
            if not settled:
                self.breaker.release_probe()
        return self._settle(answer, request)

    def _settle(self, answer: object, request: Mapping[str, Any]) -> ReplyPlan:
        # ``object``: a handler from a YAML-named module is not type-checked against ours.
        if isinstance(answer, HandlerError):
            if answer.retriable:
                self.breaker.record_failure()
            else:
                self.breaker.record_success()
            return ReplyPlan.failing(answer)
        self.breaker.record_success()
        if isinstance(answer, NotFound):
            return ReplyPlan(ReplyStatus.NOT_FOUND)
        if not isinstance(answer, Found):
            _log.error("handler_answer_invalid", service=self._service)
            return ReplyPlan.failing(HandlerFailedError)
        try:
            datum = (
                self._mapping.apply(answer.record, request)
                if self._mapping is not None
                else answer.record
            )
        except LegacyError as error:
            self._count(error)
            return ReplyPlan.failing(error)
        try:
            return ReplyPlan(ReplyStatus.OK, value=self._codec.encode(self._response_id, datum))
        except CodecError as exc:
            # The code only: the encoder's message quotes the offending value.
            _log.error("response_does_not_fit_schema", service=self._service, error_code=exc.code)
            return ReplyPlan.failing(ResponseInvalidError)

    async def _attempt(
        self, request: Mapping[str, Any], ctx: HandlerContext, deadline: float
    ) -> Answer:
        bound = min(time.monotonic() + self._call_timeout_s, deadline)
        try:
            async with asyncio.timeout_at(_loop_time(bound)):
                answer = await self._handler(request, ctx)
        except TimeoutError:
            if time.monotonic() >= deadline:
                raise  # the exchange's own deadline: no more attempts
            raise LegacyTimeoutError(f"no answer within {self._call_timeout_s}s") from None
        except LegacyError:
            raise  # retried (if retriable), counted, and fed to the breaker by the caller
        except HandlerError as error:
            return error  # the handler's own typed answer: not retried
        return answer

    def _on_retry(self, error: LegacyError, delay: float) -> None:
        self._count(error)
        _log.info(
            "legacy_call_retry",
            service=self._service,
            kind=error.kind.value,
            delay_s=round(delay, 3),
        )

    def _count(self, error: LegacyError) -> None:
        self._metrics.legacy_errors.labels(self._service, error.kind.value).inc()


_DEADLINE_SLACK_S: Final = 0.05
"""Clock slack when telling a deadline cut from any other cancellation."""


def _loop_time(monotonic_deadline: float) -> float:
    """A ``time.monotonic`` deadline on the event loop's clock (for ``timeout_at``)."""
    loop = asyncio.get_running_loop()
    return loop.time() + (monotonic_deadline - time.monotonic())
