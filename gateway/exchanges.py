"""The exchange service: resolve, authorise, encode, store, send, wait.

The order is the contract of the API (each step's error wins over the later ones):
service (404) → version (404; sunset too) → provider (400 when ambiguous, 404 unknown) →
purpose known to the service (400) → access right of the member (403) → legal basis
(400) → consent decision by the service's consent mode (403 CONSENT_REQUIRED or
OPPOSITION_ACTIVE, audited DENIED with its reason; ``gateway/consent/``) → ``data``
against the request schema (400, every problem with a ``/data`` pointer) → idempotency
(409 on the same key with another body) → produce the signed request → wait as asked,
never past the deadline.

HTTP lives in ``exchanges_api``; this module raises the gateway's errors and returns
stored records.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog

from bus import (
    BusError,
    OutboundRequest,
    Requester,
    RequestTopic,
    parse_member_id,
    parse_service_id,
    parse_traceparent,
    subject_binding,
    trace_id_of,
)
from bus.audit import AuditEventType, AuditRecord, AuditWriteError, payload_digest
from contracts import (
    Catalogue,
    ContractVersion,
    LockFile,
    SchemaId,
    Service,
    VersionStatus,
)
from gateway.bus_write_gate import BusWriteGate
from gateway.catalogue_api import resolve_version
from gateway.consent.policy import Decision, DenyRule
from gateway.consent.registry import ConsentRegistry
from gateway.errors import (
    ConsentRequiredError,
    FieldProblem,
    ForbiddenError,
    IdempotencyConflictError,
    InvalidRequestError,
    OppositionActiveError,
    ServiceUnavailableError,
    UnknownExchangeError,
    UnknownProviderError,
    UnknownServiceError,
)
from gateway.exchange_request import ExchangeRequest, request_digest, subject_pseudonym
from gateway.exchange_states import (
    SEND_FAILED,
    Clock,
    ExchangeStates,
    utc_now,
)
from gateway.members import Member
from gateway.metrics import GatewayMetrics
from gateway.replies import ReplyWaiters, ResponseSchemas, WaitReleased
from gateway.request_sealing import RequestEncoder
from gateway.settings import ExchangeSettings
from gateway.store.base import ExchangeRecord, ExchangeStatus, ExchangeStore
from gateway.subject_check import check_data_subject

__all__ = [
    "ExchangeKeys",
    "ExchangeService",
    "Resolved",
    "Submitted",
    "response_schemas",
]

_log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ExchangeKeys:
    """The gateway's two HMAC keys: subject pseudonyms, and payload digests (shared with
    the connectors, so both sides' digests of one request match)."""

    subject: bytes
    digest: bytes


@dataclass(frozen=True, slots=True)
class Resolved:
    """What a request names, resolved against the catalogue."""

    service: Service
    version: ContractVersion
    provider: str

    @property
    def deprecated(self) -> bool:
        return self.version.meta.status is VersionStatus.DEPRECATED


@dataclass(frozen=True, slots=True)
class Submitted:
    """A POST's exchange: the record now, and whether this POST created it."""

    record: ExchangeRecord
    created: bool
    resolved: Resolved
    decision: Decision | None = None
    """The consent decision this POST was allowed by (None for an idempotent replay)."""


def response_schemas(catalogue: Catalogue, lock: LockFile) -> ResponseSchemas:
    """(service, version) -> (response schema id, schema) for every locked version."""
    table: dict[tuple[str, str], tuple[SchemaId, Any]] = {}
    for service in catalogue.services.values():
        for item in service.versions:
            entry = lock.entry(service.id, str(item.version), "response")
            if entry is not None:
                table[(service.id, str(item.version))] = (entry.schema_id, item.response)
    return table


