"""Keeping secrets out of what Assay shows or stores: URIs, free text, argv, names.

One place decides what a secret looks like, so the server's pages and logs, the CLI and
the SDK's captured run metadata all hide the same things:

* the password of a URI's user info (``postgresql://me:pw@db/x`` → ``postgresql://me:***@db/x``)
  and secret query parameters (``?token=``, ``&api_key=``, ``X-Amz-Signature=``...),
  wherever such a URI stands in a text;
* values that have the shape of a known token (Assay API keys, OpenAI/Anthropic, GitHub,
  Hugging Face, Slack, AWS access key ids, Google API keys, JWTs, bearer tokens);
* the value of a name that says it holds a secret (``*KEY*``, ``*TOKEN*``, ``*SECRET*``,
  ``*PASSWORD*``...), in an environment snapshot, as a ``--api-key=...`` argument or a
  ``db.password=...`` override, or assigned to an upper-case variable in a text
  (``export DB_PASSWORD=...``, ``OPENAI_API_KEY = "..."``).

Written by hand: the rules are short, and no maintained library covers URIs, token shapes
and argv together.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

REDACTED = "***"
SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH")
# an option whose value is a secret: --api-key, --token, --db-password, --secret-key...
_SECRET_OPTION = re.compile(
    r"(?:^|_)(?:api_?key|key|token|secret|password|passwd|pass|pwd|credentials?|auth|access_key"
    r"|secret_key|private_key)$",
    re.IGNORECASE,
)

# scheme://user:password@host  (the password runs to the authority's last '@', so an
# unescaped '@' in it is hidden too)
_URI_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@]*:)(?P<pw>[^\s/?#]+)@")
# ?name=value or &name=value; hidden when a word of the name says it is a secret
_QUERY_PARAM = re.compile(r"(?P<head>[?&](?P<name>[A-Za-z0-9_.\-]+)=)(?P<value>[^&#\s\"'<>]+)")
_SECRET_PARAM_WORDS = frozenset(
    {"token", "key", "apikey", "secret", "password", "passwd", "pwd", "pass", "signature"}
    | {"sig", "credential", "credentials", "auth", "sas"}
)
# ...and a name containing one of these anywhere (sslpassword, clientsecret, authtoken)
_SECRET_PARAM_PARTS = ("password", "passwd", "secret", "token", "apikey", "credential")
# NAME=value, NAME = "value", export NAME='value' for upper-case names ending in a secret
# word (DB_PASSWORD, OPENAI_API_KEY; not MAX_TOKENS)
_ASSIGNMENT = re.compile(
    r"(?P<head>\b(?P<name>[A-Z][A-Z0-9_]*)\s*=(?!=)[ \t]*[\"']?)"
    r"(?P<value>(?<=[\"'])[^\"'\n]*|[^\s\"']+)"
)
# name: value in YAML, JSON or a dict literal (password: x, "api_token": "y"), for names
# that say they hold a secret; the value runs to its closing quote, else to a space
_MAPPING = re.compile(
    r"(?P<head>[\"']?(?P<name>[A-Za-z_][A-Za-z0-9_\-]*)[\"']?[ \t]*:[ \t]*[\"']?)"
    r"(?P<value>(?<=[\"'])[^\"'\n]+|(?<![\"'])[^\s\"',})#]+)"
)
_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
    re.DOTALL,
)
_TOKENS = re.compile(
    r"\bak_[a-z0-9]{12}_[A-Za-z0-9_\-]{20,}"  # Assay API keys
    r"|\bsk-(?:ant-|proj-)?[A-Za-z0-9_\-]{20,}"  # OpenAI, Anthropic
    r"|\bgh[pousr]_[A-Za-z0-9]{30,}|\bgithub_pat_[A-Za-z0-9_]{30,}"  # GitHub
    r"|\bhf_[A-Za-z0-9]{30,}"  # Hugging Face
    r"|\bxox[abposr]-[A-Za-z0-9\-]{10,}"  # Slack
    r"|\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"  # AWS access key ids
    r"|\bAIza[A-Za-z0-9_\-]{35}"  # Google API keys
    r"|\beyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}"  # JWTs
    r"|(?i:\bbearer\s+)[A-Za-z0-9._~+/\-]{16,}=*"
    r"|\bhooks\.slack\.com/services/[A-Za-z0-9/_\-]+"  # Slack webhooks
    r"|\bdiscord(?:app)?\.com/api/webhooks/[A-Za-z0-9/_\-]+"  # Discord webhooks
)


def is_secret_name(name: str) -> bool:
    """True when a variable or option name says that its value is a secret."""
    upper = name.upper()
    return any(word in upper for word in SECRET_WORDS)


def redact_uri(uri: str) -> str:
    """A URI with the password of its user info and the values of its secret query
    parameters replaced by ``***``."""
    uri = _URI_PASSWORD.sub(lambda m: m.group("head") + REDACTED + "@", uri)
    return _QUERY_PARAM.sub(_query_param, uri)


def _query_param(match: re.Match[str]) -> str:
    name = match.group("name").lower()
    words = re.split(r"[_.\-]", name)
    secret = any(word in _SECRET_PARAM_WORDS for word in words) or any(
        part in name for part in _SECRET_PARAM_PARTS
    )
    return match.group("head") + REDACTED if secret else match.group(0)


def _assignment(match: re.Match[str]) -> str:
    secret = _SECRET_OPTION.search(match.group("name")) and match.group("value")
    return match.group("head") + REDACTED if secret else match.group(0)


def _mapping(match: re.Match[str]) -> str:
    secret = _SECRET_OPTION.search(match.group("name").replace("-", "_"))
    return match.group("head") + REDACTED if secret else match.group(0)


def redact_text(text: str) -> str:
    """Free text (an error message, a log line, a command line, a diff) with every URI
    password, secret query parameter, secret assignment or mapping entry, private key
    block and known token shape replaced by ``***``."""
    text = _PRIVATE_KEY.sub(REDACTED, text)
    text = _MAPPING.sub(_mapping, _ASSIGNMENT.sub(_assignment, redact_uri(text)))
    return _TOKENS.sub(REDACTED, text)


def redact_env(env: Mapping[str, str]) -> dict[str, str]:
    """An environment snapshot: the value of a variable whose name says it holds a secret
    is hidden whole; every other value is redacted as text (URIs, tokens)."""
    return {k: REDACTED if is_secret_name(k) else redact_text(v) for k, v in env.items()}


def redact_tree(value: Any) -> Any:
    """A JSON-like value (dicts, lists, scalars) with every string in it redacted as
    text; keys and non-string leaves are kept."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: redact_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_tree(v) for v in value]
    return value


