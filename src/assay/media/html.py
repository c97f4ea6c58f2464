"""``assay.Html``: an HTML document at a step (a report, a rendered sample), from a
string, a file or an open text file, stored as a blob with its bytes as given: Assay
injects nothing into it. The UI shows it in a sandboxed frame that runs no script
(the stored HTML is untrusted)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from assay.errors import InvalidInput
from assay.media.value import Encoded, Fetch, Lazy, Value

MAX_BYTES = 32 * 1024 * 1024  # under a server's 64 MiB request limit


class Html(Value):
    """``assay.Html("<b>bold</b>")``; a file: ``assay.Html("report.html")`` (a str
    without markup ending in ``.html`` or ``.htm`` names a file, as W&B reads one) or
    ``assay.Html(Path(...))``; or an open file (anything with ``read()``). The text must
    be UTF-8; it is kept byte for byte."""

    kind = "html"

    def __init__(self, data: str | bytes | os.PathLike[str] | Any) -> None:
        self._stored: Lazy | None = None
        self._data = _bytes_of(data)
        if len(self._data) > MAX_BYTES:
            raise InvalidInput(f"html is {len(self._data)} bytes; at most {MAX_BYTES}")
        try:
            self._text: str | None = self._data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"html must be UTF-8 text; byte {exc.start} is not ({exc.reason})"
            ) from None

    @property
    def nbytes(self) -> int:
        return len(self._data)

    def encode(self, out: Encoded) -> dict[str, Any]:
        return {"digest": out.add(self.data), "format": "html", "size": len(self.data)}

    @classmethod
    def from_body(cls, body: dict[str, Any], fetch: Fetch) -> Html:
        html = cls.__new__(cls)
        html._data = b""
        html._text = None
        html._stored = Lazy(body["digest"], fetch)
        return html

    @property
    def data(self) -> bytes:
        """The document's bytes (UTF-8), as logged."""
        return self._stored.data if self._stored is not None else self._data

    @property
    def html(self) -> str:
        """The document as text."""
        if self._text is None:
            self._text = self.data.decode("utf-8", errors="replace")
        return self._text

    def __str__(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return f"<Html {len(self.data)} bytes>"


def _bytes_of(data: object) -> bytes:
    if isinstance(data, str) and "<" not in data and data.lower().endswith((".html", ".htm")):
        data = Path(data)  # a file's name, not markup
    if isinstance(data, str):
        return _utf8(data)
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    if isinstance(data, os.PathLike):
        path = Path(data)
        try:
            if path.stat().st_size > MAX_BYTES:
                raise InvalidInput(f"html file {path} is over {MAX_BYTES} bytes")
            return path.read_bytes()
        except OSError as exc:
            raise InvalidInput(f"cannot read html file {path}: {exc.strerror or exc}") from None
    read = getattr(data, "read", None)
    if callable(read):
        content = read(MAX_BYTES + 1)
        if isinstance(content, str):
            return _utf8(content)
        if isinstance(content, bytes):
            return content
    raise InvalidInput(
        f"assay.Html takes a str of HTML, bytes, a pathlib.Path or an open file, "
        f"not {type(data).__name__}"
    )


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("html is not valid Unicode (it holds a lone surrogate)") from None
