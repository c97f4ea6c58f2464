"""The HTTP API, one module per Store facet (store/facets/<facet>.py): runs.py, blobs.py,
artifacts.py, models.py, evaluations.py; common.py holds what they share (the caller,
request bodies, ``/whoami``). URLs are under ``/api/v1``."""
