"""Moving a project's data in and out of Assay (docs/migrate.md).

``export.py`` writes a project as open files (JSON Lines, Parquet, the artifacts' own
files); ``from_assay.py`` reads such a folder back into any store; ``runs.py`` writes one
run losslessly and idempotently, for every importer. ``bundle.py`` owns the folder's
layout.
"""

from assay.importers.bundle import Counts
from assay.importers.export import export_project
from assay.importers.from_assay import import_export

__all__ = ["Counts", "export_project", "import_export"]
