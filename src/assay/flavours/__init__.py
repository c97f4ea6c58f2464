"""Model flavours (how a model is saved, loaded and called), evaluation targets and batching.

The public ``assay.models`` name is the SDK's registry module (``assay.sdk.models``); import
from this package by submodule (``from assay.models.flavour import Flavour``).
"""
