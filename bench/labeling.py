"""Labeling consensus: accuracy against expert labels and time, Assay and crowd-kit side by side.

Three public crowd data sets (bench/data/crowd: Snow et al. 2008, rte, temp and wsd), each
``labels.csv`` (item, worker, label) and ``gold.csv`` (item, label). For each set and
method: accuracy of the consensus against gold (gold is not given to the method), and the
median wall time of a few runs of the whole call (encoding included). Assay's rows also
say whether the output is identical when the input rows are shuffled. crowd-kit's
Dawid-Skene (100 EM iterations, its default) and majority vote run in the same process
when crowd-kit is importable; otherwise they are skipped with a message.

    python bench/labeling.py [--out bench/RESULTS.md] [--json]

``--routing`` replays adaptive routing instead (its own section of RESULTS.md): each
item's labels are put in a seeded random order and hidden; every item shows its first
``min_labels``; then, round after round, the router (``assay.labeling.routing.plan``,
what a label project runs after each label) names the items it wants another label
for, and each gets the hidden label of the annotator with the best estimated quality
who has not labelled it (as a live queue gives the item first to an annotator at least
as good as the median), until it asks for nothing. The accuracy of the default
method on the labels revealed is compared with Dawid-Skene on all of them, and with the
labels revealed weighed by the annotator quality Dawid-Skene fits on all of them
("quality known": what the routed labels give when annotator quality is known as well
as full redundancy knows it).

    python bench/labeling.py --routing [--out bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sections

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "crowd"
SETS = ("rte", "temp", "wsd")
MARK = "## Labeling consensus"
ROUTING_MARK = "## Labeling: adaptive routing replay"
ROUTING_SETTINGS = (
    {"min_labels": 3, "confidence": 0.999, "budget": None},
    {"min_labels": 3, "confidence": 0.999, "budget": 0.6},
)
ROUTING_SEEDS = (0, 1, 2)  # each replay reveals the labels in a different random order
BUDGET = 0.6  # the target: full-redundancy accuracy with at most this share of the labels
REPEATS = 5
ASSAY_METHODS = ("auto", "ds", "one-coin", "glad", "mv")


def load(name: str) -> tuple[Any, Any]:
    import pandas as pd

    labels = pd.read_csv(DATA / name / "labels.csv", dtype=str)
    gold = pd.read_csv(DATA / name / "gold.csv", dtype=str)
    return labels, gold


def accuracy(predicted: Any, gold: Any) -> float:
    """Share of gold items whose predicted label (a Series indexed by item) is the gold one."""
    found = predicted.reindex(gold["item"]).to_numpy()
    return float((found == gold["label"].to_numpy()).mean())


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    times, out = [], None
    for _ in range(REPEATS):
        start = time.perf_counter()
        out = call()
        times.append(time.perf_counter() - start)
    return out, statistics.median(times)


def assay_rows(name: str, labels: Any, gold: Any) -> list[dict[str, Any]]:
    from assay.labeling import aggregate

    rows = []
    shuffled = labels.sample(frac=1.0, random_state=7)
    for method in ASSAY_METHODS:
        result, seconds = timed(lambda m=method: aggregate(labels, m))  # type: ignore[misc]
        same = aggregate(shuffled, method).labels.equals(result.labels)
        chosen = f"auto ({result.method})" if method == "auto" else method
        predicted = result.labels.set_index("item")["label"]
        rows.append(
            {
                "set": name,
                "tool": "assay",
                "method": chosen,
                "accuracy": accuracy(predicted, gold),
                "seconds": seconds,
                "shuffle_identical": same,
            }
        )
    with_gold = aggregate(labels, "auto", gold)
    rows.append(
        {
            "set": name,
            "tool": "assay",
            "method": f"auto ({with_gold.method}) + gold, 5-fold held out",
            "accuracy": with_gold.gold_accuracy,
            "seconds": None,
            "shuffle_identical": None,
        }
    )
    return rows


def crowdkit_rows(name: str, labels: Any, gold: Any) -> list[dict[str, Any]]:
    from crowdkit.aggregation import DawidSkene, MajorityVote

    frame = labels.rename(columns={"item": "task"})
    rows = []
    for method, make in (("ds", lambda: DawidSkene(n_iter=100)), ("mv", MajorityVote)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            predicted, seconds = timed(lambda make=make: make().fit_predict(frame))  # type: ignore[misc]
        rows.append(
            {
                "set": name,
                "tool": "crowd-kit",
                "method": method,
                "accuracy": accuracy(predicted, gold),
                "seconds": seconds,
                "shuffle_identical": None,
            }
        )
    return rows


def crowdkit_available() -> str | None:
    """None if crowd-kit imports; else why not."""
    try:
        import crowdkit.aggregation  # noqa: F401
    except Exception as exc:  # any import failure means: skip it
        return f"{type(exc).__name__}: {exc}"
    return None


COLD = """
import time
start = time.perf_counter()
import pandas as pd
from assay.labeling import consensus
for name in {sets!r}:
    consensus(pd.read_csv({data!r} + "/" + name + "/labels.csv", dtype=str))
