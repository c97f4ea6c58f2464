"""Traces of LLM applications (docs/traces.md): OTLP decoding (otlp.py), the semantic
conventions Assay reads from span attributes (conventions.py) and what calls cost
(cost.py). Storage is ``store.traces``; the SDK's spans are sdk/traces.py."""
