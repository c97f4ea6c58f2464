"""A loopback HTTP server speaking OpenAI's and Anthropic's JSON (and their SSE streams),
for the client wrappers' tests: the real ``openai`` and ``anthropic`` packages talk to it
as to the providers. It answers by echoing the last user message in upper case; a
message containing "weather" gets a tool call; a model named "broken" a 500 error."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _last_text(messages: list[dict[str, Any]]) -> str:
    content = messages[-1]["content"] if messages else ""
    if isinstance(content, list):
        return " ".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
    return str(content)


class _Handler(BaseHTTPRequestHandler):
    requests: list[dict[str, Any]]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _sse(self, events: list[tuple[str | None, Any]]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for name, data in events:
            head = f"event: {name}\n" if name else ""
            payload = data if isinstance(data, str) else json.dumps(data)
            self.wfile.write(f"{head}data: {payload}\n\n".encode())
            self.wfile.flush()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append({"path": self.path, "body": body})  # type: ignore[attr-defined]
        if body.get("model") == "broken":
            self._json(500, {"error": {"message": "the model is down", "type": "server_error"}})
        elif self.path.endswith("/chat/completions"):
            self._openai_chat(body)
        elif self.path.endswith("/responses"):
            self._openai_response(body)
        elif self.path.endswith("/embeddings"):
            given = body["input"] if isinstance(body["input"], list) else [body["input"]]
            self._json(
                200,
                {
                    "object": "list",
                    "model": body["model"],
                    "data": [
                        {"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]}
                        for i in range(len(given))
                    ],
                    "usage": {"prompt_tokens": 4 * len(given), "total_tokens": 4 * len(given)},
                },
            )
        elif self.path.endswith("/messages"):
            self._anthropic(body)
        else:
            self._json(404, {"error": {"message": "no such route"}})

    # ---- OpenAI -------------------------------------------------------------------------

    def _openai_chat(self, body: dict[str, Any]) -> None:
        text = _last_text(body["messages"])
        model = body["model"] + "-2024-07-18" if body["model"] == "gpt-4o-mini" else body["model"]
        usage = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
        tool = "weather" in text
        if not body.get("stream"):
            message: dict[str, Any] = {
                "role": "assistant",
                "content": None if tool else text.upper(),
            }
            if tool:
                message["tool_calls"] = [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ]
            self._json(
                200,
                {
                    "id": "chatcmpl-1",
                    "object": "chat.completion",
                    "created": 1767225600,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": message,
                            "finish_reason": "tool_calls" if tool else "stop",
                        }
                    ],
                    "usage": usage,
                },
            )
            return
        base = {
            "id": "chatcmpl-2",
            "object": "chat.completion.chunk",
            "created": 1767225600,
            "model": model,
        }
        chunks: list[tuple[str | None, Any]] = [
            (
                None,
                {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
            )
        ]
        if tool:
            pieces = ['{"city"', ': "Paris"}']
            chunks.append(
                (
                    None,
                    {
                        **base,
                        "choices": [
                            {
                                "index": 0,
                                "delta": {
                                    "tool_calls": [
                                        {
                                            "index": 0,
                                            "id": "call_2",
                                            "type": "function",
                                            "function": {"name": "get_weather", "arguments": ""},
                                        }
                                    ]
                                },
                            }
                        ],
                    },
                )
            )
            chunks += [
                (
                    None,
                    {
                        **base,
                        "choices": [
                            {
                                "index": 0,
                                "delta": {
                                    "tool_calls": [{"index": 0, "function": {"arguments": p}}]
                                },
                            }
                        ],
                    },
                )
                for p in pieces
            ]
        else:
            words = text.upper().split(" ")
            chunks += [
                (
                    None,
                    {
                        **base,
                        "choices": [{"index": 0, "delta": {"content": (" " if i else "") + w}}],
                    },
                )
                for i, w in enumerate(words)
            ]
        chunks.append(
            (
                None,
                {
                    **base,
                    "choices": [
                        {"index": 0, "delta": {}, "finish_reason": "tool_calls" if tool else "stop"}
                    ],
                },
            )
        )
        if (body.get("stream_options") or {}).get("include_usage"):
            chunks.append((None, {**base, "choices": [], "usage": usage}))
        chunks.append((None, "[DONE]"))
        self._sse(chunks)

    def _openai_response(self, body: dict[str, Any]) -> None:
        """The Responses API: ``input`` a string or a list of items; a model named
        "failing" answers a stream that ends in ``response.failed``."""
        given = body["input"]
        if isinstance(given, str):
            text = given
        else:
            said = [i for i in given if i.get("type", "message") == "message"]
            text = _last_text(said)
        tool = "weather" in text and not any(
            i.get("type") == "function_call_output" for i in given if isinstance(i, dict)
        )
        output: list[dict[str, Any]] = [
            {"id": "rs_1", "type": "reasoning", "summary": []},
        ]
        if tool:
            output.append(
                {
                    "id": "fc_1",
                    "type": "function_call",
                    "call_id": "call_3",
                    "name": "get_weather",
                    "arguments": '{"city": "Paris"}',
                    "status": "completed",
                }
            )
        else:
            output.append(
                {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": text.upper(), "annotations": []}],
                }
            )
        response: dict[str, Any] = {
            "id": "resp_1",
            "object": "response",
            "created_at": 1767225600,
            "model": body["model"] + "-2024-07-18",
            "status": "completed",
            "output": output,
            "usage": {
                "input_tokens": 30,
                "input_tokens_details": {"cached_tokens": 10},
                "output_tokens": 4,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": 34,
            },
        }
        if not body.get("stream"):
            self._json(200, response)
            return
        started = {**response, "status": "in_progress", "output": [], "usage": None}
        events: list[tuple[str | None, Any]] = [
            ("response.created", {"type": "response.created", "response": started})
        ]
        for i, word in enumerate(text.upper().split(" ")):
            events.append(
                (
                    "response.output_text.delta",
                    {
                        "type": "response.output_text.delta",
                        "item_id": "msg_1",
                        "output_index": 1,
                        "content_index": 0,
                        "delta": (" " if i else "") + word,
                    },
                )
            )
        if body["model"] == "failing":
            failed = {
                **started,
                "status": "failed",
                "error": {"code": "server_error", "message": "the model stopped"},
            }
            events.append(("response.failed", {"type": "response.failed", "response": failed}))
        else:
            events.append(
                ("response.completed", {"type": "response.completed", "response": response})
            )
        self._sse(events)

    # ---- Anthropic ----------------------------------------------------------------------

    def _anthropic(self, body: dict[str, Any]) -> None:
        text = _last_text(body["messages"])
        tool = "weather" in text
        usage = {"input_tokens": 20, "output_tokens": 5, "cache_read_input_tokens": 100}
        content: list[dict[str, Any]] = (
            [
                {"type": "text", "text": "Let me look."},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
            ]
            if tool
            else [{"type": "text", "text": text.upper()}]
        )
        reason = "tool_use" if tool else "end_turn"
        if not body.get("stream"):
            self._json(
                200,
                {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "model": body["model"],
                    "content": content,
                    "stop_reason": reason,
                    "stop_sequence": None,
                    "usage": usage,
                },
            )
            return
        start = {
            "id": "msg_2",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 20, "output_tokens": 1, "cache_read_input_tokens": 100},
        }
        events: list[tuple[str | None, Any]] = [
            ("message_start", {"type": "message_start", "message": start})
        ]
        for index, block in enumerate(content):
            if block["type"] == "text":
                events.append(
                    (
                        "content_block_start",
                        {
                            "type": "content_block_start",
                            "index": index,
                            "content_block": {"type": "text", "text": ""},
                        },
                    )
                )
                for i, word in enumerate(block["text"].split(" ")):
                    events.append(
                        (
                            "content_block_delta",
                            {
                                "type": "content_block_delta",
                                "index": index,
                                "delta": {"type": "text_delta", "text": (" " if i else "") + word},
                            },
                        )
                    )
            else:
                events.append(
                    (
                        "content_block_start",
                        {
                            "type": "content_block_start",
                            "index": index,
                            "content_block": {**block, "input": {}},
                        },
                    )
                )
                for piece in ('{"city":', ' "Paris"}'):
                    events.append(
                        (
                            "content_block_delta",
                            {
                                "type": "content_block_delta",
                                "index": index,
                                "delta": {"type": "input_json_delta", "partial_json": piece},
                            },
                        )
                    )
            events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        events.append(
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": reason, "stop_sequence": None},
                    "usage": {"output_tokens": 5},
                },
            )
        )
        events.append(("message_stop", {"type": "message_stop"}))
        self._sse(events)


class FakeLLM:
    def __init__(self, server: ThreadingHTTPServer) -> None:
        self._server = server
        host, port = server.server_address[:2]
        self.url = f"http://{host!s}:{port}"

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self._server.requests  # type: ignore[attr-defined, no-any-return]


@contextmanager
def fake_llm() -> Iterator[FakeLLM]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.requests = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield FakeLLM(server)
    finally:
        server.shutdown()
        server.server_close()
