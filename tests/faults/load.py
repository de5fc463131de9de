"""A bounded load against the gateway, and what every request was answered.

Each exchange asks the municipal register for one synthetic person's residence (the
people cycle, so the registry's answer for each is known), with its own
``Idempotency-Key`` and ``Prefer: wait=N``; a 202 is then polled with GET until it is
final, as an asynchronous caller would. The count, the concurrency and (optionally) the
rate are bounded, so a case that fails fast does not turn into a flood. Every answer is
kept with its status, code, exchange id and timing.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp

from connectors.demo.population import Person
from tests.faults.report import CaseReport
from tests.faults.system import System

__all__ = ["ANSWER_BOUND_S", "DEADLINE_S", "Answer", "Load", "residence_request"]

DEADLINE_S: Final = 8.0
"""The residence certificate's deadline (its ``timeout_ms`` in the catalogue)."""
ANSWER_BOUND_S: Final = 3.0
"""How far past the exchange's deadline a POST may answer (issue #14: "every call answers
within its deadline plus a small documented bound"); generous for a shared 2-core box."""
_POLL_EVERY_S: Final = 0.25
_EXCHANGE_ID: Final = re.compile(r"exchange ([0-9a-f-]{36})")
UNSENT: Final = "SERVICE_UNAVAILABLE_UNSENT"
"""The code recorded for a 503 that says nothing was sent (the key was released)."""
_RETRIED_503: Final = frozenset({UNSENT, "STORE_UNAVAILABLE"})


def residence_request(person: Person) -> dict[str, Any]:
    """``register.residence-certificate`` v1 for ``person``, as the town hall asks it."""
    return {
        "service": "register.residence-certificate",
        "version": "1",
        "subject": person.document_number,
        "purpose": "social-benefits",
        "official": "funcionaria-0042",
        "data": {
            "document_type": person.document_type,
            "document_number": person.document_number,
        },
    }


@dataclass
class Answer:
    """One POST and what came of it."""

    key: str
    person: int
    """Index of the subject in ``System.people``."""
    status: int
    """HTTP status of the POST (0: no answer: connection refused or reset, client timeout)."""
    code: str
    """The problem's ``code`` for an error ("" for 200/202)."""
    exchange_id: str | None
    sent_at: float
    answered_at: float
    final: dict[str, Any] | None = None
    """For a 202 polled to the end: the final GET body."""
    problem_code: str = ""
    """The problem's own ``code`` ("" for 200/202), where ``code`` may say ``UNSENT``."""

    @property
    def latency_s(self) -> float:
        return self.answered_at - self.sent_at

    @property
    def accepted(self) -> bool:
        return self.status in (200, 202)


