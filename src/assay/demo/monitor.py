"""Monitoring a served model: a monitor of the production model with short windows, one
window of test images as they are and one with heavier ink sent to the running server,
then one pass of the monitor (what ``assay server`` does every minute): the second
window's inputs drift from the training images and the ``drift`` alert fires."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import assay
from assay.demo.common import PROJECT, pixel_columns, quiet_settings, read_part

if TYPE_CHECKING:
    import pandas as pd

    from assay.demo.serve import ModelServer

WINDOW = 3.0  # seconds: short, so that the demo sees two windows close
HEAVIER = 1.25  # the drifted window: ink times this, whole counts up to 16
LOG_WAIT = 30.0  # seconds the request log may take to land


@dataclass(frozen=True, kw_only=True)
class MonitorResult:
    monitor_id: str
    model: str
    reference: str
    rows: int
    windows: list[tuple[int, float, float | None, float | None]]  # step, traffic, drift, drifted
    alerts: list[str]

    def lines(self) -> list[str]:
        lines = [
            f"monitor {self.monitor_id}: windows of {WINDOW:g} s, reference {self.reference}",
            f"sent {self.rows} test images as they are, then {self.rows} with heavier ink",
        ]
        for step, traffic, drift, drifted in self.windows:
            verdict = "-" if drift is None else ("DRIFT" if drift else "no drift")
            pixels = "" if not drifted else f", {int(drifted)} pixels drifted"
            lines.append(f"  window {step}: {int(traffic)} requests, {verdict}{pixels}")
        lines += [f"  alert fired: {a}" for a in self.alerts] or ["  no alert fired"]
        lines.append(
            f"assay monitor show {self.monitor_id}; the UI: /models/{self.model}/monitoring"
        )
        return lines


def run_monitor(
    server: ModelServer, model: str, dataset: str, *, uri: str | None = None
) -> MonitorResult:
    """Profile the training images as the model receives them, add a monitor, send two
    windows of traffic to ``server`` (running), make one pass, report."""
    from assay.sdk import monitors
    from assay.store.base import open_store

    server.wait_ready()
    tensor = server.request(f"/v2/models/{model}")["inputs"][0]["name"]
    with assay.init(
        project=PROJECT, job_type="profile", tags=["demo"], uri=uri, settings=quiet_settings()
    ) as run:
        train, test = read_part(run, dataset, "train"), read_part(run, dataset, "test")
        version = run.log_profile(_as_logged(train, tensor), name="digits-serving-profile")
    assert version is not None
    store = open_store(uri)
    try:
        monitor = monitors.add(
            store, f"models:/{model}@production", reference=version.ref, window=WINDOW,
            alerts=["drift"],
        )  # fmt: skip
        _, spec = monitors.get(store, monitor.id)
        pixels = test[pixel_columns(test)].to_numpy(dtype=float)
        first = _send(server, model, tensor, pixels, origin=spec.origin, name="as-is")
        heavier = (pixels * HEAVIER).round().clip(max=16.0)
        second = _send(server, model, tensor, heavier, origin=spec.origin, name="heavier")
        _wait(store, model, 2 * len(pixels), spec.origin + (second + 1) * WINDOW)
        done = monitors.run_one(store, monitor.id, monitors.StoreRequests(store))
        windows = [_window(store, monitor.id, s) for s in (first, second)]
    finally:
        store.close()
    return MonitorResult(
        monitor_id=monitor.id,
        model=model,
        reference=version.ref,
        rows=len(pixels),
        windows=windows,
        alerts=[f"{c.alert.rule} (window {c.alert.opened_step})" for c in done.changes],
    )


def _as_logged(frame: pd.DataFrame, tensor: str) -> pd.DataFrame:
    """The pixels as the request log spreads the model's [n, 64] input tensor."""
    pixels = pixel_columns(frame)
    out = frame[pixels].astype(float)
    return out.set_axis([f"{tensor}[{i}]" for i in range(len(pixels))], axis=1)


def _send(
    server: ModelServer, model: str, tensor: str, rows: Any, *, origin: float, name: str
) -> int:
    """Wait for the next window, send ``rows`` in one request; that window's index."""
    step = math.floor((time.time() - origin) / WINDOW) + 1
    time.sleep(max(0.0, origin + step * WINDOW + 0.2 - time.time()))
    body = {
        "id": f"monitor-demo-{name}",
        "inputs": [
            {"name": tensor, "shape": list(rows.shape), "datatype": "FP64", "data": rows.tolist()}
        ],
    }
    server.request(f"/v2/models/{model}/infer", body)
    return step


def _wait(store: Any, model: str, rows: int, closes: float) -> None:
    """Until the window has closed and the request log holds ``rows`` entries (bounded)."""
    from assay.sdk.requests import read

    time.sleep(max(0.0, closes - time.time()))
    deadline = time.monotonic() + LOG_WAIT
    while len(read(store, model)) < rows and time.monotonic() < deadline:
        time.sleep(0.2)


def _window(
    store: Any, monitor_id: str, step: int
) -> tuple[int, float, float | None, float | None]:
    found = store.runs.history(monitor_id, ["traffic", "drift", "drifted_features"])

    def at(key: str) -> float | None:
        series = found.get(key)
        if series is None:
            return None
        values = dict(zip(series.steps.tolist(), series.values.tolist(), strict=True))
        return values.get(step)

    return step, at("traffic") or 0.0, at("drift"), at("drifted_features")
