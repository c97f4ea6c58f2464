"""Model servers in SQL: each running ``assay serve`` worker's announcement, one row of
``model_servers`` per worker. A heartbeat rewrites the row (the store's clock stamps it);
a clean stop deletes it; a row not refreshed for ``ModelServer.MISSED_BEATS`` intervals
reads as gone (``live`` False) and is deleted once a day old."""

from __future__ import annotations

import math
from typing import Any

import msgspec
import sqlalchemy as sa

from assay.errors import InvalidInput
from assay.records import ModelServer, ServedModel
from assay.store.sql import registry
from assay.store.sql.schema import model_servers
from assay.store.sql.tx import Tx
from assay.values import check_text

FORGET_AFTER = 86_400.0  # seconds after its last heartbeat a silent server's row is deleted
MAX_MODELS = 64


def announce(tx: Tx, server: ModelServer, now: float) -> ModelServer:
    """Insert or refresh ``server``'s row (every model it names must be registered)."""
    _check(server)
    for each in server.models:
        registry.model(tx.conn, each.name)
    row = {
        "url": server.url,
        "host": server.host,
        "pid": server.pid,
        "models": [msgspec.structs.asdict(m) for m in server.models],
        "heartbeat_at": now,
        "interval": server.interval,
    }
    insert = tx.insert(model_servers).values(id=server.id, started_at=server.started_at, **row)
    tx.conn.execute(insert.on_conflict_do_update(index_elements=["id"], set_=row))
    tx.conn.execute(
        sa.delete(model_servers).where(model_servers.c.heartbeat_at < now - FORGET_AFTER)
    )
    found = tx.conn.execute(sa.select(model_servers).where(model_servers.c.id == server.id))
    return _server(found.one(), now)


def withdraw(tx: Tx, server_id: str) -> None:
    check_text("server id", server_id, limit=64, single_line=True)
    tx.conn.execute(sa.delete(model_servers).where(model_servers.c.id == server_id))


def listing(conn: sa.Connection, name: str | None, now: float) -> list[ModelServer]:
    """Every announced server (serving ``name``, if given), live ones first, then by URL."""
    if name is not None:
        registry.model(conn, name)  # an unknown model is NotFound, as everywhere
    rows = conn.execute(sa.select(model_servers).order_by(model_servers.c.url))
    found = [_server(r, now) for r in rows]
    if name is not None:
        found = [s for s in found if s.serves(name) is not None]
    return sorted(found, key=lambda s: not s.live)


def _check(server: ModelServer) -> None:
    check_text("server id", server.id, limit=64, single_line=True)
    check_text("server url", server.url, limit=512, single_line=True)
    check_text("server host", server.host, limit=256, single_line=True)
    if not server.url.startswith(("http://", "https://")):
        raise InvalidInput(f"server url must start with http:// or https://, not {server.url!r}")
    if not math.isfinite(server.interval) or not 0 < server.interval <= 3600:
        raise InvalidInput(f"server interval must be 0 to 3600 seconds, not {server.interval}")
    if not math.isfinite(server.started_at) or not 0 <= server.pid < 2**31:
        raise InvalidInput("server started_at must be a time and pid a process id")
    if not server.models or len(server.models) > MAX_MODELS:
        raise InvalidInput(f"a server announces 1 to {MAX_MODELS} models")
    for each in server.models:
        check_text("served model uri", each.uri, limit=512, single_line=True)
        for arm in each.arms:
            check_text("served arm", arm, limit=128, single_line=True)


def _server(row: sa.Row[Any], now: float) -> ModelServer:
    late = now - row.heartbeat_at
    return ModelServer(
        id=row.id,
        url=row.url,
        host=row.host,
        pid=row.pid,
        models=msgspec.convert(row.models, list[ServedModel]),
        started_at=row.started_at,
        heartbeat_at=row.heartbeat_at,
        interval=row.interval,
        live=late <= ModelServer.MISSED_BEATS * row.interval,
    )
