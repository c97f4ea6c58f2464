"""OTLP/HTTP trace export requests and their answers (the OpenTelemetry protocol,
opentelemetry-proto's docs/specification.md): the body is an ExportTraceServiceRequest
in binary protobuf (``application/x-protobuf``) or protobuf JSON (``application/json``,
with trace and span ids in hex and enums as integers); the answer is an
ExportTraceServiceResponse in the same encoding, or a ``google.rpc.Status`` for a failure.

``decode`` turns a body into Assay spans, each span's project resolved from the
``X-Assay-Project`` header, else the resource attribute ``assay.project``, else
``service.name``. A span that cannot be stored (no valid trace id, no project) is not
dropped silently: it is counted in ``Decoded.rejected`` with the reason, which the
server returns as a partial success.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from assay.errors import InvalidInput
from assay.extras import need
from assay.records import SPAN_KINDS, SPAN_STATUSES, Span, SpanEvent, SpanLink
from assay.store.validate import captured_text
from assay.traces.conventions import readings
from assay.values import check_project

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
PROJECT_HEADER = "x-assay-project"
PROJECT_ATTRIBUTE = "assay.project"
MAX_DEPTH = 32  # nesting of attribute values (arrays and key-value lists)
_ID_FIELDS = frozenset(
    {"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"}
)


def media_type(content_type: str | None) -> str | None:
    """PROTOBUF or JSON for a request's Content-Type, None for anything else."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind in (PROTOBUF, "application/protobuf", "application/vnd.google.protobuf"):
        return PROTOBUF
    if kind == JSON:
        return JSON
    return None


def _pb() -> Any:
    need("opentelemetry.proto", "OTLP trace ingest")
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

    return trace_service_pb2


def parse(body: bytes, kind: str) -> Any:
    """The ExportTraceServiceRequest a body holds, or InvalidInput saying why not."""
    message = _pb().ExportTraceServiceRequest()
    if kind == PROTOBUF:
        from google.protobuf.message import DecodeError

        try:
            message.ParseFromString(body)
        except (DecodeError, RecursionError, ValueError) as exc:
            raise InvalidInput(
                f"the body is not a protobuf ExportTraceServiceRequest: {exc}"
            ) from None
        return message
    from google.protobuf import json_format

    try:
        tree = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"the body is not JSON: {exc}") from None
    if not isinstance(tree, dict):
        raise InvalidInput("the body is not a JSON ExportTraceServiceRequest (an object)")
    try:
        json_format.ParseDict(_ids_as_base64(tree), message, ignore_unknown_fields=True)
    except (json_format.ParseError, RecursionError, ValueError, TypeError) as exc:
        raise InvalidInput(f"the body is not a JSON ExportTraceServiceRequest: {exc}") from None
    return message


def _ids_as_base64(tree: Any, depth: int = 0) -> Any:
    """OTLP/JSON writes trace and span ids in hex; protobuf's JSON mapping wants base64."""
    if depth > 64:
        raise InvalidInput("the JSON body is nested too deeply")
    if isinstance(tree, dict):
        return {
            k: _hex_to_base64(k, v) if k in _ID_FIELDS else _ids_as_base64(v, depth + 1)
            for k, v in tree.items()
        }
    if isinstance(tree, list):
        return [_ids_as_base64(v, depth + 1) for v in tree]
    return tree


