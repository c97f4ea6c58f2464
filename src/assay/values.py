"""What may be logged: metric keys and values, and config trees.

The rules (documented in docs/tracking.md):

* A metric key is a non-empty ``str`` of at most ``MAX_KEY_LENGTH`` characters, with no
  control characters; ``/`` separates namespaces (``train/loss``).
* A metric value is an ``int``, ``float`` or ``bool``, a numpy scalar, or a 0-d array or
  tensor (anything with ``.item()`` and zero dimensions: numpy, torch, jax). It is stored
  as a float64; NaN and infinities are kept as such.
* A config is a tree of dicts with string keys whose leaves are ``None``, ``bool``,
  ``int``, ``float``, ``str``, or lists/tuples of those. On the way in, numpy scalars
  become Python numbers, numpy arrays lists, ``Path`` its string, ``Enum`` its value,
  dataclasses and pydantic models a dict of their fields; subclasses of ``int``, ``float``
  and ``str`` (``np.float64``, ``IntEnum``...) become the exact builtin. Anything else is
  refused with the dotted path of the offending value, and so are strings holding a NUL
  character or a lone surrogate and integers outside the 64-bit range: what is accepted
  here can always be journaled and stored.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import re
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any, cast

from assay.errors import InvalidInput

DEFAULT_PROJECT = "default"  # where runs and evaluations go when no project is named
MAX_KEY_LENGTH = 256
MAX_NAME_LENGTH = 256
_BAD_KEY = re.compile(r"[\x00-\x1f\x7f]")
_PROJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


def check_project(name: object) -> str:
    if not isinstance(name, str) or not _PROJECT.match(name):
        raise InvalidInput(
            f"project name {name!r} must be 1-128 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit"
        )
    return name


def check_text(
    what: str, value: object, limit: int = MAX_NAME_LENGTH, single_line: bool = False
) -> str | None:
    """None, or a non-empty string of at most ``limit`` characters without NUL (no control
    character at all when ``single_line``)."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise InvalidInput(
            f"{what} {value!r:.80} must be a non-empty string of at most {limit} characters"
        )
    if single_line and _BAD_KEY.search(value):
        raise InvalidInput(f"{what} {value!r:.80} contains a control character")
    return check_string(what, value)


def check_string(what: str, value: str) -> str:
    """``value`` as an exact ``str``, or InvalidInput naming ``what``: a NUL character or a
    lone surrogate cannot be stored (PostgreSQL refuses NUL, UTF-8 has no surrogates)."""
    if "\x00" in value:
        raise InvalidInput(f"{what} {value!r:.80} contains a NUL character")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput(
                f"{what} {value!r:.80} is not valid Unicode (it holds a lone surrogate)"
            ) from None
    return value if type(value) is str else str.__str__(value)


def check_tags(tags: object) -> list[str]:
    if isinstance(tags, str) or not isinstance(tags, list | tuple | set | frozenset):
        raise InvalidInput(f"tags must be a list of strings, not {type(tags).__name__}")
    for tag in tags:
        if not isinstance(tag, str) or not tag or len(tag) > MAX_NAME_LENGTH:
            raise InvalidInput(f"tag {tag!r} must be a non-empty string of at most 256 characters")
        if _BAD_KEY.search(tag):
            raise InvalidInput(f"tag {tag!r} contains a control character")
        check_string("tag", tag)
    return list(dict.fromkeys(str.__str__(tag) for tag in tags))


def check_key(key: object) -> str:
    """Return ``key`` if it is a valid metric key, else raise InvalidInput naming it."""
    if not isinstance(key, str):
        raise InvalidInput(f"metric key {key!r} must be a string, not {type(key).__name__}")
    if not key:
        raise InvalidInput("metric key must not be empty")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(f"metric key {key[:40]!r}... is longer than {MAX_KEY_LENGTH} characters")
    if _BAD_KEY.search(key):
        raise InvalidInput(f"metric key {key!r} contains a control character")
    if key.startswith("/") or key.endswith("/") or "//" in key:
        raise InvalidInput(f"metric key {key!r} has an empty namespace part")
    return check_string("metric key", key)


def to_number(key: str, value: object) -> float | int:
    """Convert a loggable value to a Python number, or raise InvalidInput naming ``key``.

    Works without importing numpy, torch or jax: it relies on ``.item()`` and ``.ndim``/
    ``.shape``, which their scalars and 0-d arrays all have.
    """
    if isinstance(value, bool | int | float):
        return value
    item = getattr(value, "item", None)
    if item is not None and not isinstance(value, str | bytes):
        shape = getattr(value, "shape", ())
        if tuple(shape) not in ((), (1,)):
            raise InvalidInput(
                f"metric {key!r} must be a scalar; got {type(value).__name__} "
                f"of shape {tuple(shape)} (wrap an array in assay.Image or assay.Histogram)"
            )
        number = item()
        if isinstance(number, bool | int | float):
            return number
    raise InvalidInput(
        f"metric {key!r} must be a number or a rich value (assay.Image, Table, Histogram, "
        f"Plot, Audio, Text, Html, Video), not {type(value).__name__}: {value!r:.60}"
    )


INT_RANGE = (-(2**63), 2**64 - 1)  # what msgpack (the journal's format) can carry


