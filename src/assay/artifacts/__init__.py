"""Artifacts: immutable, content-addressed versions of datasets and models, with lineage."""
