# Hand-written stubs for the part of asyncpg interop-bus uses (asyncpg ships no types).
from asyncpg.connection import Connection as Connection
from asyncpg.connection import connect as connect
from asyncpg.exceptions import *  # noqa: F403 - asyncpg re-exports every exception
from asyncpg.pool import Pool as Pool
from asyncpg.pool import create_pool as create_pool
from asyncpg.protocol import Record as Record

__version__: str
