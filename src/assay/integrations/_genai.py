"""What the LLM client wrappers share (integrations/openai.py, integrations/anthropic.py):
a model call recorded as a span in the OpenTelemetry GenAI conventions, around a client
method that may be sync or async and may answer with a stream.

A provider module says how to read its request and response (a ``Provider``); this one
opens the span (``chat gpt-4o-mini``, kind ``llm``) as the call starts, marks it failed
with ``error.type`` when the call raises, and closes it when the answer is complete: at
once for a plain answer, when a stream has been read to its end (or closed, or left by
its ``with`` block) for a streamed one, its chunks assembled into the one answer they
make. Recording never raises into the application: a reading that fails is logged and
the call's own result is returned untouched.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from assay.sdk.tracing import CURRENT, OpenSpan, open_span

log = logging.getLogger("assay")

# request parameters recorded, by the name the GenAI conventions give them
REQUEST_PARAMETERS = {
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "top_k": "gen_ai.request.top_k",
    "max_tokens": "gen_ai.request.max_tokens",
    "max_completion_tokens": "gen_ai.request.max_tokens",
    "max_output_tokens": "gen_ai.request.max_tokens",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
    "presence_penalty": "gen_ai.request.presence_penalty",
    "seed": "gen_ai.request.seed",
    "n": "gen_ai.request.choice.count",
    "stop": "gen_ai.request.stop_sequences",
    "stop_sequences": "gen_ai.request.stop_sequences",
}


def as_json(value: Any) -> str:
    return json.dumps(value, default=repr, ensure_ascii=False)


def plain(value: Any) -> Any:
    """A client's response object (pydantic) as plain dicts and lists."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json", exclude_unset=False)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def given(value: Any) -> bool:
    """Not None and not the clients' markers of an argument left out."""
    return value is not None and type(value).__name__ not in ("NotGiven", "Omit")


