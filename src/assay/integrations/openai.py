"""Recording the calls of an ``openai`` client as GenAI spans (docs/traces.md).

    client = assay.integrations.openai.instrument(openai.OpenAI())
    client.chat.completions.create(model="gpt-4o-mini", messages=[...])

``instrument`` changes the one client it is given (sync ``OpenAI`` or ``AsyncOpenAI``,
and any client built on them with another ``base_url``): each
``chat.completions.create``, ``responses.create`` and ``embeddings.create`` becomes a
span of kind ``llm`` (``embedding``) under the span open around it, carrying the
request's model and parameters, the messages given and answered (``gen_ai.input.messages`` /
``gen_ai.output.messages``, tool calls as parts), the token counts (so cost follows)
and, on failure, the error. A streamed answer (``stream=True``) is recorded when it has
been read, its chunks assembled; its token counts are there when the request asked for
them (``stream_options={"include_usage": True}``); a streamed response of the Responses
API is recorded from its last event, which carries the whole response.
"""

from __future__ import annotations

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

PROVIDER = "openai"
C = TypeVar("C")


def instrument(client: C, *, project: str | None = None, uri: str | None = None) -> C:
    """Record every chat completion, response and embedding call of ``client`` (returned,
    changed in place; instrumenting twice changes nothing). ``project`` and ``uri`` as for
    ``assay.span``: by default the enclosing span's, else the active run's, else
    ``ASSAY_PROJECT``."""
    chat = getattr(getattr(client, "chat", None), "completions", None)
    embeddings = getattr(client, "embeddings", None)
    if chat is None or embeddings is None:
        raise TypeError(f"{type(client).__name__} is not an openai client (OpenAI, AsyncOpenAI)")
    instrument_resource(chat, "create", CHAT, project, uri)
    instrument_resource(embeddings, "create", EMBEDDINGS, project, uri)
    responses = getattr(client, "responses", None)
    if responses is not None:
        instrument_resource(responses, "create", RESPONSES, project, uri)
    return client


# ---- chat completions ----------------------------------------------------------------------