def finite(value: Any) -> Any:
    """``value`` with every NaN and infinity in it (at any depth of dicts and lists) as
    None, as JSON has neither; the same object when it holds none."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def json_text(value: Any) -> str:
    """``value`` as JSON text, NaN and infinities as null (what the SQL stores write into
    their JSON columns: PostgreSQL refuses NaN, and SQLite would keep text no JSON reader
    takes)."""
    try:
        return json.dumps(value, allow_nan=False)
    except ValueError:
        return json.dumps(finite(value), allow_nan=False)


def normalise_config(value: object, path: str = "config") -> Any:
    """Return a JSON-ready copy of a config tree, or raise InvalidInput naming the path.

    Every leaf of the copy is an exact builtin (``None``, ``bool``, ``int``, ``float``,
    ``str``), so the copy can always be journaled and stored."""
    kind = type(value)
    if value is None or kind is bool:
        return value
    if kind is int:
        return _check_int(cast(int, value), path)
    if kind is float:
        number = cast(float, value)
        return number if math.isfinite(number) else str(number)
    if kind is str:
        return check_string(path, cast(str, value))
    if isinstance(value, Mapping):
        return _normalise_mapping(value, path)
    if kind is list or kind is tuple:
        items = cast("list[Any] | tuple[Any, ...]", value)
        return [normalise_config(v, f"{path}[{i}]") for i, v in enumerate(items)]
    return _convert_rich(value, path)


def _normalise_mapping(value: Mapping[Any, Any], path: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in value.items():
        if not isinstance(k, str) or not k:
            raise InvalidInput(f"{path}: key {k!r} must be a non-empty string")
        if "." in k:
            raise InvalidInput(f"{path}.{k}: keys may not contain '.' (it separates paths)")
        if _BAD_KEY.search(k):
            raise InvalidInput(f"{path}: key {k!r} contains a control character")
        key = check_string(f"{path}: key", k)
        out[key] = normalise_config(v, f"{path}.{key}")
    return out


def _check_int(value: int, path: str) -> int:
    if not INT_RANGE[0] <= value <= INT_RANGE[1]:
        raise InvalidInput(f"{path}: the integer {value} is outside the 64-bit range")
    return value


def _convert_rich(value: object, path: str) -> Any:
    if isinstance(value, enum.Enum):
        return normalise_config(value.value, path)
    if isinstance(value, int):  # IntFlag members and other int subclasses
        return _check_int(int(value), path)
    if isinstance(value, float):  # np.float64 and other float subclasses
        return normalise_config(float(value), path)
    if isinstance(value, str):  # np.str_ and other str subclasses
        return check_string(path, str.__str__(value))
    if isinstance(value, list | tuple):
        return normalise_config(list(value), path)
    if isinstance(value, PurePath):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return normalise_config(fields, path)
    model_dump = getattr(value, "model_dump", None)  # pydantic v2
    if callable(model_dump):
        return normalise_config(model_dump(mode="json"), path)
    tolist = getattr(value, "tolist", None)  # numpy scalars and arrays
    if callable(tolist) and type(value).__module__.startswith("numpy"):
        return normalise_config(tolist(), path)
    raise InvalidInput(f"{path}: cannot store a {type(value).__name__} in a config ({value!r:.60})")


def dotted(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten a nested config to ``{"model.depth": 3, ...}``."""
    flat: dict[str, Any] = {}
    for k, v in tree.items():
        name = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            flat.update(dotted(v, name + "."))
        else:
            flat[name] = v
    return flat


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
_ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,63}$")
_VERSION = re.compile(r"^v\d+$")
RESERVED_ALIASES = frozenset({"latest"})  # moved by Assay itself


def check_name(what: str, name: object) -> str:
    """An artifact, artifact type or registered-model name."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInput(
            f"{what} {name!r} must be 1-128 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit"
        )
    return name


def check_alias(alias: object, *, user: bool = True) -> str:
    """An alias such as ``production``: not a version (``v3``) and, when a user sets it,
    not one Assay moves itself (``latest``)."""
    if not isinstance(alias, str) or not _ALIAS.match(alias) or _VERSION.match(alias):
        raise InvalidInput(
            f"alias {alias!r} must be 1-64 letters, digits, '_', '-' or '.', starting with a "
            "letter, and must not look like a version (v3)"
        )
    if user and alias in RESERVED_ALIASES:
        raise InvalidInput(f"alias {alias!r} is moved by Assay itself and cannot be set")
    return alias


def artifact_path(path: object) -> str:
    """A file's path inside an artifact, normalised to ``a/b/c`` (POSIX separators, no
    ``.`` parts). Absolute paths, ``..``, empty parts and control characters are refused:
    no path may escape the folder an artifact is downloaded into."""
    if not isinstance(path, str) or not path:
        raise InvalidInput(f"artifact path {path!r} must be a non-empty string")
    text = path.replace("\\", "/")
    if text.startswith("/") or re.match(r"^[A-Za-z]:", text):
        raise InvalidInput(f"artifact path {path!r} is absolute; give a path inside the artifact")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise InvalidInput(f"artifact path {path!r} escapes the artifact (contains '..')")
    if _BAD_KEY.search(text) or len(text) > 1024:
        raise InvalidInput(f"artifact path {path!r:.80} has control characters or is too long")
    return "/".join(parts)


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def scrub_text(text: str) -> str:
    """Text Assay captured itself (console output, tracebacks, host facts), made storable:
    NUL characters and lone surrogates become U+FFFD instead of being refused."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    if not text.isascii():
        text = _SURROGATE.sub("\ufffd", text)
    return text