class ExchangeService:
    """The exchange lifecycle of one gateway replica."""

    def __init__(
        self,
        *,
        catalogue: Catalogue,
        encoder: RequestEncoder,
        store: ExchangeStore,
        requester: Requester,
        waiters: ReplyWaiters,
        metrics: GatewayMetrics,
        settings: ExchangeSettings,
        keys: ExchangeKeys,
        consents: ConsentRegistry,
        states: ExchangeStates,
        writes: BusWriteGate | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self._catalogue = catalogue
        self._encoder = encoder
        self._store = store
        self._requester = requester
        self._waiters = waiters
        self._metrics = metrics
        self._settings = settings
        self._subject_key = keys.subject
        self._digest_key = keys.digest
        self._consents = consents
        self._states = states
        self._writes = writes
        self._clock = clock

    # -- resolution and authorisation (pure, no I/O) ---------------------------------
    def resolve(self, request: ExchangeRequest, member: Member) -> Resolved:
        """Service, version, provider and access right, in the documented order."""
        service = self._catalogue.services.get(request.service)
        if service is None:
            raise UnknownServiceError(f"no service {request.service[:100]!r} in the catalogue")
        version = resolve_version(service, request.version)
        providers = service.meta.providers
        if request.provider is None:
            if len(providers) != 1:
                raise InvalidRequestError(
                    f"{service.id} has several providers: name one",
                    [FieldProblem("/provider", f"required; one of {', '.join(providers)}")],
                )
            provider = providers[0]
        elif request.provider in providers:
            provider = request.provider
        else:
            raise UnknownProviderError(f"{request.provider[:100]!r} does not provide {service.id}")
        if request.purpose not in service.meta.purposes:
            raise InvalidRequestError(
                f"{service.id} cannot be used for purpose {request.purpose!r}",
                [FieldProblem("/purpose", f"one of {', '.join(service.meta.purposes)}")],
            )
        if not member.may_call(service.id, request.purpose):
            raise ForbiddenError(
                f"{member.id} holds no right to call {service.id} for {request.purpose}"
            )
        self._check_legal_basis(service, request)
        return Resolved(service, version, provider)

    @staticmethod
    def _check_legal_basis(service: Service, request: ExchangeRequest) -> None:
        bases = service.meta.legal_bases
        if request.legal_basis is None:
            if service.meta.consent_mode.value == "legal":
                raise InvalidRequestError(
                    f"{service.id} is served on a legal obligation: cite the legal basis",
                    [FieldProblem("/legal_basis", "required for this service")],
                )
            return
        if bases and request.legal_basis not in bases:
            raise InvalidRequestError(
                f"{service.id} does not accept this legal basis",
                [FieldProblem("/legal_basis", "must be one of the service's legal bases")],
            )

    # -- submission --------------------------------------------------------------------
    async def submit(
        self,
        member: Member,
        request: ExchangeRequest,
        document: dict[str, Any],
        *,
        idempotency_key: str | None,
        traceparent: str | None,
        wait_s: float,
    ) -> Submitted:
        """Create (or find, by idempotency key) the exchange, send it, wait up to ``wait_s``."""
        resolved = self.resolve(request, member)
        # Before any decision: the data must be about the person consent is decided for.
        check_data_subject(resolved.version, request.data, request.subject)
        subject_ref = subject_pseudonym(self._subject_key, request.subject)
        if idempotency_key is not None:
            # A retry is answered with the exchange it repeats, as a GET would be, before
            # any new decision: consent revoked since then must not turn the exchange
            # that happened into a DENIED that did not.
            earlier = await self._store.get_by_idempotency_key(member.id, idempotency_key)
            if earlier is not None:
                return await self._replay(earlier, request_digest(document), wait_s, resolved)
        # Allowed: ``decision.reason`` is what the REQUESTED audit record carries.
        decision = await self.decide_consent(member, request, resolved, subject_ref, traceparent)
        data = self._encoder.validate(resolved.service.id, resolved.version, request.data)
        now = self._clock()
        deadline_s = min(resolved.service.meta.timeout_ms / 1000, self._settings.max_deadline_s)
        outbound = OutboundRequest(
            topic=RequestTopic(
                parse_service_id(resolved.service.id), resolved.version.version.major
            ),
            provider=parse_member_id(resolved.provider),
            purpose=request.purpose,
            procedure=request.procedure,
            legal_basis=request.legal_basis,
            # The consent the decision rests on travels with the request (connectors of
            # explicit-consent services refuse a request without one), and only that one:
            # a reference the decision did not use (on a presumed or legal service, or
            # naming another person's consent) would be audited as if it had counted.
            consent_ref=decision.consent_ref,
            subject_ref=subject_ref,
            traceparent=_caller_trace(traceparent),
            source=parse_member_id(member.id),
        )
        envelope = self._requester.new_envelope(
            outbound, deadline=now + timedelta(seconds=deadline_s)
        )
        # Personal fields sealed for the provider, bound to this exchange id.
        encoded = self._encoder.encode(
            data,
            sealed_fields=resolved.version.meta.sealed_fields,
            provider=resolved.provider,
            exchange_id=envelope.exchange_id,
            now=now,
        )
        value = encoded.value
        # Signed now (``send`` writes it as it is, not signing it again), so the stored
        # exchange names the request record a verified reply must answer. The
        # subject binding (the connector re-checks the data against it) and the wrapped
        # field key are signed with the envelope.
        envelope, sent_digest = self._requester.sign_with_digest(
            envelope.model_copy(
                update={
                    "subject_binding": subject_binding(
                        self._digest_key, envelope.exchange_id, request.subject
                    ),
                    "field_key": encoded.field_key,
                }
            ),
            value,
        )
        record = ExchangeRecord(
            id=envelope.exchange_id,
            requester=member.id,
            service=resolved.service.id,
            version=str(resolved.version.version),
            provider=resolved.provider,
            purpose=request.purpose,
            official=request.official,
            subject_ref=outbound.subject_ref or "",
            request_digest=request_digest(document),
            created_at=now,
            deadline=envelope.deadline or now,
            procedure=request.procedure,
            case_file=request.case_file,
            legal_basis=request.legal_basis,
            consent_ref=outbound.consent_ref,
            idempotency_key=idempotency_key,
            traceparent=envelope.traceparent,
            sent_digest=sent_digest,
            owner=self._states.owner,
        )
        if self._writes is not None:  # partitions known to refuse: 503 before storing
            self._writes.check(outbound.topic.name, outbound.record_key(record.id))
        outcome = await self._store.create(record)
        if not outcome.created:  # a concurrent request with the key created it first
            return await self._replay(outcome.record, record.request_digest, wait_s, resolved)
        with structlog.contextvars.bound_contextvars(**envelope.log_context()):
            future = self._waiters.register(record.id) if wait_s > 0 else None
            try:
                # Audit REQUESTED (acked) before anything reaches the provider.
                audited = await self._states.audit_requested(
                    record,
                    request_digest=payload_digest(self._digest_key, value),
                    reason=decision.reason.value,
                )
                if not audited:
                    raise ServiceUnavailableError(
                        f"exchange {record.id}: the audit trail is unavailable, nothing was"
                        " sent; retry later"
                    )
                await self._send(outbound, envelope, value, record)
                _log.info("exchange_requested", wait_s=wait_s)
                final = await self._await(record, future, wait_s)
            finally:
                if future is not None:
                    self._waiters.discard(record.id, future)
        return Submitted(final, created=True, resolved=resolved, decision=decision)

    async def _replay(
        self, earlier: ExchangeRecord, digest: str, wait_s: float, resolved: Resolved
    ) -> Submitted:
        """The exchange an Idempotency-Key already names: 409 for another body."""
        if earlier.request_digest != digest:
            raise IdempotencyConflictError(
                "this Idempotency-Key was used for a different request body"
            )
        _log.info("exchange_replayed", exchange_id=earlier.id)
        final = await self.wait(earlier, wait_s)
        return Submitted(final, created=False, resolved=resolved)

    # -- consent -----------------------------------------------------------------------
    async def decide_consent(
        self,
        member: Member,
        request: ExchangeRequest,
        resolved: Resolved,
        subject_ref: str,
        traceparent: str | None,
    ) -> Decision:
        """The consent decision; a denial is audited (DENIED, with its reason) and raised."""
        now = self._clock()
        decision = await self._consents.decide(
            service=resolved.service,
            requester=member.id,
            purpose=request.purpose,
            procedure=request.procedure,
            consent_ref=request.consent_ref,
            subject_ref=subject_ref,
            now=now,
            procedures_allowed=member.exempt_procedures(resolved.service.id),
        )
        if decision.allowed:
            return decision
        trace = _caller_trace(traceparent)
        denied = AuditRecord(
            type=AuditEventType.DENIED,
            time=now,
            actor=self._states.actor,
            requester=member.id,
            official=request.official,
            provider=resolved.provider,
            service=resolved.service.id,
            version=str(resolved.version.version),
            purpose=request.purpose,
            procedure=request.procedure,
            legal_basis=request.legal_basis,
            consent_ref=decision.consent_ref,  # the subject's own cited consent, if any
            subject_ref=subject_ref,
            outcome="DENIED",
            reason=decision.reason.value,
            trace_id=trace_id_of(trace) if trace is not None else None,
        )
        if not await self._states.audit_denied(denied):
            raise ServiceUnavailableError(
                "the audit trail did not record this decision; retry later"
            )
        _log.info("exchange_denied", service=resolved.service.id, reason=decision.reason.value)
        if decision.rule is DenyRule.OPPOSITION_ACTIVE:
            raise OppositionActiveError(
                f"the subject has opposed access to {resolved.service.id} by {member.id}"
            )
        raise ConsentRequiredError(
            f"{resolved.service.id} needs the subject's explicit consent for {member.id} and "
            f"purpose {request.purpose}: none is active"
        )

    async def _send(
        self, outbound: OutboundRequest, envelope: Any, value: bytes, record: ExchangeRecord
    ) -> None:
        bound_s = max(0.1, (record.deadline - self._clock()).total_seconds())
        try:
            async with asyncio.timeout(bound_s):
                await self._requester.send(outbound, envelope, value)
        except (BusError, TimeoutError) as exc:
            code = exc.code if isinstance(exc, BusError) else "BUS_SEND_TIMEOUT"
            _log.warning("exchange_not_sent", error_code=code)
            # The FAILED closing is owed, not awaited: the caller is not kept waiting.
            await self._states.refuse_unsent(
                record, SEND_FAILED, f"the request could not be sent ({code})"
            )
            raise ServiceUnavailableError(
                f"exchange {record.id}: the request could not be sent to the bus; retry later"
            ) from exc

    async def wait(self, record: ExchangeRecord, wait_s: float) -> ExchangeRecord:
        """The record once final or after ``wait_s`` (never past its deadline)."""
        if record.status is not ExchangeStatus.PENDING or wait_s <= 0:
            return record
        future = self._waiters.register(record.id)
        try:
            current = await self._store.get(record.id)  # it may have ended meanwhile
            if current is not None and current.status is not ExchangeStatus.PENDING:
                return current
            return await self._await(record, future, wait_s)
        finally:
            if future is not None:
                self._waiters.discard(record.id, future)

    async def _await(
        self,
        record: ExchangeRecord,
        future: asyncio.Future[ExchangeRecord] | None,
        wait_s: float,
    ) -> ExchangeRecord:
        if future is None:  # too many waiting already: answer 202 at once
            return record
        remaining_s = (record.deadline - self._clock()).total_seconds()
        covers_deadline = wait_s >= remaining_s
        self._metrics.waiting.inc()
        try:
            async with asyncio.timeout(max(0.0, min(wait_s, remaining_s))):
                return await asyncio.shield(future)
        except TimeoutError:
            pass
        except WaitReleased:
            return await self._store.get(record.id) or record
        except AuditWriteError as exc:
            # The reply came, but its COMPLETED/FAILED event was not written: no data.
            raise ServiceUnavailableError(
                f"exchange {record.id}: the audit trail did not record the reply; retry"
                " GET /v1/exchanges/{id} later"
            ) from exc
        finally:
            self._metrics.waiting.dec()
        if covers_deadline:
            expired = await self._states.time_out(record)
            if expired is not None:
                return expired
        return await self._store.get(record.id) or record

    # -- reading -----------------------------------------------------------------------
    async def get(self, member: Member, exchange_id: str) -> ExchangeRecord:
        """The exchange, only for the member that asked (others: 404, as if unknown)."""
        record = await self._store.get(exchange_id) if len(exchange_id) <= 64 else None
        if record is None or record.requester != member.id:
            raise UnknownExchangeError(f"no exchange {exchange_id[:64]!r}")
        return record


def _caller_trace(header: str | None) -> Any:
    if header is None:
        return None
    try:
        return parse_traceparent(header.strip())
    except ValueError:
        return None  # a malformed traceparent starts a new trace (W3C Trace Context)
