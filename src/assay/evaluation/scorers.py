"""``assay.scorers``: what an evaluation measures.

Two kinds. An *item* scorer gives each item a number (or pass/fail) and the metric is their
mean: accuracy, exact match, regex, MAE, custom functions, an LLM judge. A *corpus* scorer
is only defined over a set of items: F1, ROC AUC, RMSE, R2; its interval comes from the
bootstrap. Scorers read the ground truth from the label column (``reference=`` names
another) and the model's output; an output that is a dict with ``prediction`` /
``probabilities`` keys (what registered classifiers return) is read through those keys.

    assay.evaluate(model, data, scorers=["accuracy", assay.scorers.f1(average="macro"),
                                         assay.scorers.regex(r"^\\d+$"), my_scorer])

A custom scorer is any function ``(item, output) -> float | bool``; ``item`` has every
column, the label included.
"""

from __future__ import annotations

import importlib
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from assay.errors import InvalidInput
from assay.plugins import Registry

Item = Mapping[str, Any]


@dataclass(frozen=True)
class Scored:
    """An item score with what produced it (an LLM judge's prompt and reply)."""

    value: float | bool | None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ItemScorer:
    name: str
    fn: Callable[[Item, Any, Any], float | bool | Scored | None]  # (item, output, reference)
    higher_is_better: bool = True
    reference: str | None = None  # column of the ground truth; None: the label column
    needs_reference: bool = False
    slow: bool = False  # each call waits on something (a judge): score items in parallel
    kind: str = "item"

    def score(self, item: Item, output: Any, label_column: str | None) -> Scored:
        ref = reference_of(self, item, label_column) if self.needs_reference else None
        result = self.fn(item, output, ref)
        if isinstance(result, Scored):
            return result
        return Scored(None if result is None else _number(result, self.name))


@dataclass(frozen=True, kw_only=True)
class CorpusScorer:
    """A metric over a set of items. When it is a function of sums over rows, ``vectors``
    gives each row's contribution and ``combine`` the metric of (many) column sums, which
    lets the bootstrap run as one matrix product instead of a thousand metric calls."""

    name: str
    metric: Callable[[list[Any], list[Any]], float]  # (references, outputs) -> value
    reference: str | None = None
    higher_is_better: bool = True
    vectors: Callable[[list[Any], list[Any]], np.ndarray] | None = None  # rows x k
    combine: Callable[[np.ndarray], np.ndarray] | None = None  # draws x k -> draws
    needs_reference: bool = True
    kind: str = "corpus"


Scorer = ItemScorer | CorpusScorer


