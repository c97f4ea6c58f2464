"""The parts of a project an export holds beyond its runs, artifacts, models and
evaluations: each module writes its files (``write``) and reads them back into a store
(``read``), checking what the target then holds against what was written."""