@dataclass
class Load:
    """Bounded load against the gateway; every answer kept in ``answers``."""

    system: System
    wait_s: int = 8
    poll: bool = True
    """GET every 202 until its exchange is final (an asynchronous caller)."""
    report: CaseReport | None = None
    """The case's report: it tallies this load's answers even if the case fails early."""
    answers: list[Answer] = field(default_factory=list)
    _next_person: int = 0

    def __post_init__(self) -> None:
        if self.report is not None:
            self.report.loads.append(self)

    async def run(
        self,
        count: int,
        concurrency: int,
        *,
        rate_per_s: float | None = None,
        retry: list[Answer] | None = None,
    ) -> None:
        """``count`` new exchanges (or the same requests again, same keys, for
        ``retry``) at most ``concurrency`` at a time and, if given, ``rate_per_s``."""
        if retry is not None:
            todo = [(a.key, a.person) for a in retry]
        else:
            todo = [(uuid.uuid4().hex, self._person()) for _ in range(count)]
        slots = asyncio.Semaphore(concurrency)
        timeout = aiohttp.ClientTimeout(total=self.wait_s + DEADLINE_S + 30)
        started = time.monotonic()
        async with aiohttp.ClientSession(timeout=timeout) as session:

            async def one(index: int, key: str, person: int) -> None:
                if rate_per_s is not None:
                    await asyncio.sleep(max(0.0, started + index / rate_per_s - time.monotonic()))
                async with slots:
                    await self._one(session, key, person)

            await asyncio.gather(*(one(i, k, p) for i, (k, p) in enumerate(todo)))

    def _person(self) -> int:
        index = self._next_person % len(self.system.people)
        self._next_person += 1
        return index

    async def _one(self, session: aiohttp.ClientSession, key: str, person: int) -> None:
        headers = {
            "Authorization": f"Bearer {self.system.keys['TOWN']}",
            "Idempotency-Key": key,
            "Prefer": f"wait={self.wait_s}",
        }
        body = residence_request(self.system.people[person])
        sent = time.monotonic()
        try:
            async with session.post(
                f"{self.system.url}/v1/exchanges", json=body, headers=headers
            ) as response:
                status = response.status
                document = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            status, document = 0, {"code": type(exc).__name__}
        answered = time.monotonic()
        document = document if isinstance(document, dict) else {}
        if status in (200, 202):
            code, exchange_id = "", document.get("id")
        else:
            code = str(document.get("code", "?"))
            found = _EXCHANGE_ID.search(str(document.get("detail", "")))
            exchange_id = found.group(1) if found else None
            if status == 503 and "sent" in str(document.get("detail", "")):
                # Refused before anything reached a provider ("could not be sent"): the
                # key was released, and a retry must start a new exchange.
                code = UNSENT
        answer = Answer(key, person, status, code, exchange_id, sent, answered)
        if status not in (200, 202):
            answer.problem_code = str(document.get("code", "?"))
        self.answers.append(answer)
        if status == 202 and self.poll and exchange_id:
            answer.final = await self._poll(session, exchange_id)

    async def _poll(
        self, session: aiohttp.ClientSession, exchange_id: str
    ) -> dict[str, Any] | None:
        deadline = time.monotonic() + DEADLINE_S + 60
        headers = {"Authorization": f"Bearer {self.system.keys['TOWN']}"}
        url = f"{self.system.url}/v1/exchanges/{exchange_id}"
        while time.monotonic() < deadline:
            try:
                async with session.get(url, headers=headers) as response:
                    if response.status == 200:
                        body = await response.json()
                        if body["status"] != "pending":
                            return dict(body)
            except (aiohttp.ClientError, TimeoutError):
                pass  # the gateway may be restarting: poll on
            await asyncio.sleep(_POLL_EVERY_S)
        return None

    # -- what the answers say --------------------------------------------------------
    def accepted(self) -> dict[str, str]:
        """Idempotency-Key -> exchange id of every accepted POST (200/202)."""
        return {a.key: str(a.exchange_id) for a in self.answers if a.accepted}

    def unsent(self) -> list[Answer]:
        """Requests refused before sending (503 "could not be sent"), refused by a store
        outage (503 ``STORE_UNAVAILABLE``: the same key replays the exchange if it was
        stored) or rate-limited (429), whose key was never accepted since: a retry must
        proceed."""
        accepted = self.accepted()
        latest: dict[str, Answer] = {}
        for answer in self.answers:  # in the order they were answered
            latest[answer.key] = answer
        # A key whose last answer is another error (a 502, or a 504 when a store outage
        # struck after the request was sent) is kept as that answer, not retried again.
        return [
            a
            for key, a in latest.items()
            if key not in accepted
            and ((a.status == 503 and a.code in _RETRIED_503) or a.status == 429)
        ]

    def first_success_after(self, moment: float) -> float | None:
        """Seconds from ``moment`` to the first 200 of an exchange sent after it."""
        times = [
            a.answered_at - moment for a in self.answers if a.status == 200 and a.sent_at >= moment
        ]
        return min(times) if times else None

    def by_status(self) -> Counter[int]:
        return Counter(a.status for a in self.answers)

    def errors_by_code(self) -> Counter[str]:
        return Counter(f"{a.status} {a.code}" for a in self.answers if not a.accepted)

    def too_slow(self) -> list[Answer]:
        """Answers later than the exchange's deadline plus the bound."""
        limit = max(self.wait_s, DEADLINE_S) + ANSWER_BOUND_S
        return [a for a in self.answers if a.latency_s > limit]
