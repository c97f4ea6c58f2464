"""Announcing a worker to the store: where it answers, which registered models it serves
and the version each arm answers with. A background thread writes the announcement at
start-up and every ``announce_interval`` seconds (never on the request path; a failed
write is logged and tried again at the next beat) and withdraws it on a clean stop. A
worker that dies without stopping leaves its row behind: after
``ModelServer.MISSED_BEATS`` silent intervals readers see it as gone (``live`` False).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable

from assay.records import ModelServer, ServedModel
from assay.serving.state import Served
from assay.store.base import Store, open_store

log = logging.getLogger("assay.serving")


def public_url(host: str, port: int) -> str:
    """The URL callers reach a server bound to ``host`` at: this machine's name when it
    listens on every interface."""
    shown = socket.gethostname() if host in ("", "0.0.0.0", "::") else host
    if ":" in shown:  # an IPv6 address
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def served_models(models: dict[str, Served]) -> list[ServedModel]:
    """The registered models of ``models`` and each arm's version now (read from another
    thread: every collection is copied before it is walked)."""
    found = []
    for name, served in tuple(models.items()):
        if not served.slot.target.registered:
            continue
        arms = {a.name: int(a.current.version) for a in tuple(served.arms.values())}
        found.append(ServedModel(name=name, uri=served.slot.target.uri, arms=arms))
    return found


class Announcer:
    """The worker's announcement, refreshed by a daemon thread."""

    def __init__(
        self,
        uri: str | None,
        url: str,
        interval: float,
        serving: Callable[[], list[ServedModel]],
    ) -> None:
        self.uri = uri
        self.interval = interval
        self.serving = serving
        self.url = url
        self.id = uuid.uuid4().hex
        self.started_at = time.time()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="assay-announce", daemon=True)
        self._store: Store | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop the beats and withdraw the announcement."""
        self._stop.set()
        self._thread.join(timeout=30)
        store = self._store
        if store is None:
            return
        try:
            store.models.withdraw(self.id)
        except Exception as exc:  # the row then reads as gone after a few intervals
            log.warning("could not withdraw this server's announcement: %s", exc)
        finally:
            store.close()

    def record(self) -> ModelServer | None:
        models = self.serving()
        if not models:
            return None
        return ModelServer(
            id=self.id,
            url=self.url,
            host=socket.gethostname(),
            pid=os.getpid(),
            models=models,
            started_at=self.started_at,
            interval=self.interval,
        )

    def _run(self) -> None:
        while not self._stop.is_set():
            self._beat()
            self._stop.wait(self.interval)

    def _beat(self) -> None:
        try:
            if self._store is None:
                self._store = open_store(self.uri)
            server = self.record()
            if server is not None:
                self._store.models.announce(server)
        except Exception as exc:  # the server keeps answering; the next beat tries again
            log.warning("could not announce this server to the store: %s", exc)
