"""A prompt version's content: a text template or a chat template (a list of messages),
the variables it takes, and the model parameters that go with it.

Placeholders are ``{{ name }}``, as Humanloop, Langfuse and MLflow write them. They are
substituted here by hand rather than with Jinja: a prompt is data another person edits,
and a template language that can call methods and loop is more than substitution needs
(and the SDK does not depend on Jinja).
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from assay.errors import InvalidInput
from assay.values import check_name

PROMPT_TYPES = ("text", "chat")
ROLES = ("system", "developer", "user", "assistant", "tool")
MAX_TEMPLATE_CHARS = 200_000
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_REF = re.compile(r"^(?:(?P<project>[^/@:]+)/)?(?P<name>[^/@:]+)(?:(?P<sep>[@:])(?P<sel>.+))?$")


class PromptBody(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """What one prompt version holds; stored as the version's metadata and its one file."""

    type: str  # "text" or "chat"
    template: str | list[dict[str, str]]
    variables: list[str]  # sorted, as found in the template
    params: dict[str, Any] = {}  # model, temperature, max_tokens, ...


def variables_of(template: str | list[dict[str, str]]) -> list[str]:
    """The variables a template names, sorted; InvalidInput naming a bad placeholder."""
    texts = [template] if isinstance(template, str) else [m["content"] for m in template]
    found: set[str] = set()
    for text in texts:
        for match in _PLACEHOLDER.finditer(text):
            name = match[1]
            if not _VARIABLE.match(name):
                raise InvalidInput(
                    f"placeholder {match[0]!r}: a variable is a name of letters, digits and "
                    "'_' not starting with a digit, as in {{ question }}"
                )
            found.add(name)
    return sorted(found)


def _messages(template: object) -> list[dict[str, str]]:
    if not isinstance(template, list) or not template:
        raise InvalidInput("a chat template is a non-empty list of {role, content} messages")
    messages: list[dict[str, str]] = []
    for i, message in enumerate(template):
        if not isinstance(message, dict) or set(message) != {"role", "content"}:
            raise InvalidInput(f"message {i} of the chat template must be {{role, content}}")
        role, content = message["role"], message["content"]
        if role not in ROLES:
            raise InvalidInput(f"message {i} has role {role!r}: one of {', '.join(ROLES)}")
        if not isinstance(content, str):
            raise InvalidInput(f"message {i}'s content must be text")
        messages.append({"role": role, "content": content})
    return messages


def body_of(template: object, params: object = None) -> PromptBody:
    """A checked prompt body: a string is a text template, a list of messages a chat one."""
    checked: str | list[dict[str, str]]
    if isinstance(template, str):
        kind, checked, size = "text", template, len(template)
    else:
        messages = _messages(template)
        kind, checked, size = "chat", messages, sum(len(m["content"]) for m in messages)
    if size == 0:
        raise InvalidInput("the prompt template is empty")
    if size > MAX_TEMPLATE_CHARS:
        raise InvalidInput(f"the template has {size} characters; at most {MAX_TEMPLATE_CHARS}")
    if params is None:
        params = {}
    if not isinstance(params, dict) or not all(isinstance(k, str) for k in params):
        raise InvalidInput("params must map names (model, temperature, ...) to values")
    try:
        msgspec.json.encode(params)
    except (TypeError, msgspec.EncodeError) as exc:
        raise InvalidInput(f"params must be JSON values: {exc}") from None
    return PromptBody(type=kind, template=checked, variables=variables_of(checked), params=params)


def _fill(text: str, values: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: values[m[1]], text)


def format_body(body: PromptBody, name: str, given: dict[str, Any]) -> str | list[dict[str, str]]:
    """The template with every variable filled in: a string, or chat messages. A variable
    missing or one the template does not take is an InvalidInput naming it."""
    needed = set(body.variables)
    missing = sorted(needed - set(given))
    if missing:
        raise InvalidInput(
            f"prompt {name!r} needs variable(s) {', '.join(missing)} "
            f"(it takes: {', '.join(body.variables) or 'none'})"
        )
    unknown = sorted(set(given) - needed)
    if unknown:
        raise InvalidInput(
            f"prompt {name!r} has no variable(s) {', '.join(unknown)} "
            f"(it takes: {', '.join(body.variables) or 'none'})"
        )
    values = {k: str(v) for k, v in given.items()}
    if isinstance(body.template, str):
        return _fill(body.template, values)
    return [{"role": m["role"], "content": _fill(m["content"], values)} for m in body.template]


def is_version(selector: str) -> bool:
    """Whether a reference's selector names a version (``v3``, ``latest``), not a label."""
    return selector == "latest" or re.fullmatch(r"v\d+", selector) is not None


def parse_ref(ref: str) -> tuple[str | None, str, str]:
    """``[project/]name[@label|:vN|:latest]`` -> (project or None, name, selector). The
    selector is ``latest`` when none is given, ``vN`` for a version, else the label."""
    match = _REF.match(ref) if isinstance(ref, str) else None
    if match is None:
        raise InvalidInput(
            f"prompt reference {ref!r} must be name, name@label, name:v3 or project/name@label"
        )
    name = check_name("prompt name", match["name"])
    selector = match["sel"] or "latest"
    if match["sep"] == ":" and not re.match(r"^(v\d+|latest)$", selector):
        raise InvalidInput(f"in {ref!r}, ':' takes a version (v3) or latest; '@' takes a label")
    if match["sep"] == "@" and re.match(r"^v?\d+$", selector):
        raise InvalidInput(f"in {ref!r}, '@' takes a label; write {name}:v{selector.lstrip('v')}")
    return match["project"], name, selector
