"""What Assay reads from span attributes: the OpenTelemetry GenAI conventions and
OpenInference's, tokens, and costs from the genai-prices table."""

from __future__ import annotations

import importlib.metadata
import json
from typing import Any

import pytest

from assay.records import Span
from assay.traces import conventions


def _span(**attributes: Any) -> Span:
    return Span(
        project="p",
        trace_id="1" * 32,
        span_id="2" * 16,
        name="call",
        start_ns=1_750_000_000_000_000_000,
        end_ns=1_750_000_001_000_000_000,
        attributes=attributes,
    )


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        (
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.usage.input_tokens": 10,
                "gen_ai.usage.output_tokens": 5,
            },
            ("chat", "gpt-4o-2024-08-06", "openai", 10, 5),
        ),
        (  # the older names of the GenAI conventions
            {
                "gen_ai.system": "anthropic",
                "gen_ai.request.model": "claude-3-5-haiku-latest",
                "gen_ai.usage.prompt_tokens": 7,
                "gen_ai.usage.completion_tokens": 3,
            },
            (None, "claude-3-5-haiku-latest", "anthropic", 7, 3),
        ),
        (
            {
                "openinference.span.kind": "LLM",
                "llm.model_name": "m",
                "llm.provider": "x",
                "llm.token_count.prompt": 4,
                "llm.token_count.completion": 2,
            },
            ("chat", "m", "x", 4, 2),
        ),
        ({"openinference.span.kind": "TOOL"}, ("execute_tool", None, None, None, None)),
        ({"openinference.span.kind": "RETRIEVER"}, ("retriever", None, None, None, None)),
        ({"gen_ai.usage.input_tokens": -3, "gen_ai.usage.output_tokens": "x"}, (None,) * 5),
    ],
)
def test_conventions_are_read(attributes: dict[str, Any], expected: tuple[Any, ...]) -> None:
    read = conventions.read(_span(**attributes))
    assert (
        read.operation,
        read.model,
        read.provider,
        read.input_tokens,
        read.output_tokens,
    ) == expected


def test_cost_comes_from_the_price_table_with_its_version() -> None:
    read = conventions.read(
        _span(
            **{
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 1_000_000,
                "gen_ai.usage.output_tokens": 0,
            }
        )
    )
    assert read.cost == pytest.approx(2.5)  # gpt-4o: $2.50 per million input tokens
    assert read.prices == f"genai-prices {importlib.metadata.version('genai-prices')}"


def test_a_cost_the_sender_gave_wins_and_an_unknown_model_has_none() -> None:
    given = conventions.read(
        _span(**{"llm.model_name": "gpt-4o", "llm.token_count.prompt": 10, "llm.cost.total": 0.75})
    )
    assert (given.cost, given.prices) == (0.75, "span attribute llm.cost.total")
    unknown = conventions.read(
        _span(**{"gen_ai.request.model": "no-such-model-anywhere", "gen_ai.usage.input_tokens": 10})
    )
    assert (unknown.cost, unknown.prices, unknown.input_tokens) == (None, None, 10)


def test_what_a_span_already_carries_is_kept() -> None:
    span = Span(
        project="p",
        trace_id="1" * 32,
        span_id="2" * 16,
        name="c",
        start_ns=1,
        end_ns=2,
        model="mine",
        cost=1.0,
        prices="my table",
        attributes={"gen_ai.request.model": "x"},
    )
    read = conventions.read(span)
    assert (read.model, read.cost, read.prices) == ("mine", 1.0, "my table")


def test_messages_of_both_conventions() -> None:
    genai = {
        "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "be brief"}]),
        "gen_ai.input.messages": json.dumps(
            [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]
        ),
        "gen_ai.output.messages": json.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": "yo"}]}]
        ),
    }
    given, answered = conventions.messages(genai)
    assert [m["role"] for m in given] == ["system", "user"] and answered[0]["role"] == "assistant"
    openinference = {
        "llm.input_messages.1.message.role": "user",
        "llm.input_messages.1.message.content": "second",
        "llm.input_messages.0.message.role": "system",
        "llm.input_messages.0.message.content": "first",
        "llm.output_messages.0.message.content": "answer",
    }
    given, answered = conventions.messages(openinference)
    assert given == [{"role": "system", "content": "first"}, {"role": "user", "content": "second"}]
    assert answered == [{"content": "answer"}]


def test_tool_calls_are_read() -> None:
    call = conventions.tool_call(
        {
            "gen_ai.tool.name": "lookup",
            "gen_ai.tool.call.id": "c1",
            "gen_ai.tool.call.arguments": '{"order": 42}',
            "gen_ai.tool.call.result": '{"status": "shipped"}',
        }
    )
    assert call == {
        "name": "lookup",
        "id": "c1",
        "arguments": {"order": 42},
        "result": {"status": "shipped"},
    }
    assert conventions.tool_call({"x": 1}) is None


@pytest.mark.parametrize(
    ("model", "provider", "given", "made", "cached"),
    [
        ("gpt-4o-mini", "openai", 1000, 50, 0),
        ("gpt-4o-mini", "openai", 1000, 50, 400),
        ("claude-3-5-haiku-latest", "anthropic", 5000, 700, 0),
        ("gemini-2.5-pro", "gcp.gemini", 300_000, 10, 0),  # tiered: over 200k tokens
        ("gemini-2.5-pro", None, 1000, 10, 0),
    ],
)
def test_the_price_shortcut_agrees_with_the_table(
    model: str, provider: str | None, given: int, made: int, cached: int
) -> None:
    from datetime import UTC, datetime

    from genai_prices import Usage, calc_price

    from assay.traces.cost import price

    at = 1_750_000_000_000_000_000
    ours = price(
        model=model,
        provider=provider,
        input_tokens=given,
        output_tokens=made,
        cache_read_tokens=cached or None,
        at_ns=at,
    )
    theirs = calc_price(
        Usage(input_tokens=given, output_tokens=made, cache_read_tokens=cached or None),
        model_ref=model,
        provider_id={"gcp.gemini": "google"}.get(provider or "", provider),
        genai_request_timestamp=datetime.fromtimestamp(at / 1e9, UTC),
    )
    assert ours is not None and ours.cost == pytest.approx(float(theirs.total_price), rel=1e-12)


def test_text_no_database_holds_is_repaired_as_a_span_is_decoded() -> None:
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
    from opentelemetry.proto.common.v1 import common_pb2
    from opentelemetry.proto.trace.v1 import trace_pb2

    from assay.traces import otlp

    def kv(key: str, value: str) -> common_pb2.KeyValue:
        return common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(string_value=value))

    raw = trace_pb2.Span(
        trace_id=b"\x01" * 16,
        span_id=b"\x02" * 8,
        name="a\x00b",
        start_time_unix_nano=1,
        attributes=[kv("k\x00", "v\x00"), kv("plain", "é"), kv("gen_ai.request.model", "m")],
        status=trace_pb2.Status(code=2, message="bad\x00"),
    )
    body = trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(
                resource={"attributes": [kv("service.name", "shop")]},
                scope_spans=[trace_pb2.ScopeSpans(spans=[raw])],
            )
        ]
    ).SerializeToString()
    (span,) = otlp.decode(body, otlp.PROTOBUF).spans
    assert (span.name, span.status, span.status_message) == ("a\ufffdb", "error", "bad\ufffd")
    assert span.attributes == {"k\ufffd": "v\ufffd", "plain": "é", "gen_ai.request.model": "m"}
    assert span.model == "m" and span.project == "shop"
