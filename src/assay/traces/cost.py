"""What a model call cost, from a price table kept as data: the ``genai-prices`` package
(pydantic's maintained table of LLM prices, a snapshot inside each release). Each cost is
stored with the table it came from (``prices``), so a stored cost never changes when
prices do. Without the package (the ``traces`` extra), costs are left unknown."""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache, lru_cache
from typing import Any

# OpenTelemetry's gen_ai.provider.name values -> genai-prices provider ids, where they differ
_PROVIDERS = {
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "aws.bedrock": "aws",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "x_ai": "x-ai",
    "mistral_ai": "mistral",
}


@dataclass(frozen=True, kw_only=True)
class Price:
    cost: float  # in US dollars
    prices: str  # the table it came from, say "genai-prices 0.2.3"


@cache
def _table() -> tuple[Any, str] | None:
    try:
        import genai_prices
    except ImportError:
        return None
    return genai_prices, f"genai-prices {importlib.metadata.version('genai-prices')}"


def load() -> None:
    """Load the price table now (a server does at start) rather than on first use."""
    if _table() is not None:
        price(model="gpt-4o-mini", provider="openai", input_tokens=1, output_tokens=1)


# price fields a call's cost may use for the linear shortcut; any other (a per-request
# fee, audio tokens) sends the call through the table's own calculation
_LINEAR_FIELDS = frozenset(
    {
        "input_mtok",
        "output_mtok",
        "cache_read_mtok",
        "web_searches_kcount",
        "storage_searches_kcount",
    }
)


@lru_cache(maxsize=4096)
def _model_price(model: str, provider_id: str | None, day: date | None) -> Any:
    """The table's price entry of a model on a day (LookupError if it has none)."""
    module, _ = _table() or (None, "")
    assert module is not None
    when = datetime(day.year, day.month, day.day, 12, tzinfo=UTC) if day else None
    found = module.calc_price(
        module.Usage(input_tokens=1, output_tokens=1),
        model_ref=model,
        provider_id=provider_id,
        genai_request_timestamp=when,
    )
    return found.model_price


_DAY_NS = 86_400 * 10**9
_EPOCH = date(1970, 1, 1)


@lru_cache(maxsize=4096)
def _plan(model: str, provider: str | None, day: int | None) -> tuple[Any, Any] | None:
    """How a model's calls on a UTC day (days since 1970) are priced: its entry in the
    table and, when its prices are flat per token, those prices (else None); None when
    the table knows no such model. The entry is looked up under the provider's id
    first, then under any provider."""
    when = _EPOCH + timedelta(days=day) if day is not None else None
    providers = [_PROVIDERS.get(provider, provider), None] if provider else [None]
    for provider_id in providers:
        try:
            entry = _model_price(model, provider_id, when)
        except (LookupError, ValueError):
            continue
        return entry, _flat(entry)
    return None


def _flat(entry: Any) -> tuple[Decimal, Decimal, Decimal | None] | None:
    """An entry's prices per million input, output and cached input tokens when they are
    flat (no tiers, no other fees), else None."""
    fields = vars(entry)
    if not set(fields) <= _LINEAR_FIELDS:
        return None
    per_input, per_output = fields.get("input_mtok"), fields.get("output_mtok")
    per_cached = fields.get("cache_read_mtok")
    if not isinstance(per_input, Decimal) or not isinstance(per_output, Decimal):
        return None
    return per_input, per_output, per_cached if isinstance(per_cached, Decimal) else None


def _linear(
    rates: tuple[Decimal, Decimal, Decimal | None], given: int, made: int, cached: int
) -> float | None:
    """The cost at flat prices: uncached input, cached input and output, each at its
    price per million tokens (None when tokens were cached and there is no cached
    price). The table computes the same, much more slowly."""
    per_input, per_output, per_cached = rates
    if cached and per_cached is None:
        return None
    total = per_input * (given - cached) + per_output * made
    if cached and per_cached is not None:
        total += per_cached * cached
    return float(total / 1_000_000)


def price(
    *,
    model: str,
    provider: str | None,
    input_tokens: int | None,
    output_tokens: int | None,
    cache_read_tokens: int | None = None,
    at_ns: int | None = None,
) -> Price | None:
    """The cost of one call by the price table in force on the day of ``at_ns`` (the
    span's start), or None: no table installed, a model it does not know, or no token
    counts. How a model is priced is looked up once a day per model; flat prices are
    then applied here, tiered ones by the table's own calculation."""
    table = _table()
    if table is None or (input_tokens is None and output_tokens is None):
        return None
    plan = _plan(model, provider, at_ns // _DAY_NS if at_ns else None)
    if plan is None:
        return None
    module, version = table
    entry, rates = plan
    given, made, cached = input_tokens or 0, output_tokens or 0, cache_read_tokens or 0
    cost = _linear(rates, given, made, min(cached, given)) if rates is not None else None
    if cost is None:
        usage = module.Usage(
            input_tokens=given, output_tokens=made, cache_read_tokens=cache_read_tokens
        )
        cost = float(entry.calc_price(usage)["total_price"])
    return Price(cost=cost, prices=version)
