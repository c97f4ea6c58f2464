"""The ``assay`` command line. Each area adds its group to ``main.COMMANDS``."""
