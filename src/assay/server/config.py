"""Server settings, passed to worker processes through the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass

from assay.errors import InvalidInput

LOOPBACK = ("127.0.0.1", "localhost", "::1")
# Host names a local server answers to (any port): a page on another name is refused
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")


@dataclass(frozen=True)
class ServerConfig:
    uri: str
    blobs: str | None = None
    local: bool = False  # single user, no auth; loopback only
    max_body_bytes: int = 64 * 1024 * 1024
    max_batch_points: int = 5_000_000
    max_series: int = 200  # (run, key) pairs in one series request
    max_series_points: int = 20_000
    # Host names a local server answers to; None: any (an app embedded in-process, whose
    # caller decides). ``assay server --local`` and ``assay ui`` use LOOPBACK_HOSTS.
    hosts: tuple[str, ...] | None = None
    # Seconds between two passes of the monitor scheduler; 0: no scheduler (an embedded
    # app); ``assay server`` runs one every 60 s unless told otherwise.
    monitor_interval: float = 0.0

    def to_env(self) -> dict[str, str]:
        env = {"ASSAY_SERVER_URI": self.uri, "ASSAY_SERVER_LOCAL": "1" if self.local else "0"}
        env["ASSAY_SERVER_MONITOR_INTERVAL"] = repr(self.monitor_interval)
        if self.blobs:
            env["ASSAY_SERVER_BLOBS"] = self.blobs
        return env

    @classmethod
    def from_env(cls) -> ServerConfig:
        uri = os.environ.get("ASSAY_SERVER_URI")
        if not uri:
            raise InvalidInput("ASSAY_SERVER_URI is not set: start the server with `assay server`")
        return cls(
            uri=uri,
            blobs=os.environ.get("ASSAY_SERVER_BLOBS") or None,
            local=os.environ.get("ASSAY_SERVER_LOCAL") == "1",
            hosts=LOOPBACK_HOSTS,
            monitor_interval=float(os.environ.get("ASSAY_SERVER_MONITOR_INTERVAL") or 0),
        )


def check_bind(host: str, local: bool) -> None:
    """A server without auth must not listen beyond this machine."""
    if local and host not in LOOPBACK:
        raise InvalidInput(
            "--local runs without authentication and binds only to loopback; "
            f"refusing host {host!r}"
        )
