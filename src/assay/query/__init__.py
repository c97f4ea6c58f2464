"""The run filter language: parsed here, translated to SQL by the store."""

from assay.query.filter import Expr, parse_filter, parse_order

__all__ = ["Expr", "parse_filter", "parse_order"]
