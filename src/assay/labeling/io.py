"""Read labels from a CSV file or from a Label Studio JSON export.

CSV: every value is read as text (so ``01`` stays ``01`` and labels in the labels and
gold files compare equal); an empty cell is a missing value.

Label Studio (``Export > JSON``): a list of tasks; each task's ``annotations`` hold a
``result`` list whose ``choices`` entries carry the label (``value.choices``). The item is
the task ``id``, the worker is ``completed_by`` (a user id, or the user object's email
or id in exports that expand it). Cancelled (skipped) annotations are left out. When a
project asks several questions (several ``from_name`` controls), name the one to read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import InvalidInput
from assay.labeling.data import name_some

if TYPE_CHECKING:
    import pandas as pd

FORMATS = ("csv", "label-studio")


def detect_format(path: Path, given: str | None) -> str:
    if given:
        if given not in FORMATS:
            raise InvalidInput(f"unknown format {given!r}; choose one of {', '.join(FORMATS)}")
        return given
    return "label-studio" if path.suffix.lower() == ".json" else "csv"


def read_csv(path: str | Path) -> pd.DataFrame:
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError as exc:
        raise InvalidInput(f"{path}: the file is empty") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: not a readable CSV file ({exc})") from exc


def read_labels(
    path: str | Path, format: str | None = None, from_name: str | None = None
) -> pd.DataFrame:
    """A table of labels; Label Studio exports come back with item, worker, label columns."""
    path = Path(path)
    if detect_format(path, format) == "csv":
        return read_csv(path)
    return read_label_studio(path, from_name)


def read_label_studio(path: str | Path, from_name: str | None = None) -> pd.DataFrame:
    import pandas as pd

    path = Path(path)
    try:
        tasks = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InvalidInput(f"{path}: no such file") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: not a JSON file ({exc})") from exc
    if isinstance(tasks, dict):
        tasks = [tasks]
    if not isinstance(tasks, list):
        raise InvalidInput(f"{path}: expected a list of Label Studio tasks")
    rows = [row for task in tasks for row in _task_rows(task)]
    controls = sorted({row[3] for row in rows})
    if from_name is None and len(controls) > 1:
        raise InvalidInput(
            f"{path}: the export answers several questions ({name_some(controls)}); "
            "choose one with --from-name"
        )
    if from_name is not None:
        if from_name not in controls:
            found = name_some(controls) or "none"
            raise InvalidInput(f"{path}: no choices from {from_name!r} (found {found})")
        rows = [row for row in rows if row[3] == from_name]
    if not rows:
        raise InvalidInput(f"{path}: no task has a choices annotation")
    return pd.DataFrame([row[:3] for row in rows], columns=["item", "worker", "label"])


def _worker(annotation: dict[str, Any]) -> str:
    who = annotation.get("completed_by")
    if isinstance(who, dict):
        who = who.get("email") or who.get("id")
    if who is None or who == "":
        raise InvalidInput(f"annotation {annotation.get('id')!r} has no completed_by")
    return str(who)


def _task_rows(task: Any) -> list[tuple[str, str, str, str]]:
    if not isinstance(task, dict) or "id" not in task:
        raise InvalidInput("a Label Studio task without an id")
    rows = []
    for annotation in task.get("annotations") or []:
        if annotation.get("was_cancelled"):
            continue
        for region in annotation.get("result") or []:
            choices = (region.get("value") or {}).get("choices")
            if choices is None:
                continue
            if len(choices) != 1:
                raise InvalidInput(
                    f"task {task['id']!r}: an annotation picks {len(choices)} choices; "
                    "consensus needs exactly one label per annotation"
                )
            control = str(region.get("from_name", ""))
            rows.append((str(task["id"]), _worker(annotation), str(choices[0]), control))
    return rows
