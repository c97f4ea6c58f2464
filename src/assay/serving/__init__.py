"""``assay serve``: registered models behind the Open Inference Protocol (KServe V2) and
MLflow's scoring protocol, with adaptive batching, live alias moves, traffic policies
(splits, sticky keys, shadow) and Prometheus metrics; ``assay.predict``, its client.

    from assay.serving import serve
    serve("models:/digits-classifier@production", port=5252, workers=2)

See docs/serving.md. Only the CLI (and `assay.serve` and `assay.predict`, lazily) imports
this package: it is a shell, like the server.
"""

from __future__ import annotations

import os

from assay.errors import InvalidInput

__all__ = ["serve"]


def serve(
    model_uri: str,
    *more: str,
    uri: str | os.PathLike[str] | None = None,
    project: str | None = None,
    host: str = "127.0.0.1",
    port: int = 5252,
    workers: int = 1,
    max_batch_size: int = 64,
    max_latency_ms: float = 5.0,
    max_queue_ms: float = 1000.0,
    allow_pickle: bool = False,
    poll_interval: float = 1.0,
    traffic: bool = True,
    log_sample: float = 1.0,
    announce_interval: float = 10.0,
) -> None:
    """Serve ``model_uri`` (and ``more``) until interrupted. A registered model served
    through an alias follows its traffic policy (``assay.models.set_traffic``) unless
    ``traffic=False``. The server announces itself to the store every
    ``announce_interval`` seconds (``Api().model_servers(name)``, the model page)."""
    from assay.serving.announce import public_url
    from assay.serving.config import ServeConfig
    from assay.serving.runner import prepare, run

    if workers < 1:
        raise InvalidInput("workers must be at least 1")
    config = ServeConfig(
        models=(model_uri, *more),
        uri=os.fspath(uri) if uri is not None else None,
        project=project,
        max_batch_size=max_batch_size,
        max_latency_ms=max_latency_ms,
        max_queue_ms=max_queue_ms,
        allow_pickle=allow_pickle,
        poll_interval=poll_interval,
        traffic=traffic,
        log_sample=log_sample,
        url=public_url(host, port),
        announce_interval=announce_interval,
    )
    prepare(config)
    run(config, host, port, workers)
