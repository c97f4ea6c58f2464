"""The Store contract, one file per facet (store/facets/<facet>.py): every test runs
against every backend (the ``store`` fixture of tests/conftest.py)."""
