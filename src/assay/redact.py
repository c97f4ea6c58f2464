"""Keeping secrets out of what Assay shows or stores: URIs, free text, argv, names.

One place decides what a secret looks like, so the server's pages and logs, the CLI and
the SDK's captured run metadata all hide the same things:

* the password of a URI's user info (``postgresql://me:pw@db/x`` → ``postgresql://me:***@db/x``),
  wherever such a URI stands in a text;
* values that have the shape of a known token (Assay API keys, OpenAI/Anthropic, GitHub,
  Hugging Face, Slack, AWS access key ids, Google API keys, JWTs, bearer tokens);
* the value of a name that says it holds a secret (``*KEY*``, ``*TOKEN*``, ``*SECRET*``,
  ``*PASSWORD*``...), in an environment snapshot or as a ``--api-key=...`` argument.

Written by hand: the rules are short, and no maintained library covers URIs, token shapes
and argv together.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

REDACTED = "***"
SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH")
# an option whose value is a secret: --api-key, --token, --db-password, --secret-key...
_SECRET_OPTION = re.compile(
    r"(?:^|_)(?:api_?key|key|token|secret|password|passwd|pass|credentials?|auth|access_key"
    r"|secret_key|private_key)$",
    re.IGNORECASE,
)

# scheme://user:password@host  (the password may hold anything but '@', '/' and spaces)
_URI_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@]*:)(?P<pw>[^\s@/]+)@")
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
)


def is_secret_name(name: str) -> bool:
    """True when a variable or option name says that its value is a secret."""
    upper = name.upper()
    return any(word in upper for word in SECRET_WORDS)


def redact_uri(uri: str) -> str:
    """A URI with the password of its user info replaced by ``***``."""
    return _URI_PASSWORD.sub(lambda m: m.group("head") + REDACTED + "@", uri)


def redact_text(text: str) -> str:
    """Free text (an error message, a log line, a command line) with every URI password
    and every known token shape replaced by ``***``."""
    return _TOKENS.sub(REDACTED, redact_uri(text))


def redact_argv(argv: Sequence[str]) -> list[str]:
    """A command line with secret option values hidden: ``--api-key X``,
    ``--password=X``, ``-p X`` is left alone (too ambiguous), tokens and URIs anywhere."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        name, eq, _value = arg.partition("=")
        if arg.startswith("-") and _SECRET_OPTION.search(name.lstrip("-").replace("-", "_")):
            if eq:
                out.append(f"{name}={REDACTED}")
            else:
                out.append(arg)
                hide_next = True
            continue
        out.append(redact_text(arg))
    return out
