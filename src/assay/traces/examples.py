"""A trace as an example of what the application was asked and answered: the rows of a
dataset made from traces (sdk/traces.py ``to_dataset``) and what an LLM judge reads.

The input is the root span's ``input.value`` (what ``@assay.trace`` records: the call's
arguments), else the conversation its first model call was given; the output is the
root's ``output.value``, else the text its last model call answered. Feedback is folded
per name, the latest of each winning; the latest correction is the expected answer.
Models and prompt versions are read from every span (``assay.prompt.name`` and
``assay.prompt.version`` name the prompt a call was made from).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from assay.records import Span, TraceFeedback
from assay.traces.conventions import messages

PROMPT_NAME = "assay.prompt.name"
PROMPT_VERSION = "assay.prompt.version"


def _value(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _root(spans: Sequence[Span]) -> Span | None:
    return next((s for s in spans if s.parent_id is None), spans[0] if spans else None)


def _text(message: Any) -> Any:
    """A GenAI message's text parts joined, else the message as it is."""
    if not isinstance(message, dict):
        return message
    parts = message.get("parts")
    if isinstance(parts, list):
        texts = [p.get("content") for p in parts if isinstance(p, dict) and p.get("type") == "text"]
        if texts and all(isinstance(t, str) for t in texts):
            return "".join(str(t) for t in texts)
        return parts
    return message.get("content", message)


def inputs(spans: Sequence[Span]) -> Any:
    root = _root(spans)
    if root is not None and "input.value" in root.attributes:
        return _value(root.attributes["input.value"])
    calls = [s for s in spans if s.operation == "chat"]
    if calls:
        given, _ = messages(calls[0].attributes)
        return given
    return None


def output(spans: Sequence[Span]) -> Any:
    root = _root(spans)
    if root is not None and "output.value" in root.attributes:
        return _value(root.attributes["output.value"])
    calls = [s for s in spans if s.operation == "chat"]
    if calls:
        _, answered = messages(calls[-1].attributes)
        texts = [_text(m) for m in answered]
        return texts[0] if len(texts) == 1 else texts
    return None


def models(spans: Sequence[Span]) -> list[str]:
    return sorted({s.model for s in spans if s.model})


def prompts(spans: Sequence[Span]) -> list[str]:
    """The prompt versions the trace's calls were made from, as ``name:version``."""
    found = set()
    for span in spans:
        name = span.attributes.get(PROMPT_NAME)
        if isinstance(name, str) and name:
            version = span.attributes.get(PROMPT_VERSION)
            found.add(f"{name}:{version}" if version not in (None, "") else name)
    return sorted(found)


def folded(feedback: Sequence[TraceFeedback]) -> tuple[dict[str, Any], Any]:
    """(each name's latest value: its score, else thumbs, else comment; the latest
    correction or None)."""
    values: dict[str, Any] = {}
    correction = None
    for item in sorted(feedback, key=lambda f: (f.created_at, f.id)):
        if item.score is not None:
            values[item.name] = item.score
        elif item.thumbs is not None:
            values[item.name] = item.thumbs
        elif item.comment is not None and item.correction is None:
            values[item.name] = item.comment
        if item.correction is not None:
            correction = item.correction
    return values, correction


def row(trace_id: str, spans: Sequence[Span], feedback: Sequence[TraceFeedback]) -> dict[str, Any]:
    """One dataset row: trace_id, input, traced_output (what the application answered:
    not ``output``, which evaluation scorers and judges give the evaluated model's),
    expected (the latest correction), feedback (name -> value), models, prompts."""
    values, correction = folded(feedback)
    return {
        "trace_id": trace_id,
        "input": inputs(spans),
        "traced_output": output(spans),
        "expected": correction,
        "feedback": values,
        "models": models(spans),
        "prompts": prompts(spans),
    }
