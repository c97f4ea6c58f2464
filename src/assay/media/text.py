"""``assay.Text``: a string at a step (a generated sample, a prompt), kept in the body."""

from __future__ import annotations

from typing import Any

from assay.errors import InvalidInput
from assay.media.value import Encoded, Fetch, Value

MAX_CHARS = 1_000_000


class Text(Value):
    kind = "text"

    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise InvalidInput(f"assay.Text takes a str, not {type(text).__name__}")
        if len(text) > MAX_CHARS or "\x00" in text:
            raise InvalidInput(f"text must be at most {MAX_CHARS} characters, without NUL")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput("text is not valid Unicode (it holds a lone surrogate)") from None
        self.text = text

    @property
    def nbytes(self) -> int:
        return len(self.text)

    def encode(self, out: Encoded) -> dict[str, Any]:
        return {"text": self.text}

    @classmethod
    def from_body(cls, body: dict[str, Any], fetch: Fetch) -> Text:
        return cls(str(body["text"]))

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"<Text {self.text[:40]!r}>"
