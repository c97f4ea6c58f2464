"""The database a SqlStore's facets share, and the transaction object its writes receive.

A write function takes one ``Tx`` (its connection, the dialect's insert, and who acts)
instead of the three separately; reads take a plain connection.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from assay.errors import InvalidInput, StoreUnusable
from assay.store.sql import opening
from assay.store.sql.write_gate import WriteGate


class Tx:
    """One open write transaction: its connection, a dialect-aware insert (for ON
    CONFLICT), and the actor the audit log names."""

    __slots__ = ("actor", "conn", "dialect")

    def __init__(self, conn: sa.Connection, dialect: str, actor: str) -> None:
        self.conn = conn
        self.dialect = dialect
        self.actor = actor

    def insert(self, table: sa.Table) -> Any:
        return (postgresql if self.dialect == "postgresql" else sqlite).insert(table)


CLOCK_REFRESH = 300.0  # seconds between two readings of the database server's clock


class Database:
    """The engine and how its transactions open; every facet of one SqlStore shares it."""

    def __init__(
        self, engine: sa.Engine, actor: str, read_only: bool = False, gate: WriteGate | None = None
    ) -> None:
        """``gate``: where write transactions wait while the WAL checkpointer of a SQLite
        file holds them back (``write_gate.py``)."""
        self.engine = engine
        self.dialect = engine.dialect.name
        self.actor = actor  # who acts in the audit log when no one is named
        self.read_only = read_only
        self.gate = gate
        self._offset = 0.0  # the database server's clock minus this machine's
        self._offset_at = -CLOCK_REFRESH

    def clock_offset(self) -> float:
        """How far the database server's clock is ahead of this machine's (PostgreSQL;
        0 for SQLite, whose file is read by this machine's clock). Measured on first use
        and every CLOCK_REFRESH seconds, so that every client of one database judges
        liveness by the same clock, whatever its own says."""
        if self.dialect != "postgresql":
            return 0.0
        if time.monotonic() - self._offset_at >= CLOCK_REFRESH:
            before = time.time()
            with self.read() as conn:
                query = sa.select(sa.func.extract("epoch", sa.func.now()))
                server = float(conn.execute(query).scalar_one())
            after = time.time()
            self._offset = server - (before + after) / 2
            self._offset_at = time.monotonic()
        return self._offset

    @contextmanager
    def write(self, doing: str = "write", actor: str | None = None) -> Iterator[Tx]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite) acting as ``actor``."""
        self.writable(doing)
        gate = nullcontext() if self.gate is None else self.gate.writing()
        with gate, opening.translating(doing), self.engine.connect() as conn:
            conn.execution_options(assay_tx="IMMEDIATE")
            with conn.begin():
                yield Tx(conn, self.dialect, actor or self.actor)

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        with opening.translating("read"), self.engine.connect() as conn:
            yield conn

    def writable(self, doing: str) -> None:
        if self.read_only:
            raise StoreUnusable(
                f"the store is read-only (its files are not writable): cannot {doing}"
            )


MAX_PAGE = 2**31 - 1  # the largest limit or offset of a listing


def check_page(name: str, value: object) -> None:
    """A limit, offset or tail: a whole number every database can bind."""
    if type(value) is not int or not 0 <= value <= MAX_PAGE:
        raise InvalidInput(f"{name} must be an integer from 0 to {MAX_PAGE}, not {value!r:.40}")
