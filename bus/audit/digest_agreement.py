"""Do the provider's and the gateway's digests of one exchange agree?

Gateway and connectors digest payloads with the same key (``audit.digest_key``), so the
request the provider received (its RESPONDED ``request_digest``) must digest like the one
the gateway sent (REQUESTED), and the reply it sent (RESPONDED ``response_digest``) like
the one the gateway completed with (COMPLETED). A difference means what the provider
answered is not what the requester got. ``interop audit verify`` checks the whole log
with it; the indexer watches the newest exchanges with a bounded one and logs a
difference the moment the second side arrives.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TypeVar

from bus.audit.event import EventRow

__all__ = ["DigestAgreement"]

_PARTS = ("request", "response")
_T = TypeVar("_T")


class DigestAgreement:
    """Per exchange, the gateway's digests and the provider's; ``max_exchanges`` bounds
    the memory (the oldest exchanges are forgotten first; None keeps all)."""

    def __init__(self, max_exchanges: int | None = None) -> None:
        self._max = max_exchanges
        self._gateway: OrderedDict[str, dict[str, str]] = OrderedDict()
        self._provider: OrderedDict[str, list[dict[str, str]]] = OrderedDict()
        self._disagreeing: dict[str, None] = {}

    def add(self, row: EventRow) -> bool:
        """Take one event into account; True when it reveals a new disagreement."""
        exchange_id = row.exchange_id
        if exchange_id is None:
            return False
        if row.type == "REQUESTED" and row.request_digest:
            self._remember(self._gateway, exchange_id, {}).update(request=row.request_digest)
        elif row.type == "COMPLETED" and row.response_digest:
            self._remember(self._gateway, exchange_id, {}).update(response=row.response_digest)
        elif row.type == "RESPONDED":
            sent = {"request": row.request_digest or "", "response": row.response_digest or ""}
            self._remember(self._provider, exchange_id, []).append(sent)
        else:
            return False
        if exchange_id in self._disagreeing or not self._differs(exchange_id):
            return False
        self._disagreeing[exchange_id] = None
        return True

    def disagreeing(self) -> list[str]:
        """Exchange ids where the digests differ, in the order they were found."""
        return list(self._disagreeing)

    def _differs(self, exchange_id: str) -> bool:
        gateway = self._gateway.get(exchange_id, {})
        return any(
            part in gateway and sent[part] and sent[part] != gateway[part]
            for sent in self._provider.get(exchange_id, [])
            for part in _PARTS
        )

    def _remember(self, table: OrderedDict[str, _T], exchange_id: str, empty: _T) -> _T:
        value = table.setdefault(exchange_id, empty)
        table.move_to_end(exchange_id)
        if self._max is not None:
            while len(table) > self._max:
                table.popitem(last=False)
        return value