print(time.perf_counter() - start)
"""


def cold_seconds() -> float:
    """A fresh interpreter: import pandas and Assay, read the three CSVs, default method."""
    import subprocess

    code = COLD.format(sets=SETS, data=str(DATA))
    times = []
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def measure() -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    missing = crowdkit_available()
    if missing:
        print(f"crowd-kit not importable ({missing}); its rows are skipped", file=sys.stderr)
    for name in SETS:
        labels, gold = load(name)
        rows += assay_rows(name, labels, gold)
        if not missing:
            rows += crowdkit_rows(name, labels, gold)
    total = sum(
        r["seconds"]
        for r in rows
        if r["tool"] == "assay" and r["method"].startswith("auto (") and r["seconds"] is not None
    )
    return {
        "rows": rows,
        "default_total_seconds": total,
        "cold_seconds": cold_seconds(),
        "crowdkit": _version("crowd-kit"),
    }


def _version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def render(results: dict[str, Any], command: str) -> list[str]:
    version = results["crowdkit"]
    peer = f"crowd-kit {version}" if version else "crowd-kit (not installed: skipped)"
    lines = [
        MARK,
        "",
        f"Produced by `{command}` on {time.strftime('%Y-%m-%d')}: the three Snow et al. (2008)",
        "sets in bench/data/crowd, accuracy of each method's labels against the expert labels",
        "(which the method does not see, except in the 'held out' row: there each fifth of the",
        "gold items is hidden in turn while the rest is given), and the median time of",
        f"{REPEATS} runs of the whole call. Assay's `auto` rule picked the method in brackets;",
        "'shuffled' says whether Assay's output was identical with the rows shuffled.",
        f"Peer: {peer} (Dawid-Skene with 100 EM iterations, majority vote), same process.",
        "",
        "| set | tool | method | accuracy | median time | shuffled |",
        "| --- | --- | --- | ---: | ---: | --- |",
    ]
    for r in results["rows"]:
        seconds = "-" if r["seconds"] is None else f"{r['seconds'] * 1000:,.1f} ms"
        same = {True: "identical", False: "DIFFERENT", None: "-"}[r["shuffle_identical"]]
        lines.append(
            f"| {r['set']} | {r['tool']} | {r['method']} | {r['accuracy']:.4f} | {seconds} "
            f"| {same} |"
        )
    lines += ["", *_targets(results)]
    return lines


def _targets(results: dict[str, Any]) -> list[str]:
    rows = results["rows"]

    def acc(tool: str, method: str, name: str) -> float | None:
        for r in rows:
            if r["tool"] == tool and r["set"] == name and r["method"].startswith(method):
                return float(r["accuracy"])
        return None

    default = [acc("assay", "auto (", n) or 0.0 for n in SETS]
    mv = [acc("assay", "mv", n) or 0.0 for n in SETS]
    out = [
        f"- all three sets with the default method: {results['default_total_seconds']:.3f} s "
        f"(target < 2 s) — {'met' if results['default_total_seconds'] < 2 else 'MISSED'}; "
        f"in a fresh interpreter, with importing pandas and Assay and reading the CSVs: "
        f"{results['cold_seconds']:.3f} s",
        f"- default vs majority vote, mean accuracy: {sum(default) / 3:.4f} vs "
        f"{sum(mv) / 3:.4f} — {'met' if sum(default) > sum(mv) else 'MISSED'}",
    ]
    theirs = [acc("crowd-kit", "ds", n) for n in SETS]
    if all(t is not None for t in theirs):
        ok = all(d >= (t or 0) for d, t in zip(default, theirs, strict=True))
        pairs = zip(SETS, default, theirs, strict=True)
        out.append(
            "- default >= crowd-kit Dawid-Skene on every set: "
            + ", ".join(f"{n} {d:.4f} vs {t:.4f}" for n, d, t in pairs)
            + f" — {'met' if ok else 'MISSED'}"
        )
    return out


def replay(
    name: str, min_labels: int, confidence: float, budget: float | None, seed: int = 0
) -> dict[str, Any]:
    """One routing replay on one set (see the module's docstring)."""
    import numpy as np
    import pandas as pd

    from assay.labeling import aggregate
    from assay.labeling.routing import plan

    labels, gold = load(name)
    pool = labels.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    overlap = int(pool.groupby("item").size().max())
    shown = (pool.groupby("item").cumcount() < min_labels).to_numpy().copy()
    needs = {str(i): min_labels for i in pool["item"].unique()}
    stuck: set[str] = set()  # items no annotator is left for
    rounds = 0
    while True:
        asked = {k: v for k, v in needs.items() if k not in stuck}
        decided = plan(
            pool[shown],
            asked,
            min_labels=min_labels,
            overlap=overlap,
            confidence=confidence,
            budget=budget,
        )
        if not decided.needed:
            break
        rounds += 1
        needs.update(decided.needed)
        quality = pd.Series(decided.kind_quality.get("item", {}), dtype=float)
        hidden = pool[~shown & pool["item"].isin(list(decided.needed))].copy()
        hidden["q"] = hidden["worker"].map(quality).fillna(0.0)
        hidden = hidden.sort_values(["item", "q"], ascending=[True, False], kind="stable")
        picked = hidden.groupby("item").head(1)
        stuck |= set(decided.needed) - set(picked["item"])
        shown[picked.index.to_numpy()] = True
    full = aggregate(pool, "ds").labels.set_index("item")["label"]
    routed = aggregate(pool[shown], "auto")
    known = known_quality(pool, shown)
    return {
        "set": name,
        "seed": seed,
        "min_labels": min_labels,
        "confidence": confidence,
        "budget": budget,
        "share": float(np.mean(shown)),
        "accuracy": accuracy(routed.labels.set_index("item")["label"], gold),
        "method": routed.method,
        "full_ds": accuracy(full, gold),
        "known_quality": accuracy(known, gold),
        "rounds": rounds,
    }


def known_quality(pool: Any, shown: Any) -> Any:
    """The routed labels weighed by the annotators' confusion matrices and the class prior
    that Dawid-Skene fits on every label (one E step): what the labels the router asked
    for give when annotator quality is known as well as full redundancy knows it. The
    gap between this and the routed accuracy is the cost of estimating annotator quality
    from the routed labels alone; the gap between this and every label, the cost of the
    labels not asked for."""
    import numpy as np
    import pandas as pd

    from assay.labeling import methods
    from assay.labeling.data import encode

    every = encode(pool, None, "item", "worker", "label")
    fitted = methods.dawid_skene(every, methods.majority(every).posteriors)
    assert fitted.confusion is not None
    routed = encode(pool[shown], None, "item", "worker", "label")
    worker = np.searchsorted(every.workers, routed.workers)[routed.worker]
    label = np.searchsorted(every.classes, routed.classes)[routed.label]
    log_post = np.tile(np.log(methods.class_prior(fitted.posteriors)), (routed.n_items, 1))
    votes = routed.weight[:, None] * np.log(fitted.confusion[worker, :, label])
    np.add.at(log_post, routed.item, votes)
    chosen = methods.pick(log_post, methods.priority(every))
    return pd.Series(every.classes[chosen], index=routed.items)


def render_routing(rows: list[dict[str, Any]], command: str) -> list[str]:
    lines = [
        ROUTING_MARK,
        "",
        f"Produced by `{command}` on {time.strftime('%Y-%m-%d')}: adaptive routing replayed on",
        "the crowd sets (a label is revealed only when the router asks for it; see the",
        "docstring of bench/labeling.py), once per seed (the order labels are revealed in).",
        "Target: the accuracy of Dawid-Skene on every label with at most "
        f"{BUDGET:.0%} of the labels.",
        "",
        "'Quality known': the same routed labels weighed by the annotator quality that",
        "Dawid-Skene fits on every label (see `known_quality`).",
        "",
        "| set | seed | confidence | budget | labels used | accuracy (method) | quality known "
        "| DS, all labels | rounds | target |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        met = r["share"] <= BUDGET and r["accuracy"] >= r["full_ds"]
        budget = "-" if r["budget"] is None else f"{r['budget']:.0%}"
        lines.append(
            f"| {r['set']} | {r['seed']} | {r['confidence']} | {budget} | {r['share']:.1%} | "
            f"{r['accuracy']:.4f} ({r['method']}) | {r['known_quality']:.4f} | "
            f"{r['full_ds']:.4f} | {r['rounds']} | "
            f"{'met' if met else 'MISSED'} |"
        )
    lines += ["", "Means over the seeds:", ""]
    groups: dict[tuple[str, Any], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["set"], r["budget"]), []).append(r)
    for (name, budget), group in groups.items():
        share = statistics.mean(r["share"] for r in group)
        acc = statistics.mean(r["accuracy"] for r in group)
        known = statistics.mean(r["known_quality"] for r in group)
        shown = "no budget" if budget is None else f"budget {budget:.0%}"
        lines.append(
            f"- {name}, {shown}: {share:.1%} of the labels, accuracy {acc:.4f} "
            f"({known:.4f} with annotator quality known) vs {group[0]['full_ds']:.4f} "
            "with every label"
        )
    return lines


def write(out: Path, lines: list[str], mark: str = MARK) -> None:
    """Replace a labeling section of RESULTS.md (or append it)."""
    sections.replace(out, mark, lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON only.")
    parser.add_argument("--routing", action="store_true", help="Replay adaptive routing.")
    args = parser.parse_args()
    if args.routing:
        rows = [
            replay(n, **settings, seed=seed)
            for settings in ROUTING_SETTINGS
            for n in SETS
            for seed in ROUTING_SEEDS
        ]
        lines = render_routing(rows, "python bench/labeling.py --routing")
        write(args.out, lines, ROUTING_MARK)
        print("\n".join(lines))
        return
    results = measure()
    if args.json:
        print(json.dumps(results))
        return
    lines = render(results, "python bench/labeling.py")
    write(args.out, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
