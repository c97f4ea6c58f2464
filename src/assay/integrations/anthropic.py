"""Recording the calls of an ``anthropic`` client as GenAI spans (docs/traces.md).

    client = assay.integrations.anthropic.instrument(anthropic.Anthropic())
    client.messages.create(model="claude-sonnet-4-5", max_tokens=512, messages=[...])

``instrument`` changes the one client it is given (``Anthropic`` or ``AsyncAnthropic``):
each ``messages.create`` becomes a span of kind ``llm`` under the span open around it,
with the request's model and parameters, the system prompt
(``gen_ai.system_instructions``), the messages given and answered (tool uses and tool
results as parts), the token counts (cache reads and writes included in the input, as
the GenAI conventions count them) and, on failure, the error. A streamed answer
(``stream=True``) is recorded when it has been read, its events assembled.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

from assay.integrations._genai import (
    Call,
    as_json,
    given,
    instrument_resource,
    parameters,
    plain,
    text_parts,
)
from assay.sdk.tracing import OpenSpan

PROVIDER = "anthropic"
C = TypeVar("C")


def instrument(client: C, *, project: str | None = None, uri: str | None = None) -> C:
    """Record every ``messages.create`` call of ``client`` (returned, changed in place;
    instrumenting twice changes nothing). ``project`` and ``uri`` as for ``assay.span``."""
    messages = getattr(client, "messages", None)
    if messages is None or not hasattr(messages, "create"):
        raise TypeError(
            f"{type(client).__name__} is not an anthropic client (Anthropic, AsyncAnthropic)"
        )
    instrument_resource(messages, "create", MESSAGES, project, uri)
    return client


def _part(block: Mapping[str, Any]) -> dict[str, Any]:
    kind = block.get("type")
    if kind == "tool_use":
        return {
            "type": "tool_call",
            "id": block.get("id"),
            "name": block.get("name"),
            "arguments": block.get("input"),
        }
    if kind == "tool_result":
        return {
            "type": "tool_call_response",
            "id": block.get("tool_use_id"),
            "response": block.get("content"),
        }
    return text_parts([block])[0]


def _parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return text_parts(content)
    return [_part(b) for b in plain(list(content or []))]


def _request(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    found = parameters(kwargs)
    asked = [
        {"role": m.get("role", "user"), "parts": _parts(m.get("content"))}
        for m in plain(list(kwargs.get("messages") or []))
    ]
    found["gen_ai.input.messages"] = as_json(asked)
    system = kwargs.get("system")
    if given(system):
        found["gen_ai.system_instructions"] = as_json(_parts(system))
    tools = kwargs.get("tools")
    if isinstance(tools, list | tuple) and tools:
        found["gen_ai.tool.definitions"] = as_json(plain(list(tools)))
    return found


def _usage(span: OpenSpan, usage: Mapping[str, Any]) -> None:
    fresh = usage.get("input_tokens")
    read = usage.get("cache_read_input_tokens") or 0
    written = usage.get("cache_creation_input_tokens") or 0
    if fresh is not None:
        span.set("gen_ai.usage.input_tokens", fresh + read + written)
    if read:
        span.set("gen_ai.usage.cache_read.input_tokens", read)
    if written:
        span.set("gen_ai.usage.cache_creation.input_tokens", written)
    if usage.get("output_tokens") is not None:
        span.set("gen_ai.usage.output_tokens", usage["output_tokens"])


def _answer(span: OpenSpan, body: Mapping[str, Any]) -> None:
    if body.get("id"):
        span.set("gen_ai.response.id", body["id"])
    if body.get("model"):
        span.set("gen_ai.response.model", body["model"])
    reason = body.get("stop_reason")
    answered = {
        "role": body.get("role") or "assistant",
        "parts": _parts(body.get("content")),
        "finish_reason": reason,
    }
    span.set("gen_ai.output.messages", as_json([answered]))
    if reason:
        span.set("gen_ai.response.finish_reasons", [reason])
    _usage(span, body.get("usage") or {})


def _response(result: Any, span: OpenSpan) -> None:
    _answer(span, plain(result))


class _Events:
    """A streamed message's events: ``message_start`` gives its id, model and input
    usage; content blocks grow by text and JSON deltas; ``message_delta`` gives the stop
    reason and the output usage."""

    def __init__(self) -> None:
        self.body: dict[str, Any] = {"content": [], "usage": {}}
        self.blocks: dict[int, dict[str, Any]] = {}
        self.json: dict[int, str] = {}

    def add(self, event: Any) -> None:
        data = plain(event)
        kind = data.get("type")
        if kind == "message_start":
            message = data.get("message") or {}
            self.body.update({k: message.get(k) for k in ("id", "model", "role")})
            self.body["usage"].update(
                {k: v for k, v in (message.get("usage") or {}).items() if v is not None}
            )
        elif kind == "content_block_start":
            self.blocks[data.get("index", 0)] = dict(data.get("content_block") or {})
        elif kind == "content_block_delta":
            index, delta = data.get("index", 0), data.get("delta") or {}
            block = self.blocks.setdefault(index, {"type": "text", "text": ""})
            if delta.get("type") == "text_delta":
                block["text"] = block.get("text", "") + delta.get("text", "")
            elif delta.get("type") == "input_json_delta":
                self.json[index] = self.json.get(index, "") + delta.get("partial_json", "")
        elif kind == "message_delta":
            self.body["stop_reason"] = (data.get("delta") or {}).get("stop_reason")
            self.body["usage"].update(
                {k: v for k, v in (data.get("usage") or {}).items() if v is not None}
            )

    def finish(self, span: OpenSpan) -> None:
        for index, text in self.json.items():
            try:
                self.blocks[index]["input"] = json.loads(text) if text else {}
            except ValueError:
                self.blocks[index]["input"] = text
        self.body["content"] = [self.blocks[i] for i in sorted(self.blocks)]
        _answer(span, self.body)


MESSAGES = Call(
    operation="chat",
    provider=PROVIDER,
    request=_request,
    response=_response,
    accumulator=_Events,
)