def parameters(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The call's model parameters as ``gen_ai.request.*`` attributes."""
    found: dict[str, Any] = {}
    for name, attribute in REQUEST_PARAMETERS.items():
        value = kwargs.get(name)
        if not given(value):
            continue
        if attribute == "gen_ai.request.stop_sequences" and isinstance(value, str):
            value = [value]
        found[attribute] = value
    return found


class Accumulator(Protocol):
    """Assembles a stream's chunks into the answer they make."""

    def add(self, chunk: Any) -> None: ...

    def finish(self, span: OpenSpan) -> None: ...


@dataclass(frozen=True, kw_only=True)
class Call:
    """How one client method is read: the operation, the request's attributes, the
    response's, and an accumulator for a streamed answer."""

    operation: str
    provider: str
    request: Callable[[Mapping[str, Any]], dict[str, Any]]
    response: Callable[[Any, OpenSpan], None]
    accumulator: Callable[[], Accumulator] | None = None
    is_stream: Callable[[Mapping[str, Any], Any], bool] = lambda kwargs, _result: bool(
        kwargs.get("stream") is True
    )


def _opened(
    call: Call, kwargs: Mapping[str, Any], project: str | None, uri: str | None
) -> OpenSpan:
    model = kwargs.get("model")
    name = f"{call.operation} {model}" if isinstance(model, str) else call.operation
    span = open_span(name, "embedding" if call.operation == "embeddings" else "llm", project, uri)
    span.set("gen_ai.operation.name", call.operation)
    span.set("gen_ai.provider.name", call.provider)
    if isinstance(model, str):
        span.set("gen_ai.request.model", model)
    try:
        span.set_attributes(call.request(kwargs))
    except Exception:
        log.exception("assay: the request of %s could not be read", name)
    return span


def _failed(span: OpenSpan, exc: BaseException) -> None:
    span.set("error.type", type(exc).__qualname__)
    span.fail(exc)
    span.finish()


def _answered(call: Call, span: OpenSpan, result: Any) -> None:
    try:
        call.response(result, span)
    except Exception:
        log.exception("assay: the answer of %s could not be read", span.name)
    span.finish()


def wrap(method: Callable[..., Any], call: Call, project: str | None, uri: str | None) -> Any:
    """``method`` (bound, sync or async) recording each call as a span."""
    if getattr(method, "__assay_call__", None) is not None:
        return method  # instrumented already
    if inspect.iscoroutinefunction(inspect.unwrap(method)):

        @functools.wraps(method)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            span = _opened(call, kwargs, project, uri)
            token = CURRENT.set(span)
            try:
                result = await method(*args, **kwargs)
            except BaseException as exc:
                _failed(span, exc)
                raise
            finally:
                CURRENT.reset(token)
            if call.accumulator is not None and call.is_stream(kwargs, result):
                return AsyncStream(result, span, call.accumulator())
            _answered(call, span, result)
            return result

        async_wrapper.__assay_call__ = call  # type: ignore[attr-defined]
        return async_wrapper

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        span = _opened(call, kwargs, project, uri)
        token = CURRENT.set(span)
        try:
            result = method(*args, **kwargs)
        except BaseException as exc:
            _failed(span, exc)
            raise
        finally:
            CURRENT.reset(token)
        if call.accumulator is not None and call.is_stream(kwargs, result):
            return Stream(result, span, call.accumulator())
        _answered(call, span, result)
        return result

    wrapper.__assay_call__ = call  # type: ignore[attr-defined]
    return wrapper


class _Recording:
    """A stream's span: closed once, when the stream ends, fails or is closed."""

    def __init__(self, inner: Any, span: OpenSpan, accumulator: Accumulator) -> None:
        self._inner = inner
        self._span = span
        self._accumulator = accumulator
        self._done = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _add(self, chunk: Any) -> None:
        try:
            self._accumulator.add(chunk)
        except Exception:
            log.exception("assay: a chunk of %s could not be read", self._span.name)

    def _end(self, exc: BaseException | None = None) -> None:
        if self._done:
            return
        self._done = True
        if exc is not None:
            self._span.set("error.type", type(exc).__qualname__)
            self._span.fail(exc)
        try:
            self._accumulator.finish(self._span)
        except Exception:
            log.exception("assay: the stream of %s could not be assembled", self._span.name)
        self._span.finish()


class Stream(_Recording):
    """A sync stream (openai.Stream, anthropic.Stream) that records what it yields."""

    def __iter__(self) -> Stream:
        return self

    def __next__(self) -> Any:
        try:
            chunk = next(self._inner)
        except StopIteration:
            self._end()
            raise
        except BaseException as exc:
            self._end(exc)
            raise
        self._add(chunk)
        return chunk

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._end()


class AsyncStream(_Recording):
    """An async stream (openai.AsyncStream, anthropic.AsyncStream) that records what it
    yields."""

    def __aiter__(self) -> AsyncStream:
        return self

    async def __anext__(self) -> Any:
        try:
            chunk = await self._inner.__anext__()
        except StopAsyncIteration:
            self._end()
            raise
        except BaseException as exc:
            self._end(exc)
            raise
        self._add(chunk)
        return chunk

    async def __aenter__(self) -> AsyncStream:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    async def close(self) -> None:
        try:
            await self._inner.close()
        finally:
            self._end()


def text_parts(content: Any) -> list[dict[str, Any]]:
    """A message's content as GenAI parts: a string is one text part; a list of the
    providers' content blocks keeps each block, its text as ``content``."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, Any]] = []
    for block in plain(content) if isinstance(content, list | tuple) else [plain(content)]:
        if isinstance(block, Mapping) and block.get("type") == "text":
            parts.append({"type": "text", "content": block.get("text", "")})
        elif isinstance(block, Mapping):
            parts.append(dict(block))
        else:
            parts.append({"type": "text", "content": str(block)})
    return parts


def instrument_resource(
    resource: Any, method: str, call: Call, project: str | None, uri: str | None
) -> None:
    """Replace ``resource.<method>`` on this instance only by its recording wrapper."""
    bound = getattr(resource, method)
    setattr(resource, method, wrap(bound, call, project, uri))
