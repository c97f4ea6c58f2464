"""A sweep's search space and settings, read from a mapping (a sweep file's YAML), each
mistake an InvalidInput naming its path (``parameters.lr.min``)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from assay.errors import InvalidInput
from assay.records import SWEEP_METHODS

GOALS = ("minimize", "maximize")
PRUNERS = ("median", "percentile")
MAX_GRID = 100_000
_SCALAR = (bool, int, float, str, type(None))


@dataclass(frozen=True, kw_only=True)
class Param:
    """One parameter: ``values`` (a choice; a grid walks them), ``value`` (fixed), or a
    range ``min``..``max`` (int when both bounds are, ``log`` for a log scale)."""

    name: str
    values: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    integer: bool = False
    log: bool = False

    @property
    def is_range(self) -> bool:
        return self.low is not None


@dataclass(frozen=True, kw_only=True)
class Pruner:
    kind: str  # median or percentile
    min_steps: int = 0  # steps a trial reports before it may be stopped
    warmup_trials: int = 3  # complete trials before any is stopped
    percentile: float = 50.0


@dataclass(frozen=True, kw_only=True)
class SweepSpec:
    method: str
    metric: str
    goal: str
    parameters: tuple[Param, ...]
    seed: int = 0
    run_cap: int | None = None
    pruner: Pruner | None = None

    def grid(self) -> list[dict[str, Any]]:
        """Every point of the grid, in a fixed order (trial n runs point n)."""
        axes = [_grid_axis(p) for p in self.parameters]
        return [
            dict(zip([p.name for p in self.parameters], point, strict=True))
            for point in itertools.product(*axes)
        ]

    def max_trials(self) -> int | None:
        """How many trials the sweep may hold: the grid's size and the run cap, whichever
        is smaller (None: no end, an agent's --count ends it)."""
        bounds = [self.run_cap] if self.run_cap is not None else []
        if self.method == "grid":
            bounds.append(math.prod(len(_grid_axis(p)) for p in self.parameters))
        return min(bounds) if bounds else None


def _grid_axis(param: Param) -> tuple[Any, ...]:
    if not param.is_range:
        return param.values
    assert param.low is not None and param.high is not None
    if not param.integer:
        raise InvalidInput(
            f"parameters.{param.name}: a grid needs values (or an int range), not a float range"
        )
    return tuple(range(int(param.low), int(param.high) + 1))


def parse_spec(data: Mapping[str, Any]) -> SweepSpec:
    """The spec of a sweep file: ``method``, ``metric`` ({name, goal}), ``parameters``,
    and optionally ``seed``, ``run_cap`` and ``early_terminate`` ({type, min_steps,
    warmup_trials, percentile})."""
    if not isinstance(data, Mapping):
        raise InvalidInput(f"a sweep is a mapping, not {type(data).__name__}")
    known = {
        "method",
        "metric",
        "parameters",
        "seed",
        "run_cap",
        "early_terminate",
        "name",
        "project",
    }
    unknown = sorted(set(data) - known)
    if unknown:
        names, allowed = ", ".join(map(str, unknown)), ", ".join(sorted(known))
        raise InvalidInput(f"unknown sweep field(s) {names} (known: {allowed})")
    method = data.get("method", "random")
    if method not in SWEEP_METHODS:
        raise InvalidInput(f"method {method!r} is not one of {', '.join(SWEEP_METHODS)}")
    metric, goal = _metric(data.get("metric"))
    spec = SweepSpec(
        method=method,
        metric=metric,
        goal=goal,
        parameters=_parameters(data.get("parameters")),
        seed=_whole("seed", data.get("seed", 0), 0),
        run_cap=None if data.get("run_cap") is None else _whole("run_cap", data["run_cap"], 1),
        pruner=_pruner(data.get("early_terminate")),
    )
    if method == "grid":
        size = math.prod(len(_grid_axis(p)) for p in spec.parameters)
        if size > MAX_GRID:
            raise InvalidInput(
                f"the grid has {size} points, more than {MAX_GRID}: use random or tpe"
            )
    return spec


def _whole(path: str, value: Any, least: int) -> int:
    if type(value) is not int or value < least:
        raise InvalidInput(f"{path} must be a whole number >= {least}, not {value!r}")
    return value


def _metric(metric: Any) -> tuple[str, str]:
    if isinstance(metric, str):
        metric = {"name": metric}
    if (
        not isinstance(metric, Mapping)
        or not isinstance(metric.get("name"), str)
        or not metric["name"]
    ):
        raise InvalidInput(
            "metric must name the logged key to optimise: metric: {name: val/loss, goal: minimize}"
        )
    goal = metric.get("goal", "minimize")
    if goal not in GOALS:
        raise InvalidInput(f"metric.goal {goal!r} is not one of {', '.join(GOALS)}")
    return metric["name"], goal


def _parameters(params: Any) -> tuple[Param, ...]:
    if not isinstance(params, Mapping) or not params:
        raise InvalidInput("parameters must map each parameter's name to its values or range")
    return tuple(_param(str(name), body) for name, body in params.items())


def _param(name: str, body: Any) -> Param:
    path = f"parameters.{name}"
    if not name or any(not part for part in name.split(".")):
        raise InvalidInput(
            f"{path}: a parameter name is non-empty, dots separating non-empty parts"
        )
    if not isinstance(body, Mapping):
        return Param(name=name, values=(_scalar(path, body),))
    if "value" in body:
        return Param(name=name, values=(_scalar(f"{path}.value", body["value"]),))
    if "values" in body:
        values = body["values"]
        if not isinstance(values, list | tuple) or not values:
            raise InvalidInput(f"{path}.values must be a non-empty list")
        return Param(name=name, values=tuple(_scalar(f"{path}.values", v) for v in values))
    if "min" in body and "max" in body:
        return _range(path, name, body)
    raise InvalidInput(f"{path} needs values: [...], value: x, or min and max")


def _scalar(path: str, value: Any) -> Any:
    if not isinstance(value, _SCALAR) or (isinstance(value, float) and not math.isfinite(value)):
        raise InvalidInput(f"{path}: {value!r} is not a number, a string, a bool or null")
    return value


def _range(path: str, name: str, body: Mapping[str, Any]) -> Param:
    low, high = body["min"], body["max"]
    for bound, value in (("min", low), ("max", high)):
        if type(value) not in (int, float) or not math.isfinite(value):
            raise InvalidInput(f"{path}.{bound} must be a finite number, not {value!r}")
    if low > high:
        raise InvalidInput(f"{path}: min {low} is above max {high}")
    distribution = body.get("distribution", "")
    log = bool(body.get("log", False)) or distribution in (
        "log_uniform",
        "log_uniform_values",
        "int_log_uniform",
    )
    integer = body.get("type") == "int" or (
        type(low) is int and type(high) is int and body.get("type") != "float"
    )
    if log and low <= 0:
        raise InvalidInput(f"{path}: a log scale needs min > 0, not {low}")
    return Param(name=name, low=float(low), high=float(high), integer=integer, log=log)


def _pruner(body: Any) -> Pruner | None:
    if body is None:
        return None
    if not isinstance(body, Mapping) or body.get("type") not in PRUNERS:
        raise InvalidInput(f"early_terminate.type must be one of {', '.join(PRUNERS)}")
    percentile = body.get("percentile", 50.0)
    if type(percentile) not in (int, float) or not 0 <= percentile <= 100:
        raise InvalidInput(f"early_terminate.percentile must be 0..100, not {percentile!r}")
    return Pruner(
        kind=body["type"],
        min_steps=_whole("early_terminate.min_steps", body.get("min_steps", 0), 0),
        warmup_trials=_whole("early_terminate.warmup_trials", body.get("warmup_trials", 3), 0),
        percentile=float(percentile),
    )
