"""Starting the server: check every model URI once, then uvicorn with N worker processes
sharing the port (each loads and warms its own copy of every model)."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile

from assay.serving import loader
from assay.serving.config import ServeConfig
from assay.store.base import open_store

log = logging.getLogger("assay.serving")


def prepare(config: ServeConfig) -> list[str]:
    """Resolve and download every model before any worker starts (bad URIs fail here,
    clearly, and workers then load from the verified cache). The URIs served now."""
    from assay.artifacts.artifact import download

    store = open_store(config.uri)
    shown = []
    try:
        for uri in config.models:
            chosen = loader.target(uri)
            version, record = loader.current_version(store, chosen, config.project)
            artifact = record.artifact if chosen.registered else record
            download(store, artifact)
            shown.append(f"{uri} -> {chosen.name} version {version}")
    finally:
        store.close()
    return shown


def run(config: ServeConfig, host: str, port: int, workers: int) -> None:
    """Serve until interrupted."""
    import uvicorn

    metrics_dir = tempfile.mkdtemp(prefix="assay-serve-metrics-") if workers > 1 else None
    if metrics_dir is not None:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    os.environ.update(config.to_env())
    try:
        uvicorn.run(
            "assay.serving.app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers if workers > 1 else None,
            log_level="info",
            access_log=False,
            timeout_graceful_shutdown=10,
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
