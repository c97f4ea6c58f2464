"""OTLP/HTTP trace ingest against a real ``assay server`` process on loopback, fed by the
real OpenTelemetry SDK and its OTLP/HTTP exporter (protobuf), and by hand-written OTLP/JSON
as a collector sends it; on SQLite and PostgreSQL. Answers are checked against the OTLP
specification: the response in the request's encoding, partial success, google.rpc.Status
bodies for failures and their HTTP statuses."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

import assay
from assay.store.sql.auth import SqlAuth
from assay.store.sql.store import SqlStore
from tests.test_server_e2e import ServerProcess

PROTOBUF = "application/x-protobuf"


@dataclass
class Team:
    server: ServerProcess
    keys: dict[str, str]  # user -> API key

    @property
    def endpoint(self) -> str:
        return f"{self.server.url}/v1/traces"

    def api(self, user: str = "ann") -> assay.Api:
        from assay.store.http.store import RemoteStore

        return assay.Api(store=RemoteStore(self.server.url, api_key=self.keys[user]))

    def post(
        self, body: bytes, kind: str, user: str | None = "ann", **headers: str
    ) -> httpx.Response:
        sent = {"content-type": kind, **headers}
        if user is not None and "authorization" not in sent:
            sent["authorization"] = f"Bearer {self.keys[user]}"
        return httpx.post(self.endpoint, content=body, headers=sent, timeout=30)


@pytest.fixture(params=["sqlite", "postgresql"])
def team(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Team]:
    """A server with API keys: ann writes to shop, viv only views it, root is admin."""
    if request.param == "postgresql":
        uri = request.getfixturevalue("postgres_url")
        store = SqlStore.from_url(uri, blobs=tmp_path / "blobs")
        extra: tuple[str, ...] = ("--auth", "--blobs", str(tmp_path / "blobs"))
    else:
        uri = str(tmp_path / "team-store")
        store = SqlStore.embedded(Path(uri))
        extra = ("--auth",)
    auth = SqlAuth(store.engine)
    keys = {}
    for user, role in (("ann", "writer"), ("viv", "viewer"), ("root", None)):
        auth.add_user(user, is_admin=role is None)
        if role is not None:
            auth.grant(user, "shop", role)
        keys[user] = auth.create_key(user)[1]
    store.close()
    server = ServerProcess(uri, extra=extra).start()
    yield Team(server, keys)
    server.stop()


def _provider(exporter: Any, **resource: str) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create(resource))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def _agent_run(provider: TracerProvider) -> str:
    """An agent that calls a model, then a tool: three spans of one trace; its trace id."""
    tracer = provider.get_tracer("shop.agent")
    with tracer.start_as_current_span("invoke_agent support", kind=SpanKind.INTERNAL) as root:
        root.set_attribute("gen_ai.operation.name", "invoke_agent")
        root.set_attribute("gen_ai.agent.name", "support")
        with tracer.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT) as chat:
            chat.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.usage.input_tokens": 1200,
                    "gen_ai.usage.output_tokens": 300,
                    "gen_ai.input.messages": json.dumps(
                        [{"role": "user", "parts": [{"type": "text", "content": "refund?"}]}]
                    ),
                    "app.tags": ["a", "b"],
                }
            )
        with tracer.start_as_current_span("execute_tool lookup_order") as tool:
            tool.set_attributes(
                {
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": "lookup_order",
                    "gen_ai.tool.call.arguments": '{"order": 42}',
                }
            )
            tool.set_status(Status(StatusCode.ERROR, "order not found"))
        return f"{root.get_span_context().trace_id:032x}"


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
def test_the_opentelemetry_sdk_exports_an_agent_trace(team: Team, compression: Compression) -> None:
    exporter = OTLPSpanExporter(
        endpoint=team.endpoint,
        headers={"authorization": f"Bearer {team.keys['ann']}"},
        compression=compression,
    )
    provider = _provider(exporter, **{"service.name": "shop"})
    trace_id = _agent_run(provider)
    provider.shutdown()
    with team.api() as api:
        (listed,) = api.traces("shop")
        assert listed.trace_id == trace_id and listed.name == "invoke_agent support"
        trace = api.trace(trace_id)
    assert (trace.n_spans, trace.n_errors, trace.status) == (3, 1, "error")
    assert (trace.input_tokens, trace.output_tokens) == (1200, 300)
    # gpt-4o-mini by genai-prices: $0.15 per million input tokens, $0.60 per million output
    assert trace.cost == pytest.approx(1200 * 0.15e-6 + 300 * 0.6e-6)
    chat = next(s for s in trace.spans if s.operation == "chat")
    assert (chat.model, chat.provider, chat.kind) == ("gpt-4o-mini", "openai", "client")
    assert chat.prices is not None and chat.prices.startswith("genai-prices ")
    assert chat.attributes["app.tags"] == ["a", "b"] and chat.parent_id == trace.root.span_id
    assert chat.resource["service.name"] == "shop" and chat.scope == "shop.agent"
    tool = next(s for s in trace.spans if s.operation == "execute_tool")
    assert (tool.status, tool.status_message) == ("error", "order not found")
    assert trace.latency > 0 and trace.root.end_ns >= tool.end_ns


def test_a_retried_export_stores_each_span_once(team: Team) -> None:
    memory = InMemorySpanExporter()
    provider = _provider(memory, **{"service.name": "shop"})
    trace_id = _agent_run(provider)
    spans: list[ReadableSpan] = list(memory.get_finished_spans())
    exporter = OTLPSpanExporter(
        endpoint=team.endpoint, headers={"authorization": f"Bearer {team.keys['ann']}"}
    )
    assert exporter.export(spans[:2]) == SpanExportResult.SUCCESS
    assert exporter.export(spans) == SpanExportResult.SUCCESS  # the retry, and one more
    assert exporter.export(spans) == SpanExportResult.SUCCESS
    with team.api() as api:
        trace = api.trace(trace_id)
    assert trace.n_spans == 3 == len(trace.spans) and trace.input_tokens == 1200


def test_the_project_is_the_header_else_assay_project_else_service_name(team: Team) -> None:
    cases = [
        ({"x-assay-project": "shop"}, {"assay.project": "nope", "service.name": "nope"}),
        ({}, {"assay.project": "shop", "service.name": "nope"}),
        ({}, {"service.name": "shop"}),
    ]
    for headers, resource in cases:
        exporter = OTLPSpanExporter(
            endpoint=team.endpoint,
            headers={"authorization": f"Bearer {team.keys['ann']}", **headers},
        )
        provider = _provider(exporter, **resource)
        _agent_run(provider)
        provider.shutdown()
    with team.api("root") as api:
        assert len(api.traces("shop")) == 3
        assert "nope" not in [p.name for p in api.projects()]


# ---- OTLP/JSON, as a collector sends it -------------------------------------------------------


def _json_request(project: str = "shop", *spans: dict[str, Any]) -> bytes:
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": project}}]}
    scope_spans = [{"scope": {"name": "collector"}, "spans": list(spans)}]
    return json.dumps(
        {"resourceSpans": [{"resource": resource, "scopeSpans": scope_spans}]}
    ).encode()


def _json_span(
    span_id: str, trace_id: str = "5B8EFFF798038103D269B633813FC60C", **more: Any
) -> dict[str, Any]:
    return {
        "traceId": trace_id,
        "spanId": span_id,
        "name": "llm call",
        "kind": 3,
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000001500000000",
        "attributes": [
            {"key": "openinference.span.kind", "value": {"stringValue": "LLM"}},
            {"key": "llm.model_name", "value": {"stringValue": "claude-x"}},
            {"key": "llm.token_count.prompt", "value": {"intValue": "40"}},
            {"key": "llm.token_count.completion", "value": {"intValue": 2}},
            {"key": "llm.cost.total", "value": {"doubleValue": 0.25}},
            {"key": "llm.input_messages.0.message.role", "value": {"stringValue": "user"}},
            {"key": "llm.input_messages.0.message.content", "value": {"stringValue": "hi"}},
        ],
        "status": {"code": 1},
        **more,
    }


@pytest.mark.parametrize("gzipped", [False, True])
def test_otlp_json_is_read_and_answered_in_json(team: Team, gzipped: bool) -> None:
    body = _json_request(
        "shop",
        _json_span("EEE19B7EC3C1B174"),
        _json_span("eee19b7ec3c1b175", parentSpanId="EEE19B7EC3C1B174"),
    )
    headers = {"content-encoding": "gzip"} if gzipped else {}
    answer = team.post(gzip.compress(body) if gzipped else body, "application/json", **headers)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    assert answer.json() == {}  # full success: partial_success left unset
    with team.api() as api:
        trace = api.trace("5b8efff798038103d269b633813fc60c")
    assert trace.n_spans == 2 and trace.latency == pytest.approx(1.5)
    first = trace.root
    assert first is not None and (first.operation, first.model, first.kind) == (
        "chat",
        "claude-x",
        "client",
    )
    assert (first.input_tokens, first.output_tokens, first.status) == (40, 2, "ok")
    assert trace.cost == pytest.approx(0.5) and first.prices == "span attribute llm.cost.total"


def test_spans_that_cannot_be_stored_are_a_partial_success(team: Team) -> None:
    body = _json_request(
        "shop",
        _json_span("0000000000000001"),
        _json_span("0000000000000002", trace_id=""),
        _json_span("0000000000000003", trace_id="00" * 16),
    )
    answer = team.post(body, "application/json")
    assert answer.status_code == 200
    partial = answer.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "2" and "valid trace id" in partial["errorMessage"]
    with team.api() as api:
        assert [t.n_spans for t in api.traces("shop")] == [1]


def test_a_malformed_protobuf_is_a_400_status_in_protobuf(team: Team) -> None:
    answer = team.post(b"\x0a\xff\xff\xff\xff\x0f garbage", PROTOBUF)
    assert answer.status_code == 400 and answer.headers["content-type"] == PROTOBUF
    status = status_pb2.Status.FromString(answer.content)
    assert "not a protobuf ExportTraceServiceRequest" in status.message and status.code == 3
    detail = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(detail) and detail.field_violations[0].field == "body"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not JSON"),
        (b'{"resourceSpans": 3}', "not a JSON ExportTraceServiceRequest"),
        (
            json.dumps(
                {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}
            ).encode(),
            "not hex-encoded",
        ),
    ],
)
def test_malformed_json_is_a_400_status_in_json(team: Team, body: bytes, message: str) -> None:
    answer = team.post(body, "application/json")
    assert answer.status_code == 400 and answer.headers["content-type"] == "application/json"
    assert message in answer.json()["message"] and answer.json()["code"] == 3


def test_credentials_and_projects_are_checked_with_otlp_statuses(team: Team) -> None:
    body = _json_request("shop", _json_span("0000000000000001"))
    assert team.post(body, "application/json", user=None).status_code == 401
    assert team.post(body, "application/json", authorization="Bearer ak_bad").status_code == 401
    refused = team.post(body, "application/json", user="viv")
    assert refused.status_code == 403 and "writer role" in refused.json()["message"]
    unknown = team.post(
        _json_request("elsewhere", _json_span("0000000000000001")), "application/json"
    )
    assert unknown.status_code == 403 and "'elsewhere'" in unknown.json()["message"]
    wrong_type = team.post(body, "text/plain")
    assert wrong_type.status_code == 415 and "not OTLP" in wrong_type.json()["message"]
    bad_name = team.post(
        _json_request("unknown_service:python", _json_span("0000000000000001")), "application/json"
    )
    assert bad_name.status_code == 400 and "X-Assay-Project" in bad_name.json()["message"]
    with team.api() as api:
        assert api.traces("shop") == []
    created = team.post(
        _json_request("fresh", _json_span("0000000000000001")), "application/json", user="root"
    )
    assert created.status_code == 200
    with team.api("root") as api:
        assert len(api.traces("fresh")) == 1


def test_protobuf_answers_are_export_responses(team: Team) -> None:
    request = trace_service_pb2.ExportTraceServiceRequest()
    answer = team.post(request.SerializeToString(), PROTOBUF)
    assert answer.status_code == 200 and answer.headers["content-type"] == PROTOBUF
    parsed = trace_service_pb2.ExportTraceServiceResponse.FromString(answer.content)
    assert not parsed.HasField("partial_success")


def test_the_embedded_ui_takes_otlp_from_this_machine_only(tmp_path: Path) -> None:
    """``assay ui`` (no auth, loopback) is an OTLP endpoint too; a web page cannot post to it."""
    import subprocess
    import sys
    import time

    from tests.services import free_port

    port, uri = free_port(), str(tmp_path / "embedded")
    args = [sys.executable, "-m", "assay", "ui", "--uri", uri, "--port", str(port), "--no-browser"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        provider = _provider(
            OTLPSpanExporter(endpoint=f"{url}/v1/traces", compression=Compression.Gzip),
            **{"service.name": "local-app"},
        )
        trace_id = _agent_run(provider)
        provider.shutdown()
        body = _json_request("local-app", _json_span("0000000000000001"))
        page = httpx.post(
            f"{url}/v1/traces",
            content=body,
            headers={"content-type": "text/plain", "origin": "http://evil.example"},
        )
        assert page.status_code == 403
        assert httpx.post(f"{url}/v1/traces", content=body).status_code == 415
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    with assay.Api(uri) as api:
        assert [t.trace_id for t in api.traces("local-app")] == [trace_id]


def test_a_store_outage_is_a_retryable_503_with_retry_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from starlette.testclient import TestClient

    from assay.errors import StoreUnavailable
    from assay.server.app import create_app
    from assay.server.config import ServerConfig

    app = create_app(ServerConfig(str(tmp_path / "s"), local=True))

    def down(*args: object, **kwargs: object) -> int:
        raise StoreUnavailable("the database does not answer")

    monkeypatch.setattr(app.state.assay.store.traces.db, "write", down)  # every transaction
    with TestClient(app, base_url="http://127.0.0.1") as client:
        request = _json_request("shop", _json_span("0000000000000001"))
        answer = client.post(
            "/v1/traces", content=request, headers={"content-type": "application/json"}
        )
        assert answer.status_code == 503 and answer.headers["retry-after"] == "2"
        assert "does not answer" in answer.json()["message"]
