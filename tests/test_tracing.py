"""Spans recorded with ``@assay.trace`` and ``assay.span``: nesting (threads, asyncio
tasks, generators), inputs, outputs, errors and timing, delivery through the tracer's
journal, and surviving a store outage (a real server process started late)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import assay
from assay.errors import InvalidInput
from assay.sdk import tracer
from assay.sdk.sync import sync
from assay.sdk.traces import ApiTrace
from assay.store.base import journal_root
from tests.services import free_port
from tests.test_server_e2e import ServerProcess


@pytest.fixture
def store_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    uri = str(tmp_path / "store")
    monkeypatch.setenv("ASSAY_URI", uri)
    monkeypatch.delenv("ASSAY_PROJECT", raising=False)
    yield uri
    tracer.close(timeout=5)


def _traces(uri: str, project: str = "default") -> list[ApiTrace]:
    assert assay.flush_traces()
    with assay.Api(uri) as api:
        return api.traces(project)


def _by_name(trace: ApiTrace) -> dict[str, Any]:
    return {s.name: s for s in trace.spans}


def test_nested_calls_make_one_trace_with_inputs_outputs_and_tokens(store_uri: str) -> None:
    @assay.trace(kind="llm")
    def complete(prompt: str, temperature: float = 0.0) -> str:
        span = assay.sdk.tracing.current_span()
        assert span is not None
        span.set_usage(model="gpt-4o-mini", provider="openai", input_tokens=1000, output_tokens=50)
        return prompt.upper()

    @assay.trace(name="pipeline", project="support")
    def pipeline(question: str) -> str:
        with assay.span("retrieve", kind="retriever", inputs={"q": question}) as found:
            found.output = ["doc-1"]
        return complete(question)

    assert pipeline("refund?") == "REFUND?"
    (trace,) = _traces(store_uri, "support")
    spans = _by_name(trace)
    root, retrieve, llm = spans["pipeline"], spans["retrieve"], spans[complete.__qualname__]
    assert trace.name == "pipeline" and root.parent_id is None
    assert retrieve.parent_id == root.span_id == llm.parent_id
    assert json.loads(root.attributes["input.value"]) == {"question": "refund?"}
    assert json.loads(llm.attributes["input.value"]) == {"prompt": "refund?"}
    assert json.loads(llm.attributes["output.value"]) == "REFUND?"
    assert json.loads(retrieve.attributes["output.value"]) == ["doc-1"]
    assert (llm.operation, llm.model, llm.kind, retrieve.operation) == (
        "chat",
        "gpt-4o-mini",
        "client",
        "retriever",
    )
    assert (trace.input_tokens, trace.output_tokens) == (1000, 50)
    assert trace.cost == pytest.approx(1000 * 0.15e-6 + 50 * 0.6e-6)
    assert root.start_ns <= retrieve.start_ns <= retrieve.end_ns <= llm.start_ns <= root.end_ns


def test_an_exception_marks_the_span_and_reaches_the_caller(store_uri: str) -> None:
    @assay.trace
    def lookup(order: int) -> None:
        raise KeyError(f"order {order}")

    with pytest.raises(KeyError), assay.span("handle"):
        lookup(42)
    (trace,) = _traces(store_uri)
    spans = _by_name(trace)
    failed = spans[lookup.__qualname__]
    assert failed.status == "error" and "KeyError" in failed.status_message
    (event,) = failed.events
    assert event.name == "exception" and event.attributes["exception.type"] == "KeyError"
    assert "raise KeyError" in event.attributes["exception.stacktrace"]
    assert spans["handle"].status == "error" and trace.n_errors == 2


def test_async_calls_and_concurrent_tasks_each_keep_their_parent(store_uri: str) -> None:
    @assay.trace
    async def step(i: int) -> int:
        await asyncio.sleep(0.01 * (3 - i))
        return i

    @assay.trace
    async def fan_out(n: int) -> list[int]:
        return list(await asyncio.gather(*(step(i) for i in range(n))))

    async def main() -> None:
        await asyncio.gather(fan_out(3), fan_out(2))

    asyncio.run(main())
    traces = _traces(store_uri)
    assert sorted(t.n_spans for t in traces) == [3, 4]
    for trace in traces:
        root = trace.root
        assert root is not None and {s.parent_id for s in trace.spans} == {None, root.span_id}


def test_generators_stay_open_while_iterated_and_their_items_are_the_output(store_uri: str) -> None:
    @assay.trace
    def tokens(text: str) -> Iterator[str]:
        for word in text.split():
            with assay.span("emit"):
                yield word

    @assay.trace
    async def stream(n: int) -> Any:
        for i in range(n):
            await asyncio.sleep(0)
            yield i

    with assay.span("outside") as outside:
        words = []
        for word in tokens("a b c"):
            assert assay.sdk.tracing.current_span() is outside  # never the generator's span
            words.append(word)

    async def consume() -> list[int]:
        return [i async for i in stream(3)]

    assert words == ["a", "b", "c"] and asyncio.run(consume()) == [0, 1, 2]
    by_root = {t.name: t for t in _traces(store_uri)}
    spans = _by_name(by_root["outside"])
    gen = spans[tokens.__qualname__]
    assert json.loads(gen.attributes["output.value"]) == ["a", "b", "c"]
    assert [s.parent_id for s in by_root["outside"].spans if s.name == "emit"] == [gen.span_id] * 3
    assert json.loads(by_root[stream.__qualname__].root.attributes["output.value"]) == [0, 1, 2]


def test_threads_start_traces_of_their_own(store_uri: str) -> None:
    @assay.trace
    def work(i: int) -> int:
        return i

    with assay.span("main"):
        threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(t.n_spans for t in _traces(store_uri)) == [1, 1, 1, 1]


def test_an_unknown_kind_is_refused_by_name() -> None:
    with pytest.raises(InvalidInput, match="span kind 'banana'"):
        assay.trace(kind="banana")
    with pytest.raises(InvalidInput, match="span kind 'banana'"), assay.span("x", kind="banana"):
        pass


def test_spans_wait_in_the_journal_through_an_outage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    server = ServerProcess(str(tmp_path / "server-store"), port=port, extra=("--local",))
    monkeypatch.setenv("ASSAY_JOURNAL_DIR", str(tmp_path / "journal"))
    with assay.span("during outage", project="shop", uri=server.url):
        pass
    assert assay.flush_traces(timeout=30) is False  # the store is down: it waits
    server.start()
    try:
        assert tracer.close(timeout=120)
        with assay.Api(server.url) as api:
            (trace,) = api.traces("shop")
        assert trace.name == "during outage"
    finally:
        server.stop()


def test_assay_sync_delivers_a_tracer_journal_left_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    server = ServerProcess(str(tmp_path / "server-store"), port=port, extra=("--local",))
    monkeypatch.setenv("ASSAY_JOURNAL_DIR", str(tmp_path / "journal"))
    with assay.span("left behind", project="shop", uri=server.url):
        pass
    assert tracer.close(timeout=0) is False
    server.start()
    try:
        report = sync(journal_root(server.url))
        assert report.batches == 1 and not report.failed
        with assay.Api(server.url) as api:
            assert [t.name for t in api.traces("shop")] == ["left behind"]
    finally:
        server.stop()
