# ruff: noqa: ASYNC109 - the signatures are asyncpg's own, timeout parameters included
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from asyncpg.protocol import Record
from asyncpg.transaction import Transaction

class Connection:
    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str: ...
    async def executemany(
        self, command: str, args: Iterable[Sequence[Any]], *, timeout: float | None = None
    ) -> None: ...
    async def fetch(self, query: str, *args: Any, timeout: float | None = None) -> list[Record]: ...
    async def fetchrow(
        self, query: str, *args: Any, timeout: float | None = None
    ) -> Record | None: ...
    async def fetchval(
        self, query: str, *args: Any, column: int = 0, timeout: float | None = None
    ) -> Any: ...
    def transaction(
        self,
        *,
        isolation: Literal["serializable", "repeatable_read", "read_committed"] | None = None,
        readonly: bool = False,
        deferrable: bool = False,
    ) -> Transaction: ...
    def is_closed(self) -> bool: ...
    def get_server_pid(self) -> int: ...
    async def close(self, *, timeout: float | None = None) -> None: ...
    def terminate(self) -> None: ...

async def connect(
    dsn: str | None = None,
    *,
    host: str | None = None,
    port: int | None = None,
    user: str | None = None,
    password: str | None = None,
    database: str | None = None,
    timeout: float = 60,
    command_timeout: float | None = None,
    server_settings: Mapping[str, str] | None = None,
) -> Connection: ...
