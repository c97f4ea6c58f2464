"""The Store's facets: one small protocol per area, reached as an attribute of a Store
(``store.runs``, ``store.blobs``, ``store.artifacts``, ``store.models``,
``store.evaluations``). Each facet has a file of the same name in every layer:
``store/sql/<facet>.py``, ``store/http/<facet>.py``, ``server/api/<facet>.py`` and
``tests/contract/test_<facet>.py``."""
