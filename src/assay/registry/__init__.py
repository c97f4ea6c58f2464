"""The model registry: registered models, versions, aliases, and loading by flavour."""
