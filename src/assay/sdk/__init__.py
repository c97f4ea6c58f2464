"""What runs in the user's process: the Run, its background writer and journal."""

from assay.sdk import progress as _progress

_progress.install()  # transfers and evaluations show rich bars on a terminal