def redact_argv(argv: Sequence[str]) -> list[str]:
    """A command line with secret option values hidden: ``--api-key X``,
    ``--password=X``, ``db.password=X`` (a config override); ``-p X`` is left alone (too
    ambiguous); tokens and URIs anywhere."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next and not _is_option(arg):
            out.append(REDACTED)
            hide_next = False
            continue
        name, eq, _value = arg.partition("=")
        hide_next = False
        if _is_secret_option(name):
            out.append(f"{name}={REDACTED}" if eq else arg)
            hide_next = not eq and arg.startswith("-")
            continue
        out.append(redact_text(arg))
    return out


def _is_option(arg: str) -> bool:
    """``--name`` or ``-x``: what follows an option that takes no value."""
    return arg.startswith("--") or re.fullmatch(r"-[A-Za-z]", arg) is not None


def _is_secret_option(name: str) -> bool:
    """``--api-key``, ``--db-password``, or the last part of an override such as
    ``optimizer.api_key`` / ``+trainer.token``."""
    if name.startswith("-"):
        word = name.lstrip("-")
    elif re.fullmatch(r"[+~]{0,2}[A-Za-z_][\w.\-]*", name):
        word = name.lstrip("+~").rsplit(".", 1)[-1]
    else:
        return False
    return _SECRET_OPTION.search(word.replace("-", "_")) is not None
