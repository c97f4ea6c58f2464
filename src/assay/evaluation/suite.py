"""Suite files: an evaluation written down in YAML, so CI can run it.

    name: digits-regression
    project: digits
    data: digits-split:latest/test.csv    # an artifact (with its file), or a path beside this
    label_column: label
    id_column: id
    slices: [label]
    scorers: [accuracy, {f1: {average: macro}}, {python: "checks.scorers:is_digit"}]
    tolerance: {accuracy: 0.01, f1: 0.02}
    baseline: models:/digits-classifier@production
    model: models:/digits-classifier@candidate   # or give --model

A model or baseline may also be ``python:package.module:function``.
"""

from __future__ import annotations

import importlib
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.errors import InvalidInput

KEYS: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "project": str,
    "data": str,
    "model": str,
    "baseline": str,
    "label_column": str,
    "id_column": str,
    "cluster_column": str,
    "slices": list,
    "scorers": list,
    "tolerance": dict,
    "repeats": int,
    "workers": int,
    "timeout": (int, float),
    "max_errors": (int, float),
    "level": (int, float),
    "bootstrap": int,
    "seed": int,
    "trusted": list,
}


@dataclass(frozen=True, kw_only=True)
class Suite:
    path: Path
    name: str
    data: Any
    scorers: list[Any]
    options: dict[str, Any] = field(default_factory=dict)  # keyword arguments of evaluate
    model: str | None = None
    baseline: str | None = None


def load(path: str | Path) -> Suite:
    import yaml

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"suite {path} cannot be read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise InvalidInput(f"suite {path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise InvalidInput(f"suite {path} must be a mapping of settings")
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        raise InvalidInput(
            f"suite {path}: unknown setting {unknown[0]!r}; known: {', '.join(sorted(KEYS))}"
        )
    for key, kind in KEYS.items():
        if raw.get(key) is not None and not isinstance(raw[key], kind):
            raise InvalidInput(f"suite {path}: {key!r} has the wrong type ({raw[key]!r})")
    for key in ("data", "scorers"):
        if not raw.get(key):
            raise InvalidInput(f"suite {path}: {key!r} is required")
    data = raw["data"]
    beside = path.parent / data
    if beside.is_file():
        data = str(beside)
    options = {
        k: v for k, v in raw.items() if k not in ("name", "data", "scorers", "model", "baseline")
    }
    return Suite(
        path=path,
        name=raw.get("name") or path.stem,
        data=data,
        scorers=list(raw["scorers"]),
        options=options,
        model=raw.get("model"),
        baseline=raw.get("baseline"),
    )


def python_object(spec: str, base: Path) -> Any:
    """``python:package.module:function`` -> the function (the suite's folder is importable)."""
    module, _, attr = spec.removeprefix("python:").partition(":")
    if not module or not attr:
        raise InvalidInput(f"{spec!r}: write a Python model as python:package.module:function")
    if str(base) not in sys.path:
        sys.path.insert(0, str(base))
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise InvalidInput(f"{spec!r} could not be imported: {exc}") from None


def model_of(spec: str | None, base: Path) -> Any:
    if spec is None:
        return None
    return python_object(spec, base) if spec.startswith("python:") else spec


def _detail(check: dict[str, Any], config: dict[str, Any]) -> str:
    """diff, the interval at the report's level (and the Holm-adjusted one the gate used,
    when it differs), the tolerance and p."""
    from assay.evaluation.report import p_text, percent

    level = float(check.get("level") or config.get("level") or 0.95)
    text = f"diff {check['diff']} ({percent(level)} CI {check['low']} to {check['high']}"
    held = check.get("gate_level")
    if held is not None and abs(held - level) > 1e-12:
        text += (
            f"; Holm-adjusted {percent(held)} CI {check.get('gate_low')} to "
            f"{check.get('gate_high')}"
        )
    p = p_text(check["p_value"], str(check.get("test", "")), config.get("bootstrap"))
    return f"{text}), tolerance {check['tolerance']}, p {p}"


def junit(report: dict[str, Any]) -> bytes:
    """The gate as JUnit XML: a test case per gated check (failed, skipped when
    inconclusive) and one for the model's errors."""
    name = str(report.get("name", "assay-eval"))
    gated = [c for c in report.get("compare", []) if c.get("gated")]
    suite = ET.Element("testsuite", name=name)
    failures = skipped = 0
    for check in gated:
        where = check["metric"] + (f" [{check['slice']}]" if check.get("slice") else "")
        case = ET.SubElement(suite, "testcase", classname=name, name=where)
        detail = _detail(check, report.get("config") or {})
        if check["decision"] == "fail":
            failures += 1
            ET.SubElement(case, "failure", message=f"regression: {detail}")
        elif check["decision"] == "inconclusive":
            skipped += 1
            ET.SubElement(case, "skipped", message=f"inconclusive: {detail}")
    errors = report.get("errors", {})
    case = ET.SubElement(suite, "testcase", classname=name, name="model errors")
    if errors.get("count") and not errors.get("within_limit"):
        failures += 1
        first = errors["examples"][0]
        message = f"{errors['count']} calls raised; item {first['item_id']}: {first['error']}"
        ET.SubElement(case, "failure", message=message)
    suite.set("tests", str(len(gated) + 1))
    suite.set("failures", str(failures))
    suite.set("skipped", str(skipped))
    verdict = report.get("verdict", {})
    ET.SubElement(suite, "system-out").text = f"{verdict.get('status')}: {verdict.get('reason')}"
    text: bytes = ET.tostring(suite, encoding="utf-8", xml_declaration=True)
    return text
