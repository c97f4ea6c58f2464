"""RemoteStore: the Store protocol over HTTP to an Assay server, one object per facet
(http/<facet>.py) over one shared transport (http/transport.py)."""

from __future__ import annotations

from typing import Any

import httpx

from assay import wire
from assay.store.http.alerts import HttpAlerts
from assay.store.http.artifacts import HttpArtifacts
from assay.store.http.blobs import HttpBlobs
from assay.store.http.credentials import key_for
from assay.store.http.evaluations import HttpEvaluations
from assay.store.http.labels import HttpLabels
from assay.store.http.media import HttpMedia
from assay.store.http.models import HttpModels
from assay.store.http.prompts import HttpPrompts
from assay.store.http.requests import HttpRequests
from assay.store.http.runs import HttpRuns
from assay.store.http.sweeps import HttpSweeps
from assay.store.http.traces import HttpTraces
from assay.store.http.transport import Transport


class RemoteStore:
    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        client: httpx.Client | None = None,
        retries: int = 4,
        timeout: float = 30.0,
    ) -> None:
        self.uri = url.rstrip("/")
        key = api_key if api_key is not None else key_for(self.uri)
        headers = {"accept": wire.MSGPACK, "user-agent": "assay-client"}
        if key:
            headers["authorization"] = f"Bearer {key}"
        if client is None:
            client = httpx.Client(base_url=self.uri, timeout=timeout)
        client.headers.update(headers)
        self.http = Transport(self.uri, client, retries)
        self.runs = HttpRuns(self.http)
        self.blobs = HttpBlobs(self.http)
        self.artifacts = HttpArtifacts(self.http)
        self.models = HttpModels(self.http)
        self.evaluations = HttpEvaluations(self.http, self.blobs)
        self.alerts = HttpAlerts(self.http)
        self.requests = HttpRequests(self.http)
        self.labels = HttpLabels(self.http)
        self.media = HttpMedia(self.http)
        self.sweeps = HttpSweeps(self.http)
        self.traces = HttpTraces(self.http)
        self.prompts = HttpPrompts(self.http)

    def whoami(self) -> dict[str, Any]:
        """Who the server takes this store's API key for."""
        return self.http.get("/api/v1/whoami", dict[str, Any])

    def close(self) -> None:
        self.http.close()
