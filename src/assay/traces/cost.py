"""What a model call cost, from a price table kept as data: the ``genai-prices`` package
(pydantic's maintained table of LLM prices, a snapshot inside each release). Each cost is
stored with the table it came from (``prices``), so a stored cost never changes when
prices do. Without the package (the ``traces`` extra), costs are left unknown."""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
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


def price(
    *,
    model: str,
    provider: str | None,
    input_tokens: int | None,
    output_tokens: int | None,
    cache_read_tokens: int | None = None,
    at_ns: int | None = None,
) -> Price | None:
    """The cost of one call by the price table in force at ``at_ns`` (the span's start),
    or None: no table installed, a model it does not know, or no token counts."""
    table = _table()
    if table is None or (input_tokens is None and output_tokens is None):
        return None
    module, version = table
    usage = module.Usage(
        input_tokens=input_tokens or 0,
        output_tokens=output_tokens or 0,
        cache_read_tokens=cache_read_tokens,
    )
    when = datetime.fromtimestamp(at_ns / 1e9, UTC) if at_ns else None
    providers = [_PROVIDERS.get(provider, provider), None] if provider else [None]
    for provider_id in providers:
        try:
            found = module.calc_price(
                usage, model_ref=model, provider_id=provider_id, genai_request_timestamp=when
            )
        except (LookupError, ValueError):
            continue
        return Price(cost=float(found.total_price), prices=version)
    return None
