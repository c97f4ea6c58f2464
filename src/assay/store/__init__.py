"""Persistence: the one ``Store`` protocol and the function that opens one from a URI."""

from assay.store.base import Store, open_store, resolve_uri

__all__ = ["Store", "open_store", "resolve_uri"]