def _number(value: Any, scorer: str) -> float:
    if isinstance(value, bool):
        return float(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(
            f"scorer {scorer!r} returned {value!r}; a scorer returns a number or a bool"
        ) from None
    return number


# ---- reading outputs and references ------------------------------------------------------------


def prediction(output: Any) -> Any:
    if type(output) in (int, str, float, bool):  # the common case, before an ABC check
        return output
    if isinstance(output, Mapping) and "prediction" in output:
        return output["prediction"]
    return output


def probabilities(output: Any, scorer: str) -> list[float]:
    if isinstance(output, Mapping) and "probabilities" in output:
        return [float(p) for p in output["probabilities"]]
    if isinstance(output, Sequence) and not isinstance(output, str):
        return [float(p) for p in output]
    if isinstance(output, int | float):
        return [1 - float(output), float(output)]
    raise InvalidInput(
        f"scorer {scorer!r} needs class probabilities; the model returned {type(output).__name__} "
        "(return a list of probabilities or a dict with a 'probabilities' key)"
    )


def _classes(output: Any) -> list[Any] | None:
    if isinstance(output, Mapping) and "classes" in output:
        return list(output["classes"])
    return None


def reference_of(scorer: ItemScorer | CorpusScorer, item: Item, label_column: str | None) -> Any:
    """The ground truth of an item for a scorer: its ``reference=`` column or the label column."""
    column = scorer.reference or label_column
    if column is None:
        raise InvalidInput(f"scorer {scorer.name!r} needs the ground truth: pass label_column=")
    if column not in item:
        raise InvalidInput(f"scorer {scorer.name!r}: the item has no column {column!r}")
    return item[column]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return float(a) == float(b)
    return bool(a == b) if type(a) is type(b) else str(a) == str(b)


# ---- classification --------------------------------------------------------------------------


def accuracy(reference: str | None = None, name: str = "accuracy") -> ItemScorer:
    """1 when the prediction equals the label."""
    return ItemScorer(
        name, lambda _item, out, ref: _same(prediction(out), ref), True, reference, True
    )


def _sklearn_metric(function: str) -> Callable[..., float]:
    try:
        metrics = importlib.import_module("sklearn.metrics")
    except ImportError:
        raise InvalidInput(
            f"the {function} scorer needs scikit-learn: pip install 'assay[eval]'"
        ) from None
    return getattr(metrics, function)  # type: ignore[no-any-return]


def _summed(
    name: str,
    reference: str | None,
    higher_is_better: bool,
    vectors: Callable[[list[Any], list[Any]], np.ndarray],
    combine: Callable[[np.ndarray], np.ndarray],
) -> CorpusScorer:
    """A corpus scorer that is a function of per-row sums: its value on any rows is
    ``combine`` of their summed ``vectors``, the same two the bootstrap uses."""

    def metric(refs: list[Any], outs: list[Any]) -> float:
        return float(combine(vectors(refs, outs).sum(0)[None, :])[0])

    return CorpusScorer(
        name=name,
        metric=metric,
        reference=reference,
        higher_is_better=higher_is_better,
        vectors=vectors,
        combine=combine,
    )


def _confusion(refs: list[Any], outs: list[Any], pos_label: Any) -> np.ndarray:
    """Per row: one-hot true class, one-hot predicted class, one-hot true positive (3C
    columns), over ``pos_label`` (always column 0) and the classes seen."""
    preds = [prediction(o) for o in outs]
    classes = {value: i for i, value in enumerate(dict.fromkeys([pos_label, *refs, *preds]))}
    c = len(classes)
    rows = np.zeros((len(refs), 3 * c))
    truth = np.asarray([classes[r] for r in refs], dtype=np.intp)
    guess = np.asarray([classes[p] for p in preds], dtype=np.intp)
    index = np.arange(len(refs))
    rows[index, truth] = 1
    rows[index, c + guess] = 1
    hit = truth == guess
    rows[index[hit], 2 * c + truth[hit]] = 1
    return rows


def _ratio(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.divide(top, bottom, out=np.zeros_like(top, dtype=float), where=bottom > 0)
    return out


def _prf_combine(function: str, average: str) -> Callable[[np.ndarray], np.ndarray]:
    """Precision, recall or F1 from summed confusion rows, as scikit-learn computes them with
    ``zero_division=0`` (macro and weighted averages over the classes present in the sample)."""

    def per_class(true: np.ndarray, pred: np.ndarray, tp: np.ndarray) -> np.ndarray:
        if function == "precision_score":
            return _ratio(tp, pred)
        if function == "recall_score":
            return _ratio(tp, true)
        return _ratio(2 * tp, true + pred)

    def combine(totals: np.ndarray) -> np.ndarray:
        c = totals.shape[1] // 3
        true, pred, tp = totals[:, :c], totals[:, c : 2 * c], totals[:, 2 * c :]
        if average == "binary":
            return per_class(true[:, 0], pred[:, 0], tp[:, 0])
        if average == "micro":
            return per_class(true.sum(1), pred.sum(1), tp.sum(1))
        scores = per_class(true, pred, tp)
        if average == "weighted":
            return _ratio((scores * true).sum(1), true.sum(1))
        present = (true + pred) > 0
        return _ratio((scores * present).sum(1), present.sum(1).astype(float))

    return combine


def _prf(
    function: str, average: str, pos_label: Any, reference: str | None, name: str
) -> CorpusScorer:
    if average not in ("binary", "micro", "macro", "weighted"):
        raise InvalidInput(f"{name}: average must be binary, micro, macro or weighted")

    def vectors(refs: list[Any], outs: list[Any]) -> np.ndarray:
        return _confusion(refs, outs, pos_label)

    return _summed(name, reference, True, vectors, _prf_combine(function, average))


def precision(
    average: str = "binary",
    pos_label: Any = 1,
    reference: str | None = None,
    name: str = "precision",
) -> CorpusScorer:
    return _prf("precision_score", average, pos_label, reference, name)


def recall(
    average: str = "binary", pos_label: Any = 1, reference: str | None = None, name: str = "recall"
) -> CorpusScorer:
    return _prf("recall_score", average, pos_label, reference, name)


def f1(
    average: str = "binary", pos_label: Any = 1, reference: str | None = None, name: str = "f1"
) -> CorpusScorer:
    """F1 (``average`` as scikit-learn: binary, macro, micro, weighted)."""
    return _prf("f1_score", average, pos_label, reference, name)


def roc_auc(
    multi_class: str = "ovr", reference: str | None = None, name: str = "roc_auc"
) -> CorpusScorer:
    """ROC AUC from the output's probabilities (binary: the positive class's probability,
    or a two-element vector; multiclass: one-vs-rest over the probability vectors)."""

    def metric(refs: list[Any], outs: list[Any]) -> float:
        probs = [probabilities(o, name) for o in outs]
        if all(len(p) == 2 for p in probs):
            return float(_sklearn_metric("roc_auc_score")(refs, [p[1] for p in probs]))
        labels = _classes(outs[0]) if outs else None
        return float(
            _sklearn_metric("roc_auc_score")(refs, probs, multi_class=multi_class, labels=labels)
        )

    return CorpusScorer(name=name, metric=metric, reference=reference)


def log_loss(
    eps: float = 1e-15, reference: str | None = None, name: str = "log_loss"
) -> ItemScorer:
    """-log of the probability given to the true class (the probability vector's index is
    the output's ``classes`` order if present, else the label itself); lower is better."""

    def score(_item: Item, out: Any, label: Any) -> float:
        probs = probabilities(out, name)
        classes = _classes(out)
        index = classes.index(label) if classes is not None else int(label)
        return -math.log(min(max(probs[index], eps), 1 - eps))

    return ItemScorer(name, score, False, reference, True)


# ---- regression ----------------------------------------------------------------------------------


def mae(reference: str | None = None, name: str = "mae") -> ItemScorer:
    return ItemScorer(
        name,
        lambda _item, out, ref: abs(float(prediction(out)) - float(ref)),
        False,
        reference,
        True,
    )


def rmse(reference: str | None = None, name: str = "rmse") -> CorpusScorer:
    def vectors(refs: list[Any], outs: list[Any]) -> np.ndarray:
        errors = np.asarray([float(prediction(o)) for o in outs]) - np.asarray(refs, dtype=float)
        return np.column_stack([errors**2, np.ones(len(refs))])

    def combine(totals: np.ndarray) -> np.ndarray:
        root: np.ndarray = np.sqrt(_ratio(totals[:, 0], totals[:, 1]))
        return root

    return _summed(name, reference, False, vectors, combine)


def r2(reference: str | None = None, name: str = "r2") -> CorpusScorer:
    """Coefficient of determination (1.0 when both sums of squares are 0, as scikit-learn)."""

    def vectors(refs: list[Any], outs: list[Any]) -> np.ndarray:
        truth = np.asarray(refs, dtype=float)
        errors = truth - np.asarray([float(prediction(o)) for o in outs])
        return np.column_stack([truth, truth**2, errors**2, np.ones(len(refs))])

    def combine(totals: np.ndarray) -> np.ndarray:
        total = totals[:, 1] - _ratio(totals[:, 0] ** 2, totals[:, 3])
        residual = totals[:, 2]
        value = 1 - _ratio(residual, total)
        return np.where(total > 0, value, np.where(residual > 0, 0.0, 1.0))

    return _summed(name, reference, True, vectors, combine)


def numeric(
    abs_tol: float = 0.0, rel_tol: float = 0.0, reference: str | None = None, name: str = "numeric"
) -> ItemScorer:
    """Pass when |prediction - label| <= abs_tol + rel_tol * |label|."""

    def score(_item: Item, out: Any, ref: Any) -> bool:
        try:
            got, want = float(prediction(out)), float(ref)
        except (TypeError, ValueError):
            return False
        return abs(got - want) <= abs_tol + rel_tol * abs(want)

    return ItemScorer(name, score, True, reference, True)


# ---- text ----------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def exact_match(
    reference: str | None = None,
    ignore_case: bool = False,
    strip: bool = True,
    name: str = "exact_match",
) -> ItemScorer:
    def norm(value: Any) -> str:
        text = _text(value)
        text = text.strip() if strip else text
        return text.casefold() if ignore_case else text

    return ItemScorer(
        name, lambda _item, out, ref: norm(prediction(out)) == norm(ref), True, reference, True
    )


def contains(
    text: str | None = None,
    reference: str | None = None,
    ignore_case: bool = False,
    name: str = "contains",
) -> ItemScorer:
    """Pass when the output contains ``text`` (or, without it, the item's reference)."""

    def score(_item: Item, out: Any, ref: Any) -> bool:
        needle, haystack = text if text is not None else _text(ref), _text(prediction(out))
        if ignore_case:
            needle, haystack = needle.casefold(), haystack.casefold()
        return needle in haystack

    return ItemScorer(name, score, True, reference, text is None)


def regex(pattern: str, name: str = "regex") -> ItemScorer:
    """Pass when the pattern matches somewhere in the output."""
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise InvalidInput(f"regex scorer: {pattern!r} is not a valid pattern ({exc})") from None
    return ItemScorer(
        name, lambda _item, out, _ref: compiled.search(_text(prediction(out))) is not None
    )


def _parsed(output: Any) -> tuple[bool, Any]:
    value = prediction(output)
    if not isinstance(value, str):
        return True, value
    try:
        return True, json.loads(value)
    except ValueError:
        return False, None


def valid_json(name: str = "valid_json") -> ItemScorer:
    return ItemScorer(name, lambda _item, out, _ref: _parsed(out)[0])


def json_schema(schema: Mapping[str, Any], name: str = "json_schema") -> ItemScorer:
    """Pass when the output (parsed if it is a string) validates against the JSON schema."""
    try:
        import jsonschema
    except ImportError:
        raise InvalidInput(
            "the json_schema scorer needs jsonschema: pip install 'assay[eval]'"
        ) from None
    try:
        validator = jsonschema.Draft202012Validator(schema)
        validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise InvalidInput(f"json_schema scorer: the schema is invalid ({exc.message})") from None

    def score(_item: Item, out: Any, _ref: Any) -> bool:
        ok, value = _parsed(out)
        return ok and validator.is_valid(value)

    return ItemScorer(name, score)


# ---- judges and custom functions ---------------------------------------------------------------


def _judgement(reply: Any) -> float | None:
    if isinstance(reply, bool | int | float):
        return float(reply)
    text = str(reply).strip().lower()
    if text.startswith(("yes", "pass", "true", "correct")):
        return 1.0
    if text.startswith(("no", "fail", "false", "incorrect")):
        return 0.0
    number = re.search(r"-?\d+(?:\.\d+)?", text)
    return float(number.group()) if number else None


def llm_judge(
    judge: Callable[[str], Any],
    prompt: str,
    parse: Callable[[Any], float | bool | None] | None = None,
    name: str = "judge",
) -> ItemScorer:
    """Score each output with a judge you provide (any callable taking the prompt: an LLM
    client, a rules engine, a person at a terminal). ``prompt`` is a template over the
    item's columns plus ``{output}``. The reply is parsed as yes/no, pass/fail or the first
    number (``parse=`` overrides); the prompt and the reply are recorded per item."""
    reader = parse or _judgement

    def score(item: Item, out: Any, _ref: Any) -> Scored:
        try:
            text = prompt.format(**item, output=_text(prediction(out)))
        except KeyError as exc:
            raise InvalidInput(
                f"judge prompt names {exc} but the item has no such column"
            ) from None
        reply = judge(text)
        value = reader(reply)
        details = {"prompt": text, "judgement": _text(reply)}
        return Scored(None if value is None else _number(value, name), details)

    return ItemScorer(name, score, slow=True)


def custom(
    fn: Callable[[Item, Any], float | bool], name: str | None = None, higher_is_better: bool = True
) -> ItemScorer:
    """A function ``(item, output) -> float | bool`` as a scorer."""
    return ItemScorer(
        name or str(getattr(fn, "__name__", "custom")),
        lambda item, out, _ref: fn(item, out),
        higher_is_better,
    )


# ---- from names and suite files ----------------------------------------------------------------

BUILTIN: dict[str, Callable[..., Scorer]] = {
    "accuracy": accuracy,
    "precision": precision,
    "recall": recall,
    "f1": f1,
    "roc_auc": roc_auc,
    "log_loss": log_loss,
    "mae": mae,
    "rmse": rmse,
    "r2": r2,
    "numeric": numeric,
    "exact_match": exact_match,
    "contains": contains,
    "regex": regex,
    "valid_json": valid_json,
    "json_schema": json_schema,
}


def _scorers() -> Registry[Callable[..., Scorer]]:
    found: Registry[Callable[..., Scorer]] = Registry("assay.scorers", "scorer")
    for name, factory in BUILTIN.items():
        found.register(name, factory)
    return found


SCORERS = _scorers()  # plugins add factories through the ``assay.scorers`` entry points


def _imported(path: str) -> Any:
    module, _, attr = path.partition(":")
    if not attr:
        raise InvalidInput(f"python scorer {path!r}: write it as package.module:function")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise InvalidInput(f"python scorer {path!r} could not be imported: {exc}") from None


def from_spec(spec: Any) -> Scorer:
    """A scorer from a name (``"f1"``), a one-key mapping (``{"f1": {"average": "macro"}}``,
    ``{"python": "pkg.mod:fn"}``), a scorer, or a function ``(item, output)``."""
    if isinstance(spec, ItemScorer | CorpusScorer):
        return spec
    if isinstance(spec, str):
        return _builtin(spec, {})
    if isinstance(spec, Mapping) and len(spec) == 1:
        ((key, args),) = spec.items()
        if key == "python":
            options = args if isinstance(args, Mapping) else {"function": args}
            fn = _imported(str(options["function"]))
            made = (
                fn if isinstance(fn, ItemScorer | CorpusScorer) else custom(fn, options.get("name"))
            )
            return made
        return _builtin(str(key), args or {})
    if callable(spec):
        return custom(spec)
    raise InvalidInput(
        f"{spec!r} is not a scorer: use a name ({', '.join(SCORERS.names())}), a "
        "scorer from assay.scorers, or a function (item, output) -> float | bool"
    )


def _builtin(name: str, args: Any) -> Scorer:
    factory = SCORERS.get(name)  # unknown: InvalidInput naming the known ones
    if not isinstance(args, Mapping):
        raise InvalidInput(f"scorer {name!r}: options must be a mapping, got {args!r}")
    try:
        return factory(**args)
    except TypeError as exc:
        raise InvalidInput(f"scorer {name!r}: {exc}") from None


def resolve_all(specs: Sequence[Any]) -> list[Scorer]:
    scorers = [from_spec(s) for s in specs]
    names = [s.name for s in scorers]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise InvalidInput(
            f"two scorers are named {duplicated[0]!r}; pass name= to tell them apart"
        )
    if not scorers:
        raise InvalidInput("give at least one scorer")
    return scorers
