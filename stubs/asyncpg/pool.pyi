# ruff: noqa: ASYNC109 - the signatures are asyncpg's own, timeout parameters included
from collections.abc import Generator, Mapping
from types import TracebackType
from typing import Any

from asyncpg.connection import Connection
from asyncpg.protocol import Record

class PoolAcquireContext:
    async def __aenter__(self) -> Connection: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

class Pool:
    def __await__(self) -> Generator[Any, None, Pool]: ...
    def acquire(self, *, timeout: float | None = None) -> PoolAcquireContext: ...
    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str: ...
    async def fetch(self, query: str, *args: Any, timeout: float | None = None) -> list[Record]: ...
    async def fetchrow(
        self, query: str, *args: Any, timeout: float | None = None
    ) -> Record | None: ...
    async def fetchval(
        self, query: str, *args: Any, column: int = 0, timeout: float | None = None
    ) -> Any: ...
    async def close(self) -> None: ...
    def terminate(self) -> None: ...
    def is_closing(self) -> bool: ...

def create_pool(
    dsn: str | None = None,
    *,
    min_size: int = 10,
    max_size: int = 10,
    max_inactive_connection_lifetime: float = 300.0,
    timeout: float = 60,
    command_timeout: float | None = None,
    server_settings: Mapping[str, str] | None = None,
) -> Pool: ...
