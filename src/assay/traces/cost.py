"""What a model call cost, from a price table kept as data: the ``genai-prices`` package
(pydantic's maintained table of LLM prices, a snapshot inside each release). Each cost is
stored with the table it came from (``prices``), so a stored cost never changes when
prices do. Without the package (the ``traces`` extra), costs are left unknown."""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from datetime import UTC, date, datetime
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


def _linear(entry: Any, given: int, made: int, cached: int) -> float | None:
    """The cost when the entry's prices are flat per token (no tiers, no other fees):
    uncached input, cached input and output, each at its price per million tokens;
    None otherwise. The table computes the same, much more slowly."""
    fields = vars(entry)
    if not set(fields) <= _LINEAR_FIELDS:
        return None
    per_input, per_output = fields.get("input_mtok"), fields.get("output_mtok")
    per_cached = fields.get("cache_read_mtok")
    if not all(isinstance(p, Decimal) for p in (per_input, per_output)):
        return None
    if cached and not isinstance(per_cached, Decimal):
        return None
    total = per_input * (given - cached) + per_output * made
    if cached:
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
    counts. The model's entry is looked up once a day per model; flat prices are then
    applied here, tiered ones by the table's own calculation."""
    table = _table()
    if table is None or (input_tokens is None and output_tokens is None):
        return None
    module, version = table
    given, made, cached = input_tokens or 0, output_tokens or 0, cache_read_tokens or 0
    day = datetime.fromtimestamp(at_ns / 1e9, UTC).date() if at_ns else None
    providers = [_PROVIDERS.get(provider, provider), None] if provider else [None]
    for provider_id in providers:
        try:
            entry = _model_price(model, provider_id, day)
        except (LookupError, ValueError):
            continue
        cost = _linear(entry, given, made, min(cached, given))
        if cost is None:
            usage = module.Usage(
                input_tokens=given, output_tokens=made, cache_read_tokens=cache_read_tokens
            )
            cost = float(entry.calc_price(usage)["total_price"])
        return Price(cost=cost, prices=version)
    return None
