"""Serving: ``assay serve`` for the production model in a child process on a free loopback
port, one Open Inference Protocol request with a few test images, then the server stopped.

The server is started with :meth:`ModelServer.start` and waited for in :func:`run_serving`,
so that it can load while other work goes on."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from types import TracebackType
from typing import IO, Any

import assay
from assay.demo.common import PROJECT, pixel_columns, quiet_settings, read_part
from assay.errors import AssayError, NotFound

SERVING_MODULES = ("uvicorn", "starlette", "prometheus_client", "pandas")
READY_TIMEOUT = 120.0  # seconds; start-up takes a few on a laptop


def production_version(name: str, uri: str | None) -> int | None:
    """The version ``name@production`` points to, or None when there is none."""
    try:
        return assay.models.get(f"models:/{name}@production", uri=uri).version
    except NotFound:
        return None


@dataclass
class ModelServer:
    """``assay serve MODEL_URI --uri URI --port PORT`` as a child process."""

    model_uri: str
    uri: str
    host: str = "127.0.0.1"
    port: int = 0  # 0: a free port, chosen at start
    started: float = 0.0
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def command(self) -> str:
        return f"assay serve {self.model_uri} --uri {self.uri} --port {self.port}"

    def start(self) -> ModelServer:
        if self.port == 0:
            with socket.socket() as probe:
                probe.bind((self.host, 0))
                self.port = int(probe.getsockname()[1])
        # the server's output, kept for an error message; closed by stop()
        self._log = tempfile.TemporaryFile(prefix="assay-demo-serve-")  # noqa: SIM115
        args = ["serve", self.model_uri, "--uri", self.uri, "--host", self.host]
        self.started = time.monotonic()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "assay", *args, "--port", str(self.port)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> float:
        """Seconds from the start until ``/v2/health/ready`` answered 200."""
        process = self._process
        assert process is not None, "start() first"
        deadline = self.started + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssayError(
                    f"the model server exited with code {process.returncode} before it was "
                    f"ready; its output ended with:\n{self.output_tail()}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/v2/health/ready", timeout=2) as answer:
                    if answer.status == 200:
                        return time.monotonic() - self.started
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.1)
        raise AssayError(
            f"the model server was not ready after {timeout:g} s; its output ended with:\n"
            f"{self.output_tail()}"
        )

    def request(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """GET ``path``, or POST ``body`` as JSON to it; the JSON answer."""
        data = None if body is None else json.dumps(body).encode()
        call = urllib.request.Request(
            f"{self.url}{path}", data=data, headers={"content-type": "application/json"}
        )
        try:
            with urllib.request.urlopen(call, timeout=30) as answer:
                result: dict[str, Any] = json.loads(answer.read())
                return result
        except urllib.error.HTTPError as exc:
            raise AssayError(f"{path}: HTTP {exc.code}: {exc.read().decode()[:500]}") from exc

    def output_tail(self, lines: int = 15) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return "\n".join(self._log.read().decode(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """Ask the server to shut down (SIGTERM, as Ctrl-C would), then wait for it."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> ModelServer:
        return self.start() if self._process is None else self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@dataclass(frozen=True, kw_only=True)
class ServeResult:
    run_id: str
    command: str
    url: str
    ready_seconds: float
    model: str
    model_version: int  # the registry version that answered
    production_version: int | None  # where @production pointed just after the answer
    predictions: list[int]
    labels: list[int]

    def lines(self) -> list[str]:
        right = sum(p == t for p, t in zip(self.predictions, self.labels, strict=True))

        def cells(values: list[int]) -> str:
            return " ".join(str(v) for v in values)

        return [
            f"$ {self.command}",
            f"ready on {self.url}, {self.ready_seconds:.1f} s after it was started",
            f"POST /v2/models/{self.model}/infer, {len(self.labels)} test images "
            "(Open Inference Protocol)",
            f"  answered by model_version {self.model_version} "
            f"(@production is version {self.production_version})",
            f"  predicted  {cells(self.predictions)}",
            f"  true       {cells(self.labels)}   ({right} of {len(self.labels)} right)",
            "server stopped",
        ]


def run_serving(
    server: ModelServer,
    model: str,
    dataset: str,
    *,
    uri: str | None = None,
    rows: int = 8,
    seed: int = 0,
    settings: assay.Settings | None = None,
) -> ServeResult:
    """A "serve" run: wait for ``server`` (started), send ``rows`` test images of
    ``dataset`` to ``model`` over the Open Inference Protocol, record who answered."""
    with assay.init(
        project=PROJECT,
        job_type="serve",
        tags=["demo"],
        config={"model": server.model_uri, "rows": rows, "seed": seed},
        uri=uri,
        settings=settings or quiet_settings(),
    ) as run:
        test = read_part(run, dataset, "test").sample(n=rows, random_state=seed)
        run.use_artifact(server.model_uri)
        ready = server.wait_ready()
        metadata = server.request(f"/v2/models/{model}")
        tensor = metadata["inputs"][0]  # the pipeline takes one [n, 64] tensor
        pixels = test[pixel_columns(test)].to_numpy(dtype=float)
        answer = server.request(
            f"/v2/models/{model}/infer",
            {
                "id": f"demo-{run.id}",
                "inputs": [
                    {
                        "name": tensor["name"],
                        "shape": list(pixels.shape),
                        "datatype": "FP64",
                        "data": pixels.tolist(),
                    }
                ],
            },
        )
        server.stop()
        (output,) = answer["outputs"]
        predictions = [int(v) for v in output["data"]]
        labels = [int(v) for v in test["label"]]
        version = int(answer["model_version"])
        production = production_version(model, uri)
        run.summary.update(
            {
                "model_version": version,
                "production_version": production,
                "rows": rows,
                "rows_correct": sum(p == t for p, t in zip(predictions, labels, strict=True)),
                "ready_seconds": ready,
            }
        )
        return ServeResult(
            run_id=run.id,
            command=server.command,
            url=server.url,
            ready_seconds=ready,
            model=model,
            model_version=version,
            production_version=production,
            predictions=predictions,
            labels=labels,
        )