def _hex_to_base64(name: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise InvalidInput(
            f"{name} {value[:40]!r} is not hex-encoded (OTLP/JSON ids are hex)"
        ) from None
    return base64.b64encode(raw).decode()


# ---- values ------------------------------------------------------------------------------


def value_of(any_value: Any, depth: int = 0) -> Any:
    """An OTLP AnyValue as plain data (an array as a list, a kvlist as a dict)."""
    if depth > MAX_DEPTH:
        raise InvalidInput(f"an attribute value is nested deeper than {MAX_DEPTH} levels")
    which = any_value.WhichOneof("value")
    if which is None:
        return None
    if which == "string_value":
        return captured_text("attribute", any_value.string_value)
    if which == "array_value":
        return [value_of(v, depth + 1) for v in any_value.array_value.values]
    if which == "kvlist_value":
        return attributes_of(any_value.kvlist_value.values, depth + 1)
    return getattr(any_value, which)


def attributes_of(pairs: Iterable[Any], depth: int = 0) -> dict[str, Any]:
    """Key-value pairs as a dict. Strings and scalars, nearly every attribute, are read
    here without a call per value; arrays and kvlists by ``value_of``."""
    out: dict[str, Any] = {}
    for kv in pairs:
        if depth > MAX_DEPTH:
            raise InvalidInput(f"an attribute value is nested deeper than {MAX_DEPTH} levels")
        key = kv.key
        if "\x00" in key or not key.isascii():
            key = captured_text("attribute key", key)
        value = kv.value
        which = value.WhichOneof("value")
        if which == "string_value":
            text = value.string_value
            if "\x00" in text or not text.isascii():
                text = captured_text("attribute", text)
            out[key] = text
        elif which is None:
            out[key] = None
        elif which == "array_value" or which == "kvlist_value":
            out[key] = value_of(value, depth)
        else:
            out[key] = getattr(value, which)
    return out


# ---- spans -------------------------------------------------------------------------------


@dataclass(kw_only=True)
class Decoded:
    spans: list[Span] = field(default_factory=list)
    rejected: dict[str, int] = field(default_factory=dict)  # reason -> how many spans

    @property
    def n_rejected(self) -> int:
        return sum(self.rejected.values())

    def reject(self, reason: str, count: int = 1) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + count

    def message(self, shown: int = 5) -> str:
        """The reasons, most frequent first, the first ``shown`` of them in full."""
        reasons = sorted(self.rejected.items(), key=lambda item: -item[1])
        text = "; ".join(f"{n} span(s): {reason}" for reason, n in reasons[:shown])
        rest = sum(n for _, n in reasons[shown:])
        return text + (f"; and {rest} more span(s) for other reasons" if rest else "")


def project_of(resource: dict[str, Any], header: str | None) -> str:
    """The project a resource's spans go to: the header, else ``assay.project``, else
    ``service.name`` (InvalidInput when none names a valid project)."""
    for source, name in (
        ("the X-Assay-Project header", header),
        (f"resource attribute {PROJECT_ATTRIBUTE}", resource.get(PROJECT_ATTRIBUTE)),
        ("resource attribute service.name", resource.get("service.name")),
    ):
        if name is None or name == "":
            continue
        try:
            return check_project(name)
        except InvalidInput as exc:
            raise InvalidInput(
                f"{source} names no valid project ({exc}); set the X-Assay-Project header or "
                f"the resource attribute {PROJECT_ATTRIBUTE}"
            ) from None
    raise InvalidInput(
        "no project: send the X-Assay-Project header, or set the resource attribute "
        f"{PROJECT_ATTRIBUTE} or service.name"
    )


def decode(body: bytes, kind: str, header_project: str | None = None) -> Decoded:
    """The spans of an export request (InvalidInput when the body does not decode)."""
    request = parse(body, kind)
    out = Decoded()
    for resource_spans in request.resource_spans:
        resource = attributes_of(resource_spans.resource.attributes)
        n_spans = sum(len(s.spans) for s in resource_spans.scope_spans)
        try:
            project = project_of(resource, header_project)
        except InvalidInput as exc:
            out.reject(str(exc), n_spans)
            continue
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope.name
            for raw in scope_spans.spans:
                try:
                    out.spans.append(_span(raw, project=project, resource=resource, scope=scope))
                except InvalidInput as exc:
                    out.reject(str(exc))
    return out


_ZEROS = {16: bytes(16), 8: bytes(8)}


def _hex(raw: bytes, size: int, what: str) -> str:
    if len(raw) != size or raw == _ZEROS[size]:
        raise InvalidInput(f"a span without a valid {what} ({size} bytes, not all zero)")
    return raw.hex()


def _text(what: str, text: str) -> str:
    """captured_text, with plain text (nearly all) passed through without a call."""
    return text if text.isascii() and "\x00" not in text else captured_text(what, text)


def _span(raw: Any, *, project: str, resource: dict[str, Any], scope: str) -> Span:
    trace_id = _hex(raw.trace_id, 16, "trace id")
    span_id = _hex(raw.span_id, 8, "span id")
    parent = _hex(raw.parent_span_id, 8, "parent span id") if raw.parent_span_id else None
    start = raw.start_time_unix_nano
    if not start:
        raise InvalidInput("a span without a start time")
    end = max(raw.end_time_unix_nano, start)  # a span sent unended reads as instant
    attributes = attributes_of(raw.attributes)
    status = raw.status
    return Span(
        project=project,
        trace_id=trace_id,
        span_id=span_id,
        parent_id=parent,
        name=_text("span name", raw.name) or "(unnamed)",
        kind=SPAN_KINDS[raw.kind] if 0 <= raw.kind < len(SPAN_KINDS) else "unspecified",
        start_ns=start,
        end_ns=end,
        status=SPAN_STATUSES[status.code] if 0 <= status.code < 3 else "unset",
        status_message=_text("status message", status.message),
        attributes=attributes,
        resource=resource,
        scope=scope,
        events=list(_events(raw.events)) if raw.events else [],
        links=list(_links(raw.links)) if raw.links else [],
        **readings(attributes, start),
    )


def _events(events: Iterable[Any]) -> Iterator[SpanEvent]:
    for event in events:
        yield SpanEvent(
            name=captured_text("event name", event.name),
            time_ns=event.time_unix_nano,
            attributes=attributes_of(event.attributes),
        )


def _links(links: Iterable[Any]) -> Iterator[SpanLink]:
    for link in links:
        if len(link.trace_id) == 16 and len(link.span_id) == 8:
            yield SpanLink(
                trace_id=link.trace_id.hex(),
                span_id=link.span_id.hex(),
                attributes=attributes_of(link.attributes),
            )


# ---- answers -----------------------------------------------------------------------------


def success(kind: str, rejected: int = 0, message: str = "") -> bytes:
    """An ExportTraceServiceResponse: ``partial_success`` set only when spans were
    rejected (or a warning is given), as the specification asks."""
    response = _pb().ExportTraceServiceResponse()
    if rejected or message:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    return _encode(response, kind)


def failure(kind: str, code: int, message: str, bad_request: bool = False) -> bytes:
    """A google.rpc.Status (``code`` a google.rpc.Code), with a BadRequest detail for
    bad data, in the request's encoding (JSON when it had none of the two)."""
    need("google.rpc", "OTLP trace ingest")
    from google.rpc import error_details_pb2, status_pb2

    status = status_pb2.Status(code=code, message=message)
    if bad_request:
        detail = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field="body", description=message)
            ]
        )
        status.details.add().Pack(detail)
    return _encode(status, kind)


def _encode(message: Any, kind: str) -> bytes:
    if kind == PROTOBUF:
        data: bytes = message.SerializeToString()
        return data
    from google.protobuf import json_format

    return json.dumps(json_format.MessageToDict(message)).encode()
