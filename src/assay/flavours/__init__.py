"""Model flavours (how a model is saved, loaded and called), evaluation targets and batching.

Named apart from the public ``assay.models`` (the SDK's registry module,
``assay.sdk.models``), which a package of that name would replace on its first import.
Import from this package by submodule (``from assay.flavours.flavour import Flavour``).
"""
