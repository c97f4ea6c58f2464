"""What the demo's later steps share: their run settings, reading the logged split, and
the line that says which extra a step needs when it cannot run here."""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

import assay

if TYPE_CHECKING:
    import pandas as pd

PROJECT = "digits"


def quiet_settings() -> assay.Settings:
    """Short jobs: no console capture, no system metrics sampling."""
    return assay.Settings(capture_console=False, system_metrics_interval=0)


def missing_extra(extra: str, *modules: str) -> str | None:
    """None when every module imports here; else one line naming the extra to install."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if not missing:
        return None
    return (
        f"skipped: this step needs the {extra} extra (pip install 'assay[{extra}]'); "
        f"{', '.join(missing)} not installed"
    )


def read_part(run: assay.Run, dataset: str, part: str) -> pd.DataFrame:
    """One part (train, val, test) of the demo's logged split, recorded as used by ``run``."""
    import pandas as pd

    used = run.use_artifact(dataset)
    assert used is not None  # the demo's runs are never disabled
    return pd.read_csv(used.file(f"{part}.csv"))


def pixel_columns(frame: pd.DataFrame) -> list[str]:
    return [str(c) for c in frame.columns if str(c).startswith("pixel")]
