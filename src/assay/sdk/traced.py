"""``@assay.trace``: each call of a function (sync, async, generator or async generator)
recorded as a span (sdk/tracing.py), its arguments as inputs and its result as output.
A generator's span stays open while it is iterated, but is the current span only while
the generator's own code runs, never in the caller's."""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from assay.errors import InvalidInput
from assay.sdk.tracing import CURRENT, KINDS, MAX_ITEMS, OpenSpan, open_span

F = TypeVar("F", bound=Callable[..., Any])


def _inputs(
    signature: inspect.Signature, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError:
        return {"args": list(args), "kwargs": kwargs}
    return {k: v for k, v in bound.arguments.items() if k not in ("self", "cls")}


@overload
def trace(fn: F) -> F: ...


@overload
def trace(
    fn: None = None,
    *,
    name: str | None = None,
    kind: str = "span",
    project: str | None = None,
    uri: str | None = None,
    capture: bool = True,
) -> Callable[[F], F]: ...


def trace(
    fn: F | None = None,
    *,
    name: str | None = None,
    kind: str = "span",
    project: str | None = None,
    uri: str | None = None,
    capture: bool = True,
) -> F | Callable[[F], F]:
    """Record each call of a function (sync, async, generator or async generator) as a
    span named after it: its arguments as inputs and its result (a generator's yielded
    items) as output when ``capture``, an exception as the span's error."""
    if kind not in KINDS:
        raise InvalidInput(f"span kind {kind!r} is not one of {', '.join(KINDS)}")

    def decorate(func: F) -> F:
        options = _Options(
            name=name or func.__qualname__,
            kind=kind,
            project=project,
            uri=uri,
            capture=capture,
            signature=inspect.signature(func),
        )
        if inspect.isasyncgenfunction(func):
            return functools.wraps(func)(_async_generator(func, options))  # type: ignore[return-value]
        if inspect.isgeneratorfunction(func):
            return functools.wraps(func)(_generator(func, options))  # type: ignore[return-value]
        if inspect.iscoroutinefunction(func):
            return functools.wraps(func)(_coroutine(func, options))  # type: ignore[return-value]
        return functools.wraps(func)(_function(func, options))  # type: ignore[return-value]

    return decorate(fn) if fn is not None else decorate


@dataclass(frozen=True, kw_only=True)
class _Options:
    name: str
    kind: str
    project: str | None
    uri: str | None
    capture: bool
    signature: inspect.Signature

    def open(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> OpenSpan:
        opened = open_span(self.name, self.kind, self.project, self.uri)
        if self.capture:
            opened.set_inputs(_inputs(self.signature, args, kwargs))
        return opened


def _function(func: Callable[..., Any], options: _Options) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        opened = options.open(args, kwargs)
        token = CURRENT.set(opened)
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            opened.fail(exc)
            opened.finish()
            raise
        finally:
            CURRENT.reset(token)
        if options.capture:
            opened.output = result
        opened.finish()
        return result

    return wrapper


def _coroutine(func: Callable[..., Any], options: _Options) -> Callable[..., Any]:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        opened = options.open(args, kwargs)
        token = CURRENT.set(opened)
        try:
            result = await func(*args, **kwargs)
        except BaseException as exc:
            opened.fail(exc)
            opened.finish()
            raise
        finally:
            CURRENT.reset(token)
        if options.capture:
            opened.output = result
        opened.finish()
        return result

    return wrapper


def _generator(func: Callable[..., Any], options: _Options) -> Callable[..., Any]:
    """The span stays open while the generator runs; it is the current span only while
    the generator's own code runs (between two of its yields), never in the caller's."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        opened = options.open(args, kwargs)
        items: list[Any] = []
        inner = func(*args, **kwargs)
        sent: Any = None
        try:
            while True:
                token = CURRENT.set(opened)
                try:
                    item = inner.send(sent)
                except StopIteration:
                    break
                finally:
                    CURRENT.reset(token)
                if len(items) < MAX_ITEMS:
                    items.append(item)
                sent = yield item
        except GeneratorExit:
            inner.close()
            raise
        except BaseException as exc:
            opened.fail(exc)
            raise
        finally:
            if options.capture:
                opened.output = items
            opened.finish()

    return wrapper


def _async_generator(func: Callable[..., Any], options: _Options) -> Callable[..., Any]:
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        opened = options.open(args, kwargs)
        items: list[Any] = []
        inner = func(*args, **kwargs)
        sent: Any = None
        try:
            while True:
                token = CURRENT.set(opened)
                try:
                    item = await inner.asend(sent)
                except StopAsyncIteration:
                    break
                finally:
                    CURRENT.reset(token)
                if len(items) < MAX_ITEMS:
                    items.append(item)
                sent = yield item
        except GeneratorExit:
            await inner.aclose()
            raise
        except BaseException as exc:
            opened.fail(exc)
            raise
        finally:
            if options.capture:
                opened.output = items
            opened.finish()

    return wrapper