def _tool_call_part(call: Mapping[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    return {
        "type": "tool_call",
        "id": call.get("id"),
        "name": function.get("name"),
        "arguments": function.get("arguments"),
    }


def _message(message: Mapping[str, Any]) -> dict[str, Any]:
    role = message.get("role", "user")
    if role == "tool":
        parts = [
            {
                "type": "tool_call_response",
                "id": message.get("tool_call_id"),
                "response": message.get("content"),
            }
        ]
    else:
        parts = text_parts(message.get("content"))
        parts += [_tool_call_part(c) for c in message.get("tool_calls") or []]
    return {"role": role, "parts": parts}


def _chat_request(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    found = parameters(kwargs)
    messages = [_message(m) for m in plain(kwargs.get("messages") or [])]
    system = [m["parts"] for m in messages if m["role"] in ("system", "developer")]
    found["gen_ai.input.messages"] = as_json(
        [m for m in messages if m["role"] not in ("system", "developer")]
    )
    if system:
        found["gen_ai.system_instructions"] = as_json([p for ps in system for p in ps])
    tools = kwargs.get("tools")
    if isinstance(tools, list | tuple) and tools:
        found["gen_ai.tool.definitions"] = as_json(plain(list(tools)))
    return found


def _usage(span: OpenSpan, usage: Mapping[str, Any] | None) -> None:
    if not usage:
        return
    if usage.get("prompt_tokens") is not None:
        span.set("gen_ai.usage.input_tokens", usage["prompt_tokens"])
    if usage.get("completion_tokens") is not None:
        span.set("gen_ai.usage.output_tokens", usage["completion_tokens"])
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
    if cached:
        span.set("gen_ai.usage.cache_read.input_tokens", cached)


def _identity(span: OpenSpan, body: Mapping[str, Any]) -> None:
    if body.get("id"):
        span.set("gen_ai.response.id", body["id"])
    if body.get("model"):
        span.set("gen_ai.response.model", body["model"])


def _outputs(span: OpenSpan, choices: list[dict[str, Any]]) -> None:
    answered = []
    for choice in choices:
        message = choice.get("message") or {}
        parts = text_parts(message.get("content"))
        parts += [_tool_call_part(c) for c in message.get("tool_calls") or []]
        answered.append(
            {
                "role": message.get("role") or "assistant",
                "parts": parts,
                "finish_reason": choice.get("finish_reason"),
            }
        )
    span.set("gen_ai.output.messages", as_json(answered))
    reasons = [c["finish_reason"] for c in choices if c.get("finish_reason")]
    if reasons:
        span.set("gen_ai.response.finish_reasons", reasons)


def _chat_response(result: Any, span: OpenSpan) -> None:
    body = plain(result)
    _identity(span, body)
    _outputs(span, body.get("choices") or [])
    _usage(span, body.get("usage"))


class _ChatChunks:
    """A streamed chat completion's chunks: text deltas joined per choice, tool calls
    assembled by index, the finish reasons and the usage of the last chunk."""

    def __init__(self) -> None:
        self.body: dict[str, Any] = {}
        self.choices: dict[int, dict[str, Any]] = {}

    def add(self, chunk: Any) -> None:
        data = plain(chunk)
        for key in ("id", "model", "usage"):
            if data.get(key):
                self.body[key] = data[key]
        for choice in data.get("choices") or []:
            into = self.choices.setdefault(
                choice.get("index", 0),
                {"role": "assistant", "content": "", "tool_calls": {}, "finish_reason": None},
            )
            delta = choice.get("delta") or {}
            into["content"] += delta.get("content") or ""
            for call in delta.get("tool_calls") or []:
                held = into["tool_calls"].setdefault(
                    call.get("index", 0), {"id": None, "function": {"name": "", "arguments": ""}}
                )
                held["id"] = call.get("id") or held["id"]
                function = call.get("function") or {}
                held["function"]["name"] += function.get("name") or ""
                held["function"]["arguments"] += function.get("arguments") or ""
            if choice.get("finish_reason"):
                into["finish_reason"] = choice["finish_reason"]

    def finish(self, span: OpenSpan) -> None:
        _identity(span, self.body)
        choices = [
            {
                "finish_reason": c["finish_reason"],
                "message": {
                    "role": c["role"],
                    "content": c["content"] or None,
                    "tool_calls": [c["tool_calls"][i] for i in sorted(c["tool_calls"])],
                },
            }
            for _, c in sorted(self.choices.items())
        ]
        _outputs(span, choices)
        _usage(span, self.body.get("usage"))


CHAT = Call(
    operation="chat",
    provider=PROVIDER,
    request=_chat_request,
    response=_chat_response,
    accumulator=_ChatChunks,
)


# ---- embeddings ----------------------------------------------------------------------------


def _embeddings_request(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    embedded = kwargs.get("input")
    if embedded is not None:
        found["input.value"] = as_json(plain(embedded))
        found["input.mime_type"] = "application/json"
    if isinstance(kwargs.get("dimensions"), int):
        found["gen_ai.embeddings.dimension.count"] = kwargs["dimensions"]
    return found


def _embeddings_response(result: Any, span: OpenSpan) -> None:
    body = plain(result)
    if body.get("model"):
        span.set("gen_ai.response.model", body["model"])
    usage = body.get("usage") or {}
    if usage.get("prompt_tokens") is not None:
        span.set("gen_ai.usage.input_tokens", usage["prompt_tokens"])
    data = body.get("data") or []
    if data and isinstance(data[0].get("embedding"), list):
        span.set("gen_ai.embeddings.dimension.count", len(data[0]["embedding"]))


EMBEDDINGS = Call(
    operation="embeddings",
    provider=PROVIDER,
    request=_embeddings_request,
    response=_embeddings_response,
)


# ---- responses -----------------------------------------------------------------------------


def _item(item: Mapping[str, Any], role: str) -> dict[str, Any]:
    """One input or output item of the Responses API as a GenAI message (``role`` for an
    item that names none: ``user`` given, ``assistant`` answered)."""
    kind = item.get("type", "message")
    if kind == "function_call":
        part = {
            "type": "tool_call",
            "id": item.get("call_id"),
            "name": item.get("name"),
            "arguments": item.get("arguments"),
        }
        return {"role": "assistant", "parts": [part]}
    if kind == "function_call_output":
        part = {
            "type": "tool_call_response",
            "id": item.get("call_id"),
            "response": item.get("output"),
        }
        return {"role": "tool", "parts": [part]}
    if kind != "message":  # a built-in tool's call, a reference to an earlier item, ...
        return {"role": item.get("role", role), "parts": [dict(item)]}
    content = item.get("content")
    if isinstance(content, list):
        parts = [
            {"type": "text", "content": c.get("text", "")}
            if c.get("type") in ("input_text", "output_text", "text")
            else dict(c)
            for c in content
            if isinstance(c, Mapping)
        ]
        return {"role": item.get("role", role), "parts": parts}
    return {"role": item.get("role", role), "parts": text_parts(content)}


def _responses_request(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    found = parameters(kwargs)
    asked = kwargs.get("input")
    if isinstance(asked, str):
        messages = [{"role": "user", "parts": text_parts(asked)}]
    elif isinstance(asked, list | tuple):
        messages = [_item(i, "user") for i in plain(list(asked)) if isinstance(i, Mapping)]
    else:
        messages = []
    system = [p for m in messages if m["role"] in ("system", "developer") for p in m["parts"]]
    instructions = kwargs.get("instructions")
    if given(instructions):
        system = text_parts(instructions) + system
    found["gen_ai.input.messages"] = as_json(
        [m for m in messages if m["role"] not in ("system", "developer")]
    )
    if system:
        found["gen_ai.system_instructions"] = as_json(system)
    tools = kwargs.get("tools")
    if isinstance(tools, list | tuple) and tools:
        found["gen_ai.tool.definitions"] = as_json(plain(list(tools)))
    conversation = kwargs.get("conversation")
    if isinstance(conversation, str):
        found["gen_ai.conversation.id"] = conversation
    elif isinstance(conversation, Mapping) and isinstance(conversation.get("id"), str):
        found["gen_ai.conversation.id"] = conversation["id"]
    return found


def _responses_answer(span: OpenSpan, body: Mapping[str, Any]) -> None:
    """A whole response (answered at once, or the last event of a stream): its output
    items, why it ended (its status, or why it is incomplete), its tokens and, when it
    failed, the error."""
    _identity(span, body)
    answered = [
        _item(i, "assistant")
        for i in body.get("output") or []
        if isinstance(i, Mapping) and i.get("type") != "reasoning"
    ]
    span.set("gen_ai.output.messages", as_json(answered))
    reason = (body.get("incomplete_details") or {}).get("reason") or body.get("status")
    if reason:
        span.set("gen_ai.response.finish_reasons", [reason])
    usage = body.get("usage") or {}
    if usage.get("input_tokens") is not None:
        span.set("gen_ai.usage.input_tokens", usage["input_tokens"])
    if usage.get("output_tokens") is not None:
        span.set("gen_ai.usage.output_tokens", usage["output_tokens"])
    cached = (usage.get("input_tokens_details") or {}).get("cached_tokens")
    if cached:
        span.set("gen_ai.usage.cache_read.input_tokens", cached)
    if body.get("status") == "failed":
        error = body.get("error") or {}
        span.set("error.type", str(error.get("code") or "failed"))
        span.status = "error"
        span.status_message = str(error.get("message") or "the response failed")


class _ResponseEvents:
    """A streamed response's events: the last ``response.completed`` (or ``.failed``,
    ``.incomplete``) event carries the whole response."""

    def __init__(self) -> None:
        self.final: dict[str, Any] | None = None

    def add(self, event: Any) -> None:
        data = plain(event)
        if data.get("type") in ("response.completed", "response.failed", "response.incomplete"):
            self.final = data.get("response") or {}

    def finish(self, span: OpenSpan) -> None:
        if self.final is not None:
            _responses_answer(span, self.final)


RESPONSES = Call(
    operation="chat",
    provider=PROVIDER,
    request=_responses_request,
    response=lambda result, span: _responses_answer(span, plain(result)),
    accumulator=_ResponseEvents,
)
