"""What Assay reads from span attributes: the OpenTelemetry GenAI semantic conventions
(``gen_ai.*``) and OpenInference's (``llm.*``, ``openinference.span.kind``). A span keeps
every attribute it was sent with; these readings are stored beside them (model,
provider, operation, tokens, cost) so traces can be summed and filtered.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import msgspec

from assay.records import Span
from assay.traces.cost import price

# OpenInference span kinds -> the GenAI operation they stand for
_OPENINFERENCE_KINDS = {
    "LLM": "chat",
    "TOOL": "execute_tool",
    "AGENT": "invoke_agent",
    "EMBEDDING": "embeddings",
}
COST_ATTRIBUTE = "llm.cost.total"  # OpenInference: a cost the sender computed


_INPUT_TOKENS = (
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "llm.token_count.prompt",
)
_OUTPUT_TOKENS = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
)
_CACHED_TOKENS = (
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "llm.token_count.prompt_details.cache_read",
)
_MODELS = ("gen_ai.response.model", "gen_ai.request.model", "llm.model_name")
_PROVIDERS = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")


def _first(attributes: Mapping[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        value = attributes.get(name)
        if value is not None and value != "":
            return value
    return None


def _count(value: Any) -> int | None:
    if type(value) is int:  # the common case first (a bool is not an int here)
        return value if value >= 0 else None
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, float) and value >= 0 and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def operation(attributes: Mapping[str, Any]) -> str | None:
    """``chat``, ``execute_tool``, ``invoke_agent``, ``embeddings``, ... or None."""
    named = _text(attributes.get("gen_ai.operation.name"))
    if named is not None:
        return named
    kind = _text(attributes.get("openinference.span.kind"))
    if kind is None:
        return None
    return _OPENINFERENCE_KINDS.get(kind.upper(), kind.lower())


def model(attributes: Mapping[str, Any]) -> str | None:
    """The model that answered (else the one asked for)."""
    return _text(_first(attributes, _MODELS))


def provider(attributes: Mapping[str, Any]) -> str | None:
    return _text(_first(attributes, _PROVIDERS))


def tokens(attributes: Mapping[str, Any]) -> tuple[int | None, int | None, int | None]:
    """(input, output, of the input read from a cache) token counts."""
    return (
        _count(_first(attributes, _INPUT_TOKENS)),
        _count(_first(attributes, _OUTPUT_TOKENS)),
        _count(_first(attributes, _CACHED_TOKENS)),
    )


def read(span: Span) -> Span:
    """The span with what its attributes say filled in: operation, model, provider,
    tokens and cost (the sender's ``llm.cost.total`` if given, else the price table's).
    What the span already carries is kept."""
    return msgspec.structs.replace(span, **readings(span.attributes, span.start_ns, span))


def readings(
    attributes: Mapping[str, Any], start_ns: int, carried: Span | None = None
) -> dict[str, Any]:
    """What ``attributes`` say of a span that started at ``start_ns``, as the Span fields
    ``operation``, ``model``, ``provider``, ``input_tokens``, ``output_tokens``, ``cost``
    and ``prices``; a value the ``carried`` span has already is kept."""
    given, made, cached = tokens(attributes)
    name = (carried.model if carried else None) or model(attributes)
    vendor = (carried.provider if carried else None) or provider(attributes)
    n_in = carried.input_tokens if carried and carried.input_tokens is not None else given
    n_out = carried.output_tokens if carried and carried.output_tokens is not None else made
    cost, prices = (carried.cost, carried.prices) if carried else (None, None)
    sent = attributes.get(COST_ATTRIBUTE)
    if cost is None and isinstance(sent, int | float) and not isinstance(sent, bool) and sent >= 0:
        cost, prices = float(sent), f"span attribute {COST_ATTRIBUTE}"
    elif cost is None and name is not None:
        priced = price(
            model=name,
            provider=vendor,
            input_tokens=n_in,
            output_tokens=n_out,
            cache_read_tokens=cached,
            at_ns=start_ns,
        )
        if priced is not None:
            cost, prices = priced.cost, priced.prices
    return {
        "operation": (carried.operation if carried else None) or operation(attributes),
        "model": name,
        "provider": vendor,
        "input_tokens": n_in,
        "output_tokens": n_out,
        "cost": cost,
        "prices": prices,
    }


# ---- messages and tool calls, for showing a span ---------------------------------------


def _parsed(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _indexed(attributes: Mapping[str, Any], prefix: str) -> list[dict[str, Any]]:
    """OpenInference's flattened lists: ``llm.input_messages.0.message.role`` ..."""
    found: dict[int, dict[str, Any]] = {}
    for name, value in attributes.items():
        if not name.startswith(prefix):
            continue
        index, _, rest = name[len(prefix) :].partition(".")
        if index.isdigit() and rest:
            found.setdefault(int(index), {})[rest.removeprefix("message.")] = value
    return [found[i] for i in sorted(found)]


def messages(attributes: Mapping[str, Any]) -> tuple[list[Any], list[Any]]:
    """The conversation a call was given and what it answered, as lists of messages
    (``{"role": ..., "content" or "parts": ...}``): GenAI's ``gen_ai.input.messages`` /
    ``gen_ai.output.messages`` (with ``gen_ai.system_instructions`` first), else
    OpenInference's ``llm.input_messages.N.*`` / ``llm.output_messages.N.*``."""
    inputs = _parsed(attributes.get("gen_ai.input.messages"))
    outputs = _parsed(attributes.get("gen_ai.output.messages"))
    if inputs is None and outputs is None:
        return (
            _indexed(attributes, "llm.input_messages."),
            _indexed(attributes, "llm.output_messages."),
        )
    given = list(inputs) if isinstance(inputs, list) else ([] if inputs is None else [inputs])
    system = _parsed(attributes.get("gen_ai.system_instructions"))
    if system is not None:
        given.insert(0, {"role": "system", "parts": system})
    answered = (
        list(outputs) if isinstance(outputs, list) else ([] if outputs is None else [outputs])
    )
    return given, answered


def tool_call(attributes: Mapping[str, Any]) -> dict[str, Any] | None:
    """An ``execute_tool`` span's tool: name, call id, arguments and result, or None."""
    name = _first(attributes, ("gen_ai.tool.name", "tool.name"))
    if name is None:
        return None
    return {
        "name": name,
        "id": _first(attributes, ("gen_ai.tool.call.id", "tool_call.id")),
        "arguments": _parsed(_first(attributes, ("gen_ai.tool.call.arguments", "tool.parameters"))),
        "result": _parsed(_first(attributes, ("gen_ai.tool.call.result", "output.value"))),
    }
