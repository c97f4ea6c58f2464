"""The one exception tree of Assay.

::

    AssayError
    ├── InvalidInput          bad input from the caller; names what was wrong
    │   ├── FilterSyntaxError a filter expression that does not parse; carries the position
    │   └── LimitExceeded     a request over a size limit; names the limit
    ├── Unauthorized          no credentials, or credentials that are not valid
    ├── Forbidden             valid credentials without the role the action needs
    ├── NotFound              a project, run or key that does not exist
    ├── Conflict              a write that contradicts what is stored
    ├── StoreUnavailable      the store cannot be reached (an outage: retried)
    ├── StoreUnusable         the store answers but cannot be used as given (not retried)
    ├── SchemaMismatch        the store's schema is newer (or older) than this Assay knows
    ├── MissingExtra          a feature needs an optional extra that is not installed
    └── JournalCorrupt        a journal record failed its checksum

Third-party errors (SQLAlchemy, OS errors) are translated at the boundary and
chained with ``raise ... from exc``.

Each class carries the ``code`` and HTTP ``status`` it travels as between a server and
its clients (``{"error": {"code": ..., "message": ...}}``); the server's table of statuses
and the client's table of codes are both derived from them (``by_code``).
"""

from __future__ import annotations

from typing import ClassVar


class AssayError(Exception):
    """Base class of every error Assay raises on purpose."""

    code: ClassVar[str] = "error"
    status: ClassVar[int] = 500


class InvalidInput(AssayError, ValueError):
    """The caller passed something Assay cannot accept; the message names it."""

    code = "invalid_input"
    status = 400


class FilterSyntaxError(InvalidInput):
    """A filter expression that does not parse or names an unknown field."""

    code = "bad_filter"
    status = 400

    def __init__(self, message: str, expression: str, position: int) -> None:
        self.reason = message
        self.expression = expression
        self.position = position
        pointer = " " * position + "^"
        super().__init__(f"{message} at position {position}:\n  {expression}\n  {pointer}")


class LimitExceeded(InvalidInput):
    """A request over a size limit (body bytes, points in a batch, name lengths)."""

    code = "limit_exceeded"
    status = 413


class Unauthorized(AssayError):
    """No API key, or one that is unknown or revoked."""

    code = "unauthorized"
    status = 401


class Forbidden(AssayError):
    """The key is valid, but its user lacks the role this action needs."""

    code = "forbidden"
    status = 403


class NotFound(AssayError, LookupError):
    """The thing asked for does not exist."""

    code = "not_found"
    status = 404


class Conflict(AssayError):
    """The write contradicts what is already stored."""

    code = "conflict"
    status = 409


class StoreUnavailable(AssayError):
    """The store cannot be reached, or failed while answering."""

    code = "store_unavailable"
    status = 503


class StoreUnusable(AssayError):
    """The store was reached but cannot be used as given: a wrong database password, a
    file that is not a store, a folder without permission. Retrying will not help."""

    code = "store_unusable"
    status = 503


class SchemaMismatch(AssayError):
    """The store was written by a different schema version than this Assay knows."""

    code = "schema_mismatch"
    status = 503


class CorruptData(AssayError):
    """Stored bytes no longer match their digest (a damaged blob or downloaded file)."""

    code = "corrupt_data"
    status = 500


class MissingExtra(AssayError, ImportError):
    """A feature needs a package of an optional extra that is not installed; the message
    names the extra to install (``pip install 'assay[tables]'``)."""

    code = "missing_extra"
    status = 500


class JournalCorrupt(AssayError):
    """A journal record is damaged (bad checksum or impossible length)."""

    code = "journal_corrupt"
    status = 500


class EvaluationFailed(AssayError):
    """An evaluation could not produce a report (say, the model raised on every item)."""

    code = "evaluation_failed"
    status = 500


class ImportIncomplete(AssayError):
    """An import or export did not carry everything: what could be read was written (each
    run whole), and the message lists what was not, or what differs after the check."""

    code = "import_incomplete"
    status = 500


def by_code(code: str) -> type[AssayError] | None:
    """The error class that travels as ``code``, if any."""
    pending: list[type[AssayError]] = [AssayError]
    while pending:
        kind = pending.pop()
        if kind.code == code:
            return kind
        pending.extend(kind.__subclasses__())
    return None
