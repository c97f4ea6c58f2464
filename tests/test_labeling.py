"""assay.labeling: consensus methods, agreement statistics, Bradley-Terry, bad input, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from assay.cli.main import cli
from assay.errors import InvalidInput
from assay.labeling import (
    aggregate,
    agreement,
    bradley_terry,
    consensus,
    fleiss_kappa,
    krippendorff_alpha,
    read_label_studio,
)
from assay.labeling.aggregation import SELECT_GOLD

CROWD = Path(__file__).resolve().parent.parent / "bench" / "data" / "crowd"
# crowd-kit 1.4.2's Dawid-Skene (100 EM iterations) and majority vote on the same files:
# 0.9275 / 0.9416 / 0.9944 and 0.8750 / 0.9394 / 0.9944, as counts of gold items right
CROWDKIT_DS = {"rte": 742 / 800, "temp": 435 / 462, "wsd": 176 / 177}
CROWDKIT_MV = {"rte": 700 / 800, "temp": 434 / 462, "wsd": 176 / 177}


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def frame(rows: list[tuple[object, object, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["item", "worker", "label"])


def adversarial(items: int = 20) -> tuple[pd.DataFrame, dict[int, int]]:
    """Worker a is always right, c always wrong, b right on 70% of items."""
    truth = {i: i % 2 for i in range(items)}
    rows = []
    for i, t in truth.items():
        rows += [(i, "a", t), (i, "c", 1 - t), (i, "b", t if i % 10 < 7 else 1 - t)]
    return frame(rows), truth


def accuracy(labels: pd.DataFrame, truth: dict[object, object]) -> float:
    got = dict(zip(labels["item"], labels["label"], strict=True))
    return float(np.mean([got[i] == t for i, t in truth.items()]))


def load(name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    labels = pd.read_csv(CROWD / name / "labels.csv", dtype=str)
    gold = pd.read_csv(CROWD / name / "gold.csv", dtype=str)
    return labels, gold


# ---- methods on hand-checked cases ------------------------------------------------------


def test_majority_vote_shares_and_deterministic_ties() -> None:
    df = frame(
        [
            ("x", "w1", "cat"),
            ("x", "w2", "cat"),
            ("x", "w3", "dog"),
            ("y", "w1", "dog"),
            ("y", "w2", "cat"),  # a 1-1 tie: "cat" has more votes overall (3 vs 2)
        ]
    )
    out = consensus(df, method="mv")
    assert list(out.columns) == ["item", "label", "confidence"]
    assert out["label"].tolist() == ["cat", "cat"]
    assert out["confidence"].tolist() == pytest.approx([2 / 3, 1 / 2])
    # equal totals: the first label in sorted order wins
    even = frame([("x", "w1", "b"), ("x", "w2", "a")])
    assert consensus(even, method="mv")["label"].tolist() == ["a"]


@pytest.mark.parametrize("method", ["ds", "one-coin", "glad"])
def test_em_methods_flip_the_adversarial_worker(method: str) -> None:
    df, truth = adversarial()
    mv = consensus(df, method="mv")
    result = aggregate(df, method=method)
    assert accuracy(mv, truth) == pytest.approx(0.7)
    assert accuracy(result.labels, truth) == 1.0
    # GLAD also reads a disagreement as a sign of a harder item, so it is less sure there
    assert (result.labels["confidence"] > (0.75 if method == "glad" else 0.9)).all()
    workers = result.workers.set_index("worker")["accuracy"]
    assert workers["a"] > 0.9 and workers["c"] < 0.1
    if method == "glad":
        ability = result.workers.set_index("worker")["ability"]
        assert ability["a"] > 0 > ability["c"]
        return
    c = result.confusion_matrix("c")
    assert c.loc[0, 1] > 0.8 and c.loc[1, 0] > 0.8  # c says 1 for a true 0, and 0 for 1


def test_glad_finds_the_hard_items() -> None:
    """Seven workers; on 'easy' items one vote in ten is wrong, on 'hard' ones three in seven."""
    truth = {f"item{i:02d}": i % 2 for i in range(60)}
    hard = {f"item{i:02d}" for i in range(0, 60, 6)}
    rows = []
    for n, (item, t) in enumerate(truth.items()):
        for w in range(7):
            wrong = (n + w) % 7 < 3 if item in hard else (n * 7 + w) % 10 == 0
            rows.append((item, f"w{w}", 1 - t if wrong else t))
    result = aggregate(frame(rows), method="glad")
    assert accuracy(result.labels, truth) == 1.0
    assert result.difficulty is not None and result.confusion is None
    is_hard = result.difficulty.index.isin(sorted(hard))
    assert result.difficulty[is_hard].min() > result.difficulty[~is_hard].max()
    with pytest.raises(InvalidInput, match="estimates no confusion matrices"):
        result.confusion_matrix("w0")


def test_dawid_skene_learns_a_class_specific_bias() -> None:
    """Worker 'lazy' says 'pos' to everything; DS learns its labels carry no information."""
    truth = {i: "pos" if i % 3 == 0 else "neg" for i in range(30)}
    rows = []
    for i, t in truth.items():
        rows += [(i, "lazy", "pos"), (i, "good", t), (i, "ok", t if i % 5 else "pos")]
    result = aggregate(frame(rows), method="ds")
    assert accuracy(result.labels, truth) == 1.0
    lazy = result.confusion_matrix("lazy")
    assert lazy.loc["neg", "pos"] > 0.9 and lazy.loc["pos", "pos"] > 0.9
    assert result.posteriors.shape == (30, 2) and result.converged


def test_mace_sees_through_spammers_that_always_say_the_same() -> None:
    """Two careful workers and two who answer 'a' whatever the item. On the 'b' items the
    votes tie 2-2, and majority vote (ties to the label given most) and one-coin (which
    rates the spammers right half of the time) say 'a'; MACE learns that the spammers'
    'a' comes from their strategy, not the item."""
    truth = {f"i{k}": "a" if k % 2 else "b" for k in range(8)}
    rows = []
    for item, t in truth.items():
        rows += [(item, "w1", t), (item, "w2", t), (item, "s1", "a"), (item, "s2", "a")]
    df = frame(rows)
    assert accuracy(consensus(df, method="mv"), truth) == 0.5
    assert accuracy(consensus(df, method="one-coin"), truth) == 0.5
    result = aggregate(df, method="mace")
    assert accuracy(result.labels, truth) == 1.0
    assert (result.labels["confidence"] > 0.95).all()
    competence = result.workers.set_index("worker")["competence"]
    assert competence["w1"] > 0.75 > 0.25 > competence["s1"]
    spam = result.confusion_matrix("s1")
    assert spam.loc["b", "a"] > 0.7  # on a true 'b', s1 still says 'a'
    assert result.confusion_matrix("w1").loc["b", "b"] > 0.9


def test_auto_rule() -> None:
    df, _ = adversarial(items=20)  # 20 votes per worker >= 5 * 2 * 1, 3 per item
    assert aggregate(df).method == "ds"
    few = adversarial(items=4)[0]  # 4 votes per worker: too few for one-coin's 5
    assert aggregate(few).method == "mv"
    seven = adversarial(items=7)[0]  # 7 votes: enough for one accuracy, not a matrix
    assert aggregate(seven).method == "one-coin"
    single = frame([("x", "w1", "a"), ("y", "w1", "b")])
    assert aggregate(single).method == "mv"


def _adversaries_with_gold() -> tuple[pd.DataFrame, pd.DataFrame]:
    """40 items, each labelled by a good worker, one who is always wrong and one right 60%
    of the time; every worker has about four labels (too few for the rule to rate them),
    and half of the items (both classes) have gold."""
    rows, truth = [], {}
    for k in range(40):
        item, right = f"i{k:02d}", "a" if k % 2 else "b"
        wrong = "b" if right == "a" else "a"
        truth[item] = right
        rows += [
            (item, f"good{k % 10}", right),
            (item, f"bad{k % 9}", wrong),
            (item, f"mid{k % 11}", right if k % 5 < 3 else wrong),
        ]
    known = [i for i in truth if int(i[1:]) % 4 < 2]
    return frame(rows), pd.DataFrame({"item": known, "label": [truth[i] for i in known]})


def test_auto_picks_by_held_out_gold_accuracy_when_gold_is_plenty() -> None:
    df, gold = _adversaries_with_gold()
    assert aggregate(df).method == "mv"  # the rule: too few labels per worker
    chosen = aggregate(df, gold=gold)
    assert chosen.method == "one-coin"  # learns from gold that 'bad' is always wrong
    assert chosen.reason.startswith("best held-out accuracy on 20 gold items (mv 0.6000")
    assert chosen.gold_accuracy == 0.8  # the winner's held-out figure, not refitted
    few = gold.head(SELECT_GOLD - 1)
    assert aggregate(df, gold=few).method == "mv"  # below SELECT_GOLD: the rule again
    shuffled = df.sample(frac=1.0, random_state=3)
    assert aggregate(shuffled, gold=gold).labels.equals(chosen.labels)


def test_method_names_and_aliases() -> None:
    df, _ = adversarial()
    assert aggregate(df, method="Dawid-Skene").method == "ds"
    assert aggregate(df, method="one_coin").method == "one-coin"
    with pytest.raises(InvalidInput, match="unknown method 'zen'"):
        aggregate(df, method="zen")
    with pytest.raises(InvalidInput, match="max_iterations must be at least 1"):
        aggregate(df, method="ds", max_iterations=0)
    capped = aggregate(df, method="ds", max_iterations=1)
    assert capped.iterations == 1 and not capped.converged
    assert any("did not converge in 1 iterations" in note for note in capped.warnings)


# ---- determinism --------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["auto", "mv", "ds", "one-coin", "glad", "mace"])
def test_output_identical_under_shuffled_rows(method: str) -> None:
    labels, gold = load("rte")
    first = aggregate(labels, method)
    for seed in (1, 2):
        shuffled = labels.sample(frac=1.0, random_state=seed)[["label", "item", "worker"]]
        again = aggregate(shuffled, method)
        assert again.labels.equals(first.labels)
        assert again.posteriors.equals(first.posteriors)
        assert again.workers.equals(first.workers)
    with_gold = aggregate(labels, method, gold)
    shuffled_gold = aggregate(
        labels.sample(frac=1.0, random_state=3), method, gold.sample(frac=1.0, random_state=4)
    )
    assert shuffled_gold.labels.equals(with_gold.labels)
    assert shuffled_gold.gold_accuracy == with_gold.gold_accuracy


def test_duplicates_and_ties_are_order_independent() -> None:
    rows = [("i", "w1", "a"), ("i", "w1", "b"), ("i", "w2", "b"), ("i", "w3", "a")]
    rows.append(("j", "w1", "a"))
    outputs = {
        consensus(frame(order), method="mv").to_csv()
        for order in (rows, rows[::-1], rows[2:] + rows[:2])
    }
    assert len(outputs) == 1


# ---- gold ---------------------------------------------------------------------------------


def test_gold_decides_between_two_workers_who_always_disagree() -> None:
    truth = {i: i % 2 for i in range(12)}
    rows = [(i, "right", t) for i, t in truth.items()]
    rows += [(i, "wrong", 1 - t) for i, t in truth.items()]
    rows += [(i, "third", t if i < 6 else 1 - t) for i, t in truth.items()]
    df = frame(rows)
    gold = pd.DataFrame({"item": [0, 1, 2, 3, 4, 5, 6, 7], "label": [0, 1, 0, 1, 0, 1, 0, 1]})
    result = aggregate(df, method="ds", gold=gold)
    assert accuracy(result.labels, truth) == 1.0
    known = result.labels.set_index("item").loc[[0, 1], "confidence"]
    assert known.tolist() == [1.0, 1.0]  # gold items keep their gold label
    workers = result.workers.set_index("worker")
    assert workers.loc["right", "gold_accuracy"] == 1.0
    assert workers.loc["wrong", "gold_accuracy"] == 0.0
    assert workers.loc["third", "gold_accuracy"] == pytest.approx(6 / 8)
    assert workers.loc["right", "gold_labels"] == 8
    assert result.gold_accuracy == 1.0


def test_gold_accuracy_is_held_out_not_trivial() -> None:
    labels, gold = load("rte")
    result = aggregate(labels, "mv", gold)
    assert result.gold_accuracy == pytest.approx(CROWDKIT_MV["rte"])  # MV ignores gold
    assert (result.labels["confidence"] == 1.0).all()  # every rte item is a gold item


def test_gold_with_numbers_matches_labels_given_as_text() -> None:
    df = frame([("1", "w1", "0"), ("1", "w2", "0"), ("2", "w1", "1"), ("2", "w2", "1")])
    gold = pd.DataFrame({"item": [1, 2], "label": [0, 1]})
    result = aggregate(df, "mv", gold)
    assert result.gold_accuracy == 1.0 and not result.warnings


# ---- agreement statistics -----------------------------------------------------------------


def _krippendorff_example() -> pd.DataFrame:
    """Krippendorff (2011), 'Computing Krippendorff's Alpha-Reliability', the 4-coder example
    with missing values; nominal alpha = 0.743."""
    coders = {
        "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
        "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
        "C": [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
        "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
    }
    return frame(
        [(u, c, v) for c, values in coders.items() for u, v in enumerate(values) if v is not None]
    )


def test_krippendorff_alpha_published_examples() -> None:
    assert krippendorff_alpha(_krippendorff_example()) == pytest.approx(0.743, abs=5e-4)
    # the same paper's first example: two coders, binary values, ten units: alpha = 0.095
    a = [0, 1, 0, 0, 0, 0, 0, 0, 1, 0]
    b = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
    two = frame([(u, c, v) for c, vals in (("a", a), ("b", b)) for u, v in enumerate(vals)])
    assert krippendorff_alpha(two) == pytest.approx(0.095, abs=5e-4)


WIKIPEDIA_FLEISS = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def test_fleiss_kappa_wikipedia_example() -> None:
    assert fleiss_kappa(WIKIPEDIA_FLEISS) == pytest.approx(0.210, abs=5e-4)


def test_fleiss_kappa_matches_statsmodels() -> None:
    inter_rater = pytest.importorskip("statsmodels.stats.inter_rater")
    assert fleiss_kappa(WIKIPEDIA_FLEISS) == pytest.approx(
        inter_rater.fleiss_kappa(np.array(WIKIPEDIA_FLEISS))
    )
    labels, _ = load("wsd")
    table, _ = inter_rater.aggregate_raters(
        labels.pivot(index="item", columns="worker", values="label")
        .apply(lambda row: row.dropna().tolist(), axis=1)
        .tolist()
    )
    assert fleiss_kappa(labels) == pytest.approx(inter_rater.fleiss_kappa(table))


def test_agreement_summary_and_unequal_raters() -> None:
    labels, _ = load("rte")
    stats = agreement(labels)
    assert (stats.items, stats.workers, stats.labels, stats.classes) == (800, 164, 8000, 2)
    assert stats.equal_raters and stats.ratings_per_item == 10
    assert stats.krippendorff_alpha == pytest.approx(stats.fleiss_kappa, abs=1e-3)
    uneven = agreement(_krippendorff_example())
    assert not uneven.equal_raters and uneven.items == 11  # unit 12 has one value: left out
    perfect = frame([(i, w, "a") for i in range(3) for w in ("w1", "w2")])
    assert krippendorff_alpha(perfect) == 1.0 and fleiss_kappa(perfect) == 1.0


def test_agreement_needs_an_item_with_two_ratings() -> None:
    with pytest.raises(InvalidInput, match="no item has two or more ratings"):
        agreement(frame([("x", "w1", "a"), ("y", "w2", "b")]))


# ---- Bradley-Terry ------------------------------------------------------------------------


def test_bradley_terry_recovers_a_known_order() -> None:
    rng = np.random.default_rng(0)
    strength = dict(zip("abcdef", np.linspace(1.5, -1.5, 6), strict=True))
    names = list(strength)
    rows = []
    for _ in range(3000):
        x, y = rng.choice(names, 2, replace=False)
        p = 1 / (1 + np.exp(-(strength[x] - strength[y])))
        rows.append((x, y, x if rng.random() < p else y))
    ranking = bradley_terry(pd.DataFrame(rows, columns=["a", "b", "winner"]))
    table = ranking.table
    assert table["item"].tolist() == names
    assert table["rank"].tolist() == [1, 2, 3, 4, 5, 6]
    true = table["item"].map(strength)
    assert ((table["low"] <= true) & (true <= table["high"])).mean() >= 5 / 6
    assert table["score"].sum() == pytest.approx(0, abs=1e-6)
    assert ranking.groups == 1 and not ranking.warnings


def test_bradley_terry_unbeaten_ties_and_groups() -> None:
    rows = [("a", "b", "a"), ("a", "b", "a"), ("b", "c", "b"), ("b", "c", "tie"), ("d", "e", "")]
    ranking = bradley_terry(pd.DataFrame(rows, columns=["a", "b", "winner"]))
    table = ranking.table.set_index("item")
    assert np.isfinite(table["score"]).all()  # 'a' never lost: the ridge keeps it finite
    assert table.loc["a", "rank"] == 1
    assert table.loc["c", "wins"] == 0.5 and table.loc["d", "wins"] == 0.5
    assert ranking.groups == 2 and "separate groups" in ranking.warnings[0]


def test_bradley_terry_bad_rows() -> None:
    with pytest.raises(InvalidInput, match="winner must be a, b or a tie"):
        bradley_terry(pd.DataFrame({"a": ["x"], "b": ["y"], "winner": ["z"]}))
    with pytest.raises(InvalidInput, match="with itself"):
        bradley_terry(pd.DataFrame({"a": ["x"], "b": ["x"], "winner": ["x"]}))
    with pytest.raises(InvalidInput, match="missing column"):
        bradley_terry(pd.DataFrame({"a": ["x"], "b": ["y"]}))


# ---- bad input ----------------------------------------------------------------------------


def test_unknown_gold_items_are_named() -> None:
    df, _ = adversarial(4)
    gold = pd.DataFrame({"item": [0, 99, 98], "label": [0, 1, 1]})
    with pytest.raises(InvalidInput, match=r"gold names 2 item\(s\) that no worker .*: 99, 98"):
        aggregate(df, gold=gold)


def test_conflicting_gold_is_named() -> None:
    df, _ = adversarial(4)
    gold = pd.DataFrame({"item": [1, 1, 2, 2], "label": [0, 1, 0, 0]})
    with pytest.raises(InvalidInput, match=r"more than one label to item\(s\) 1$"):
        aggregate(df, gold=gold)


def test_missing_columns_are_named() -> None:
    with pytest.raises(InvalidInput, match=r"labels: missing column\(s\) 'worker'"):
        aggregate(pd.DataFrame({"item": [1], "label": ["a"]}))
    with pytest.raises(InvalidInput, match=r"gold: missing column\(s\) 'label'"):
        aggregate(adversarial(2)[0], gold=pd.DataFrame({"item": [0]}))
    renamed = adversarial(20)[0].rename(columns={"item": "task", "label": "answer"})
    out = consensus(renamed, item_column="task", label_column="answer")
    assert len(out) == 20


def test_empty_tables_and_missing_values() -> None:
    with pytest.raises(InvalidInput, match="labels: the table has no rows"):
        aggregate(frame([]))
    with pytest.raises(InvalidInput, match="expected a pandas DataFrame"):
        aggregate([("x", "w", "a")])  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match=r"1 row\(s\) have no value in column 'worker'"):
        aggregate(frame([("x", None, "a"), ("x", "w2", "a")]))
    result = aggregate(frame([("x", "w1", None), ("x", "w2", "a"), ("x", "w3", "a")]))
    assert result.labels["label"].tolist() == ["a"]
    assert any("without a label were left out" in note for note in result.warnings)


def test_duplicate_rows_split_one_vote() -> None:
    df = frame(
        [
            ("x", "w1", "a"),
            ("x", "w1", "a"),
            ("x", "w1", "b"),  # w1 on x: a 2/3, b 1/3
            ("x", "w2", "b"),
            ("y", "w2", "b"),
            ("y", "w2", "b"),  # an exact repeat counts once
        ]
    )
    result = aggregate(df, method="mv")
    x, y = result.posteriors.loc["x"], result.posteriors.loc["y"]
    assert x["a"] == pytest.approx(1 / 3) and x["b"] == pytest.approx(2 / 3)
    assert y["b"] == 1.0
    assert result.workers.set_index("worker")["labels"].tolist() == [1.0, 2.0]
    assert any("2 (item, worker) pair(s) had more than one row" in n for n in result.warnings)


def test_one_annotator_and_single_labels() -> None:
    df = frame([("x", "solo", "a"), ("y", "solo", "b")])
    for method in ("auto", "ds", "one-coin", "glad", "mv"):
        result = aggregate(df, method=method)
        assert result.labels["label"].tolist() == ["a", "b"]
        assert any("only one worker" in note for note in result.warnings)
    # an item with a single label among well-covered ones gets that label
    rows, _ = adversarial(20)
    rows = pd.concat([rows, frame([("lone", "a", 1)])], ignore_index=True)
    out = consensus(rows, method="ds").set_index("item")
    assert out.loc["lone", "label"] == 1 and out.loc["lone", "confidence"] > 0.9


def test_label_seen_only_in_gold() -> None:
    df, _ = adversarial(20)
    gold = pd.DataFrame({"item": [0, 1], "label": [2, 1]})
    result = aggregate(df, method="ds", gold=gold)
    assert result.classes == [0, 1, 2]
    assert result.labels.set_index("item").loc[0, "label"] == 2  # gold is kept
    assert (result.labels["label"].iloc[2:] != 2).all()
    assert any("appear only in gold" in note for note in result.warnings)


# ---- accuracy on the public data sets -----------------------------------------------------


def test_default_method_reaches_crowdkit_dawid_skene_on_public_sets() -> None:
    ours, theirs_mv = [], []
    for name in ("rte", "temp", "wsd"):
        labels, gold = load(name)
        out = consensus(labels).set_index("item")["label"]
        acc = float((out.reindex(gold["item"]).to_numpy() == gold["label"].to_numpy()).mean())
        assert acc >= CROWDKIT_DS[name] - 1e-12, name
        ours.append(acc)
        mv = consensus(labels, method="mv").set_index("item")["label"]
        theirs_mv.append(float((mv.reindex(gold["item"]).to_numpy() == gold["label"]).mean()))
    assert np.mean(ours) > np.mean(theirs_mv)
    assert np.mean(ours) > np.mean(list(CROWDKIT_MV.values()))


# ---- package hygiene ----------------------------------------------------------------------


def test_package_names_are_not_shadowed_and_layers_hold() -> None:
    code = (
        "import sys, assay.labeling as L\n"
        "import assay.labeling.aggregation, assay.labeling.stats, assay.labeling.preferences\n"
        "import assay.labeling.io\n"
        "from assay.labeling import consensus, agreement\n"
        "assert callable(consensus) and callable(agreement)\n"
        "bad = [m for m in sys.modules if m.startswith(('assay.evaluation', 'assay.sdk', "
        "'assay.server', 'assay.store'))]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# ---- CLI ----------------------------------------------------------------------------------


def _write_toy(tmp_path: Path) -> tuple[Path, Path]:
    df, truth = adversarial(20)
    labels = tmp_path / "labels.csv"
    df.to_csv(labels, index=False)
    gold = tmp_path / "gold.csv"
    pd.DataFrame({"item": list(truth)[:10], "label": list(truth.values())[:10]}).to_csv(
        gold, index=False
    )
    return labels, gold


def test_cli_consensus_end_to_end(tmp_path: Path) -> None:
    labels, gold = _write_toy(tmp_path)
    out, workers = tmp_path / "out.csv", tmp_path / "workers.csv"
    code, text = invoke(
        "labels", "consensus", str(labels), "--out", str(out), "--gold", str(gold),
        "--workers", str(workers),
    )  # fmt: skip
    assert code == 0, text
    assert "20 items, 3 workers, 2 classes" in text
    assert "method: auto: ds" in text and "Krippendorff's alpha" in text
    assert "accuracy on gold (5-fold, each fold hidden in turn): 1.0000" in text
    written = pd.read_csv(out, dtype=str)
    assert list(written.columns) == ["item", "label", "confidence"]
    assert written["label"].tolist() == [str(i % 2) for i in range(20)]
    assert set(pd.read_csv(workers)["worker"]) == {"a", "b", "c"}
    code, text = invoke("labels", "consensus", str(labels), "-o", str(out), "--method", "mv")
    assert code == 0 and "method: mv (asked for)" in text


def test_cli_consensus_columns_and_errors(tmp_path: Path) -> None:
    df, _ = adversarial(20)
    custom = tmp_path / "custom.csv"
    df.rename(columns={"item": "task", "worker": "annotator"}).to_csv(custom, index=False)
    out = tmp_path / "out.csv"
    code, text = invoke("labels", "consensus", str(custom), "-o", str(out))
    assert code == 1 and "missing column(s) 'item', 'worker'" in text
    code, text = invoke(
        "labels", "consensus", str(custom), "-o", str(out),
        "--item-column", "task", "--worker-column", "annotator",
    )  # fmt: skip
    assert code == 0, text
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    code, text = invoke("labels", "consensus", str(empty), "-o", str(out))
    assert code == 1 and "the file is empty" in text
    header = tmp_path / "header.csv"
    header.write_text("item,worker,label\n")
    code, text = invoke("labels", "consensus", str(header), "-o", str(out))
    assert code == 1 and "the table has no rows" in text
    code, text = invoke("labels", "consensus", str(tmp_path / "nope.csv"), "-o", str(out))
    assert code == 1 and "no such file" in text


def test_cli_stats(tmp_path: Path) -> None:
    path = tmp_path / "k.csv"
    _krippendorff_example().to_csv(path, index=False)
    code, text = invoke("labels", "stats", str(path))
    assert code == 0, text
    assert "Krippendorff's alpha (nominal): 0.7434" in text
    assert "unequal labels per item" in text
    code, text = invoke("labels", "stats", str(path), "--json")
    assert code == 0 and json.loads(text)["items"] == 11


def test_cli_rank(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.csv"
    rows = [("gpt", "llama", "gpt")] * 6 + [("gpt", "llama", "llama")] * 2
    rows += [("llama", "mistral", "llama")] * 5 + [("llama", "mistral", "mistral")] * 3
    pd.DataFrame(rows, columns=["a", "b", "winner"]).to_csv(pairs, index=False)
    out = tmp_path / "ranking.csv"
    code, text = invoke("labels", "rank", str(pairs), "--out", str(out))
    assert code == 0, text
    assert pd.read_csv(out)["item"].tolist() == ["gpt", "llama", "mistral"]


def _label_studio_export() -> list[dict[str, object]]:
    def annotation(who: object, choice: str, cancelled: bool = False) -> dict[str, object]:
        return {
            "id": 1,
            "completed_by": who,
            "was_cancelled": cancelled,
            "ground_truth": False,
            "result": [
                {
                    "from_name": "sentiment",
                    "to_name": "text",
                    "type": "choices",
                    "value": {"choices": [choice]},
                }
            ],
        }

    return [
        {
            "id": 1,
            "data": {"text": "great"},
            "annotations": [
                annotation(10, "Positive"),
                annotation({"id": 11, "email": "b@example.org"}, "Positive"),
                annotation(12, "Negative"),
            ],
            "predictions": [],
        },
        {
            "id": 2,
            "data": {"text": "awful"},
            "annotations": [
                annotation(10, "Negative"),
                annotation({"id": 11, "email": "b@example.org"}, "Negative"),
                annotation(12, "Positive", cancelled=True),
            ],
        },
        {"id": 3, "data": {"text": "no one looked"}, "annotations": []},
    ]


def test_label_studio_import(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(_label_studio_export()))
    df = read_label_studio(path)
    assert df.values.tolist() == [
        ["1", "10", "Positive"],
        ["1", "b@example.org", "Positive"],
        ["1", "12", "Negative"],
        ["2", "10", "Negative"],
        ["2", "b@example.org", "Negative"],
    ]
    out = tmp_path / "out.csv"
    code, text = invoke("labels", "consensus", str(path), "--out", str(out))  # .json: detected
    assert code == 0, text
    assert pd.read_csv(out, dtype=str)["label"].tolist() == ["Positive", "Negative"]
    code, text = invoke("labels", "stats", str(path), "--format", "label-studio")
    assert code == 0 and "2 items with 2+ labels" in text


def test_label_studio_bad_exports(tmp_path: Path) -> None:
    tasks = _label_studio_export()
    second = json.loads(json.dumps(tasks[0]["annotations"][0]))  # type: ignore[index]
    second["result"][0]["from_name"] = "topic"
    tasks[0]["annotations"].append(second)  # type: ignore[attr-defined]
    path = tmp_path / "two.json"
    path.write_text(json.dumps(tasks))
    with pytest.raises(InvalidInput, match=r"several questions .*'sentiment', 'topic'"):
        read_label_studio(path)
    assert len(read_label_studio(path, from_name="topic")) == 1
    code, text = invoke(
        "labels", "consensus", str(path), "-o", str(tmp_path / "o.csv"), "--from-name", "nope"
    )
    assert code == 1 and "no choices from 'nope'" in text
    multi = _label_studio_export()
    multi[0]["annotations"][0]["result"][0]["value"]["choices"] = ["a", "b"]  # type: ignore[index]
    path.write_text(json.dumps(multi))
    with pytest.raises(InvalidInput, match="task 1: an annotation picks 2 choices"):
        read_label_studio(path)
    path.write_text("{not json")
    with pytest.raises(InvalidInput, match="not a JSON file"):
        read_label_studio(path)
