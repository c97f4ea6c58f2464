"""System metrics (CPU, memory, disk, network; GPU through pynvml when present)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psutil

MB = 1024 * 1024


class SystemMonitor:
    """Samples every ``interval`` seconds into ``system/*`` series with their own step."""

    def __init__(self, emit: Callable[[int, float, dict[str, Any]], None], interval: float) -> None:
        self._emit = emit
        self.interval = interval
        self._stop = threading.Event()
        self._process = psutil.Process()
        self._gpus = _nvml_handles()
        self._step = 0
        self._thread = threading.Thread(target=self._loop, name="assay-system", daemon=True)

    def start(self) -> None:
        self._process.cpu_percent(None)
        psutil.cpu_percent(None)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while True:
            try:
                self._emit(self._step, time.time(), self.sample())
                self._step += 1
            except Exception:
                return  # metrics are a courtesy: never disturb the run over them
            if self._stop.wait(self.interval):
                return

    def sample(self) -> dict[str, float]:
        memory = psutil.virtual_memory()
        data: dict[str, float] = {
            "system/cpu_percent": psutil.cpu_percent(None),
            "system/memory_percent": memory.percent,
            "system/proc_cpu_percent": self._process.cpu_percent(None),
            "system/proc_rss_mb": self._process.memory_info().rss / MB,
            "system/disk_percent": psutil.disk_usage("/").percent,
        }
        io = psutil.disk_io_counters()
        if io is not None:
            data["system/disk_read_mb"] = io.read_bytes / MB
            data["system/disk_write_mb"] = io.write_bytes / MB
        net = psutil.net_io_counters()
        if net is not None:
            data["system/net_sent_mb"] = net.bytes_sent / MB
            data["system/net_recv_mb"] = net.bytes_recv / MB
        data.update(_gpu_sample(self._gpus))
        return data


def _nvml_handles() -> list[Any]:
    try:
        import pynvml  # type: ignore[import-not-found]

        pynvml.nvmlInit()
        return [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
    except Exception:  # no pynvml, no driver, no GPU: no GPU metrics
        return []


def _gpu_sample(handles: list[Any]) -> dict[str, float]:
    if not handles:
        return {}
    import pynvml

    data: dict[str, float] = {}
    for i, handle in enumerate(handles):
        util = pynvml.nvmlDeviceGetUtilizationRates(handle)
        mem = pynvml.nvmlDeviceGetMemoryInfo(handle)
        data[f"system/gpu{i}/util_percent"] = float(util.gpu)
        data[f"system/gpu{i}/memory_percent"] = 100.0 * mem.used / mem.total
        data[f"system/gpu{i}/temperature_c"] = float(pynvml.nvmlDeviceGetTemperature(handle, 0))
    return data
