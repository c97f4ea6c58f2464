"""The server's monitor scheduler: a thread that makes one pass over every monitor each
``interval`` seconds (sdk/monitors.py: closed windows, late labels, alert rules).

Several workers or servers over one database may each run one: a window is logged once
and an incident delivered once whoever gets there first (docs/monitoring.md).
"""

from __future__ import annotations

import logging
import threading

from assay.store.base import Store

log = logging.getLogger("assay.monitoring")


class MonitorScheduler:
    def __init__(self, store: Store, interval: float) -> None:
        self.store = store
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="assay-monitors", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 30)

    def _loop(self) -> None:
        from assay.sdk.monitors import StoreRequests, run_all

        source = StoreRequests(self.store)
        while not self._stop.is_set():
            try:
                for done in run_all(self.store, source):
                    if done.windows or done.changes:
                        log.info(
                            "monitor %s: windows %s, %d alert events",
                            done.monitor, done.windows, len(done.changes),
                        )  # fmt: skip
            except Exception:  # a pass that fails is logged; the next one tries again
                log.exception("monitor pass failed")
            self._stop.wait(self.interval)
