"""The ``openai`` and ``anthropic`` client wrappers: the real client packages talk to a
loopback server speaking the providers' JSON and SSE (tests/fake_llm.py), and each
call is read back from the store as a GenAI span with its tokens and cost."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import assay
from assay.integrations import anthropic as assay_anthropic
from assay.integrations import openai as assay_openai
from assay.records import Span
from assay.sdk import tracer
from tests.fake_llm import FakeLLM, fake_llm

openai = pytest.importorskip("openai")
anthropic = pytest.importorskip("anthropic")


@pytest.fixture
def store_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    uri = str(tmp_path / "store")
    monkeypatch.setenv("ASSAY_URI", uri)
    monkeypatch.delenv("ASSAY_PROJECT", raising=False)
    yield uri
    tracer.close(timeout=5)


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    with fake_llm() as server:
        yield server


def _spans(uri: str, project: str = "default") -> list[Span]:
    assert assay.flush_traces()
    with assay.Api(uri) as api:
        return [s for t in reversed(api.traces(project)) for s in t.spans]


def _messages(span: Span, key: str) -> Any:
    return json.loads(span.attributes[key])


def _openai(llm: FakeLLM, cls: Any = None) -> Any:
    client = (cls or openai.OpenAI)(api_key="sk-test", base_url=llm.url + "/v1", max_retries=0)
    return assay_openai.instrument(client)


def _anthropic(llm: FakeLLM, cls: Any = None) -> Any:
    client = (cls or anthropic.Anthropic)(api_key="sk-test", base_url=llm.url, max_retries=0)
    return assay_anthropic.instrument(client)


def test_an_openai_chat_call_is_a_genai_span_with_messages_tokens_and_cost(
    store_uri: str, llm: FakeLLM
) -> None:
    client = _openai(llm)
    reply = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "where is my refund"},
        ],
        temperature=0.2,
        max_tokens=64,
        stop="END",
    )
    assert reply.choices[0].message.content == "WHERE IS MY REFUND"
    (span,) = _spans(store_uri)
    a = span.attributes
    assert span.name == "chat gpt-4o-mini" and span.kind == "client" and span.status != "error"
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == "gpt-4o-mini"
    assert a["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert a["gen_ai.request.temperature"] == 0.2 and a["gen_ai.request.max_tokens"] == 64
    assert a["gen_ai.request.stop_sequences"] == ["END"]
    assert a["gen_ai.response.id"] == "chatcmpl-1"
    assert a["gen_ai.response.finish_reasons"] == ["stop"]
    assert _messages(span, "gen_ai.system_instructions") == [
        {"type": "text", "content": "Be brief."}
    ]
    assert _messages(span, "gen_ai.input.messages") == [
        {"role": "user", "parts": [{"type": "text", "content": "where is my refund"}]}
    ]
    assert _messages(span, "gen_ai.output.messages") == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "WHERE IS MY REFUND"}],
            "finish_reason": "stop",
        }
    ]
    assert (span.operation, span.model, span.provider) == (
        "chat",
        "gpt-4o-mini-2024-07-18",
        "openai",
    )
    assert (span.input_tokens, span.output_tokens) == (12, 3)
    assert span.cost == pytest.approx(12 * 0.15e-6 + 3 * 0.6e-6)


def test_an_openai_tool_call_and_the_tool_result_are_message_parts(
    store_uri: str, llm: FakeLLM
) -> None:
    client = _openai(llm)
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    first = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "weather?"}], tools=tools
    )
    call = first.choices[0].message.tool_calls[0]
    client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "user", "content": "weather?"},
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
        ],
    )
    asked, answered = _spans(store_uri)
    assert _messages(asked, "gen_ai.output.messages")[0]["parts"] == [
        {
            "type": "tool_call",
            "id": "call_1",
            "name": "get_weather",
            "arguments": '{"city": "Paris"}',
        }
    ]
    assert _messages(asked, "gen_ai.tool.definitions") == tools
    given = _messages(answered, "gen_ai.input.messages")
    assert given[1]["parts"][0]["type"] == "tool_call"
    assert given[2] == {
        "role": "tool",
        "parts": [{"type": "tool_call_response", "id": "call_1", "response": "sunny"}],
    }


def test_an_openai_stream_is_assembled_when_read_to_its_end(store_uri: str, llm: FakeLLM) -> None:
    client = _openai(llm)
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "tell me a story"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "TELL ME A STORY"
    (span,) = _spans(store_uri)
    assert _messages(span, "gen_ai.output.messages") == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "TELL ME A STORY"}],
            "finish_reason": "stop",
        }
    ]
    assert (span.input_tokens, span.output_tokens, span.model) == (
        12,
        3,
        "gpt-4o-mini-2024-07-18",
    )
    assert span.cost is not None


def test_an_openai_streamed_tool_call_is_assembled_from_its_pieces(
    store_uri: str, llm: FakeLLM
) -> None:
    client = _openai(llm)
    with client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "weather?"}], stream=True
    ) as stream:
        for _ in stream:
            pass
    (span,) = _spans(store_uri)
    (answer,) = _messages(span, "gen_ai.output.messages")
    assert answer["parts"] == [
        {
            "type": "tool_call",
            "id": "call_2",
            "name": "get_weather",
            "arguments": '{"city": "Paris"}',
        }
    ]
    assert answer["finish_reason"] == "tool_calls"
    assert span.input_tokens is None  # the request did not ask for usage


def test_an_async_openai_client_records_calls_and_streams(store_uri: str, llm: FakeLLM) -> None:
    client = _openai(llm, openai.AsyncOpenAI)

    async def calls() -> str:
        await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "one"}]
        )
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "two words"}], stream=True
        )
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    assert asyncio.run(calls()) == "TWO WORDS"
    plain, streamed = _spans(store_uri)
    assert _messages(plain, "gen_ai.output.messages")[0]["parts"][0]["content"] == "ONE"
    assert _messages(streamed, "gen_ai.output.messages")[0]["parts"][0]["content"] == "TWO WORDS"


def test_a_failed_openai_call_is_an_error_span_and_the_error_reaches_the_caller(
    store_uri: str, llm: FakeLLM
) -> None:
    client = _openai(llm)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="broken", messages=[{"role": "user", "content": "x"}])
    (span,) = _spans(store_uri)
    assert span.status == "error" and "model is down" in span.status_message
    assert span.attributes["error.type"] == "InternalServerError"
    assert span.events[0].name == "exception"


def test_openai_embeddings_are_spans_with_input_tokens(store_uri: str, llm: FakeLLM) -> None:
    client = _openai(llm)
    client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    (span,) = _spans(store_uri)
    assert span.name == "embeddings text-embedding-3-small"
    assert span.attributes["gen_ai.operation.name"] == "embeddings"
    assert span.attributes["gen_ai.embeddings.dimension.count"] == 3
    assert span.input_tokens == 8 and span.cost == pytest.approx(8 * 0.02e-6)


def test_an_openai_response_is_a_genai_span_with_instructions_items_tokens_and_cost(
    store_uri: str, llm: FakeLLM
) -> None:
    client = _openai(llm)
    reply = client.responses.create(
        model="gpt-4o-mini",
        instructions="Be brief.",
        input=[
            {"role": "developer", "content": "Answer in capitals."},
            {"role": "user", "content": [{"type": "input_text", "text": "where is my refund"}]},
        ],
        temperature=0.3,
        max_output_tokens=50,
        top_p=openai.NOT_GIVEN,
        parallel_tool_calls=openai.omit,
    )
    assert reply.output_text == "WHERE IS MY REFUND"
    (span,) = _spans(store_uri)
    a = span.attributes
    assert span.name == "chat gpt-4o-mini" and span.status != "error"
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.temperature"] == 0.3 and a["gen_ai.request.max_tokens"] == 50
    assert "gen_ai.request.top_p" not in a
    assert _messages(span, "gen_ai.system_instructions") == [
        {"type": "text", "content": "Be brief."},
        {"type": "text", "content": "Answer in capitals."},
    ]
    assert _messages(span, "gen_ai.input.messages") == [
        {"role": "user", "parts": [{"type": "text", "content": "where is my refund"}]}
    ]
    assert _messages(span, "gen_ai.output.messages") == [  # the reasoning item is left out
        {"role": "assistant", "parts": [{"type": "text", "content": "WHERE IS MY REFUND"}]}
    ]
    assert a["gen_ai.response.id"] == "resp_1"
    assert a["gen_ai.response.finish_reasons"] == ["completed"]
    assert a["gen_ai.usage.cache_read.input_tokens"] == 10
    assert (span.model, span.input_tokens, span.output_tokens) == ("gpt-4o-mini-2024-07-18", 30, 4)
    # the 10 cached input tokens at the cached price
    assert span.cost == pytest.approx(20 * 0.15e-6 + 10 * 0.075e-6 + 4 * 0.6e-6)


def test_an_openai_response_function_call_and_its_output_are_tool_parts(
    store_uri: str, llm: FakeLLM
) -> None:
    client = _openai(llm)
    tools = [{"type": "function", "name": "get_weather", "parameters": {}}]
    first = client.responses.create(model="gpt-4o-mini", input="weather?", tools=tools)
    call = next(item for item in first.output if item.type == "function_call")
    client.responses.create(
        model="gpt-4o-mini",
        input=[
            {"role": "user", "content": "weather?"},
            call.model_dump(exclude_none=True),
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},
        ],
        tools=tools,
    )
    asked, answered = _spans(store_uri)
    assert _messages(asked, "gen_ai.input.messages") == [
        {"role": "user", "parts": [{"type": "text", "content": "weather?"}]}
    ]
    assert _messages(asked, "gen_ai.tool.definitions") == tools
    tool_call = {
        "type": "tool_call",
        "id": "call_3",
        "name": "get_weather",
        "arguments": '{"city": "Paris"}',
    }
    assert _messages(asked, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [tool_call]}
    ]
    assert _messages(answered, "gen_ai.input.messages")[1:] == [
        {"role": "assistant", "parts": [tool_call]},
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": "call_3", "response": "sunny"}],
        },
    ]


def test_an_openai_streamed_response_is_recorded_from_its_last_event(
    store_uri: str, llm: FakeLLM
) -> None:
    client = _openai(llm)
    stream = client.responses.create(model="gpt-4o-mini", input="tell me a story", stream=True)
    text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
    assert text == "TELL ME A STORY"
    (span,) = _spans(store_uri)
    assert _messages(span, "gen_ai.output.messages") == [
        {"role": "assistant", "parts": [{"type": "text", "content": "TELL ME A STORY"}]}
    ]
    assert (span.input_tokens, span.output_tokens) == (30, 4) and span.cost is not None


def test_an_async_openai_response_plain_streamed_and_failed(store_uri: str, llm: FakeLLM) -> None:
    client = _openai(llm, openai.AsyncOpenAI)

    async def calls() -> str:
        await client.responses.create(model="gpt-4o-mini", input="one")
        async with await client.responses.create(
            model="gpt-4o-mini", input="two words", stream=True
        ) as stream:
            text = "".join(
                [e.delta async for e in stream if e.type == "response.output_text.delta"]
            )
        failing = await client.responses.create(model="failing", input="three", stream=True)
        async for _ in failing:
            pass
        return text

    assert asyncio.run(calls()) == "TWO WORDS"
    plain, streamed, failed = _spans(store_uri)
    assert _messages(plain, "gen_ai.output.messages")[0]["parts"][0]["content"] == "ONE"
    assert _messages(streamed, "gen_ai.output.messages")[0]["parts"][0]["content"] == "TWO WORDS"
    assert failed.status == "error" and failed.status_message == "the model stopped"
    assert failed.attributes["error.type"] == "server_error"


def test_an_anthropic_argument_left_out_with_a_marker_is_not_recorded(
    store_uri: str, llm: FakeLLM
) -> None:
    client = _anthropic(llm)
    client.messages.create(
        model="claude-3-5-haiku-20241022",
        max_tokens=10,
        system=anthropic.omit,
        stop_sequences=anthropic.NOT_GIVEN,
        messages=[{"role": "user", "content": "hi"}],
    )
    (span,) = _spans(store_uri)
    assert "gen_ai.system_instructions" not in span.attributes
    assert "gen_ai.request.stop_sequences" not in span.attributes


def test_calls_inside_a_traced_function_are_its_children_and_instrumenting_twice_records_once(
    store_uri: str, llm: FakeLLM
) -> None:
    client = assay_openai.instrument(_openai(llm))

    @assay.trace(project="support")
    def answer(question: str) -> str:
        reply = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": question}]
        )
        return str(reply.choices[0].message.content)

    assert answer("hello") == "HELLO"
    root, call = _spans(store_uri, "support")
    assert call.parent_id == root.span_id and call.trace_id == root.trace_id


def test_an_anthropic_message_is_a_genai_span_counting_cached_input(
    store_uri: str, llm: FakeLLM
) -> None:
    client = _anthropic(llm)
    reply = client.messages.create(
        model="claude-3-5-haiku-20241022",
        max_tokens=100,
        system="Be brief.",
        messages=[{"role": "user", "content": "where is my refund"}],
        stop_sequences=["END"],
    )
    assert reply.content[0].text == "WHERE IS MY REFUND"
    (span,) = _spans(store_uri)
    a = span.attributes
    assert (a["gen_ai.provider.name"], a["gen_ai.request.max_tokens"]) == ("anthropic", 100)
    assert a["gen_ai.request.stop_sequences"] == ["END"]
    assert _messages(span, "gen_ai.system_instructions") == [
        {"type": "text", "content": "Be brief."}
    ]
    assert _messages(span, "gen_ai.output.messages") == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "WHERE IS MY REFUND"}],
            "finish_reason": "end_turn",
        }
    ]
    assert (span.input_tokens, span.output_tokens) == (120, 5)
    assert a["gen_ai.usage.cache_read.input_tokens"] == 100
    assert span.cost is not None and span.cost > 0


def test_an_anthropic_stream_with_a_tool_use_is_assembled(store_uri: str, llm: FakeLLM) -> None:
    client = _anthropic(llm)
    stream = client.messages.create(
        model="claude-3-5-haiku-20241022",
        max_tokens=100,
        messages=[{"role": "user", "content": "weather?"}],
        stream=True,
    )
    kinds = [event.type for event in stream]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    (span,) = _spans(store_uri)
    (answer,) = _messages(span, "gen_ai.output.messages")
    assert answer == {
        "role": "assistant",
        "parts": [
            {"type": "text", "content": "Let me look."},
            {
                "type": "tool_call",
                "id": "toolu_1",
                "name": "get_weather",
                "arguments": {"city": "Paris"},
            },
        ],
        "finish_reason": "tool_use",
    }
    assert (span.input_tokens, span.output_tokens) == (120, 5)


def test_an_async_anthropic_client_records_a_call_and_an_error(
    store_uri: str, llm: FakeLLM
) -> None:
    client = _anthropic(llm, anthropic.AsyncAnthropic)

    async def calls() -> None:
        await client.messages.create(
            model="claude-3-5-haiku-20241022",
            max_tokens=10,
            messages=[{"role": "user", "content": "hi"}],
        )
        with pytest.raises(anthropic.InternalServerError):
            await client.messages.create(
                model="broken", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
            )

    asyncio.run(calls())
    ok, failed = _spans(store_uri)
    assert _messages(ok, "gen_ai.output.messages")[0]["parts"][0]["content"] == "HI"
    assert failed.status == "error" and failed.attributes["error.type"] == "InternalServerError"


def test_instrument_refuses_what_is_not_a_client() -> None:
    with pytest.raises(TypeError, match="not an openai client"):
        assay_openai.instrument(object())
    with pytest.raises(TypeError, match="not an anthropic client"):
        assay_anthropic.instrument(object())
