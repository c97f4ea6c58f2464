"""Prompts as versioned artifacts (docs/llm.md): what a prompt version holds and how it
formats (template), which version of a split a caller gets (arms), and how the arms of
an A/B split compare on the traces that recorded them (compare)."""

from __future__ import annotations

from assay.prompting.arms import choose, place
from assay.prompting.template import (
    PromptBody,
    body_of,
    format_body,
    is_version,
    parse_ref,
    variables_of,
)

__all__ = [
    "PromptBody",
    "body_of",
    "choose",
    "format_body",
    "is_version",
    "parse_ref",
    "place",
    "variables_of",
]
