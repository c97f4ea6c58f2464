"""The statistics of evaluations, each checked against scipy / statsmodels / scikit-learn, and
the gate's behaviour on synthetic data with a known effect."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import stats as sps

from assay import stats
from assay.evaluation import report as rep
from assay.evaluation import scorers

statsmodels = pytest.importorskip("statsmodels.api")


def test_mean_estimate_matches_scipy_sem_and_t_interval() -> None:
    x = np.random.default_rng(1).normal(0.7, 0.3, size=57)
    est = stats.mean_estimate(x)
    assert est.se == pytest.approx(sps.sem(x)) and est.method == "t"
    low, high = sps.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=sps.sem(x))
    assert (est.low, est.high) == (pytest.approx(low), pytest.approx(high))
    assert est.method == "t" and est.n == 57


@pytest.mark.parametrize(("passed", "n"), [(36, 36), (31, 36), (0, 12), (870, 1000)])
def test_pass_rates_get_wilson_intervals_as_statsmodels(passed: int, n: int) -> None:
    from statsmodels.stats.proportion import proportion_confint

    x = np.r_[np.ones(passed), np.zeros(n - passed)]
    est = stats.mean_estimate(x)
    low, high = proportion_confint(passed, n, alpha=0.05, method="wilson")
    assert est.method == "Wilson"
    assert (est.low, est.high) == (pytest.approx(low), pytest.approx(high))
    assert 0 <= est.low <= est.value <= est.high <= 1
    if passed == n:
        assert est.low < 0.95  # all passing still leaves room below


def _clustered_data(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Pass/fail scores of 60 topics x 10 items, items within a topic strongly alike."""
    rng = np.random.default_rng(seed)
    topic_rate = rng.beta(2, 1, size=60)
    clusters = np.repeat(np.arange(60), 10)
    x = (rng.random(600) < topic_rate[clusters]).astype(float)
    return x, clusters


def test_clustered_se_matches_statsmodels_and_exceeds_naive_se() -> None:
    x, clusters = _clustered_data(0)
    se, groups = stats.clustered_se(x, clusters)
    fit = statsmodels.OLS(x, np.ones(len(x))).fit(cov_type="cluster", cov_kwds={"groups": clusters})
    assert groups == 60
    assert se == pytest.approx(float(fit.bse[0]), rel=1e-9)
    naive = stats.mean_estimate(x)
    clustered = stats.mean_estimate(x, clusters)
    assert clustered.method == "clustered Wilson" and clustered.clusters == 60
    assert clustered.se > 1.5 * naive.se
    assert clustered.high - clustered.low > 1.5 * (naive.high - naive.low)
    # on a pass rate far from 0 and 1, Wilson on the effective items is close to the clustered t
    t = stats.t_estimate(x, clusters)
    assert t.method == "clustered t" and t.se == clustered.se
    assert (clustered.low, clustered.high) == (
        pytest.approx(t.low, abs=0.01),
        pytest.approx(t.high, abs=0.01),
    )


def test_clustered_pass_rates_are_not_certain_when_every_item_passes() -> None:
    clusters = np.repeat(np.arange(10), 10)
    est = stats.mean_estimate(np.ones(100), clusters)
    assert est.se == 0 and est.high == 1
    # as wide as Wilson on one item per cluster: items of a cluster may all pass together
    assert est.low == pytest.approx(stats.wilson(1.0, 10)[0])
    d = stats.paired_difference(np.ones(100), np.ones(100), clusters)
    assert d.test == "clustered McNemar" and d.p_value == 1.0 and d.clusters == 10
    assert d.low < -0.1 and d.high > 0.1
    p_fail, p_pass = stats.one_sided(d, 0.01, True)
    assert stats.decide(p_fail, p_pass) == "inconclusive"


def test_clustered_mcnemar_is_mcnemar_chi_square_on_single_item_clusters() -> None:
    from statsmodels.stats.contingency_tables import mcnemar

    rng = np.random.default_rng(8)
    base = (rng.random(200) < 0.8).astype(float)
    cand = np.where(rng.random(200) < 0.15, 1 - base, base)
    table = [
        [np.sum((base == 1) & (cand == 1)), np.sum((base == 1) & (cand == 0))],
        [np.sum((base == 0) & (cand == 1)), np.sum((base == 0) & (cand == 0))],
    ]
    reference = mcnemar(table, exact=False, correction=False).pvalue
    assert stats.clustered_mcnemar(cand - base, np.arange(200)) == pytest.approx(reference)


def test_clustered_paired_pass_fail_interval_covers() -> None:
    """40 topics of 10 items whose disagreement rates differ widely by topic: the clustered
    interval keeps its coverage where the one that ignores the topics does not."""
    rng = np.random.default_rng(3)
    clusters = np.repeat(np.arange(40), 10)
    covered = {"clustered": 0, "naive": 0}
    for _ in range(600):
        up, down = rng.beta(0.3, 4.7, size=40)[clusters], rng.beta(0.3, 9.7, size=40)[clusters]
        u = rng.random(400)  # better with rate 0.06, worse with 0.03: the truth is 0.03
        cand = np.where((u >= up) & (u < up + down), 0.0, 1.0)
        base = np.where(u < up, 0.0, 1.0)
        for name, groups in (("clustered", clusters), ("naive", None)):
            d = stats.paired_difference(cand, base, groups)
            covered[name] += d.low <= 0.03 <= d.high
    assert covered["clustered"] / 600 > 0.9
    assert covered["naive"] / 600 < 0.87


def test_bootstrap_interval_agrees_with_scipy_percentile_bootstrap() -> None:
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 2, 400)
    pred = np.where(rng.random(400) < 0.8, truth, 1 - truth)
    scorer = scorers.f1()
    assert scorer.vectors is not None and scorer.combine is not None
    sums = stats.Sums(scorer.vectors(list(truth), list(pred)), scorer.combine)
    est = stats.bootstrap_estimate(sums, 400, draws=4000, seed=1)
    from sklearn.metrics import f1_score

    reference = sps.bootstrap(
        (truth, pred),
        lambda t, p: f1_score(t, p),
        paired=True,
        vectorized=False,
        n_resamples=2000,
        method="percentile",
        random_state=2,
    )
    assert est.value == pytest.approx(f1_score(truth, pred))
    assert est.low == pytest.approx(reference.confidence_interval.low, abs=0.01)
    assert est.high == pytest.approx(reference.confidence_interval.high, abs=0.01)
    assert est.se == pytest.approx(reference.standard_error, rel=0.1)


def test_cluster_bootstrap_is_wider_on_clustered_data() -> None:
    x, clusters = _clustered_data(5)
    mean = stats.Sums(np.column_stack([x, np.ones_like(x)]), lambda t: t[:, 0] / t[:, 1])
    plain = stats.bootstrap_estimate(mean, len(x), seed=0)
    grouped = stats.bootstrap_estimate(metric=mean, n=len(x), clusters=clusters, seed=0)
    assert grouped.method == "cluster bootstrap"
    assert grouped.high - grouped.low > 1.5 * (plain.high - plain.low)
    assert grouped.se == pytest.approx(stats.mean_estimate(x, clusters).se, rel=0.15)


def test_paired_t_matches_scipy_ttest_rel() -> None:
    rng = np.random.default_rng(4)
    base = rng.normal(size=80)
    cand = base + rng.normal(0.1, 0.5, size=80)
    d = stats.paired_difference(cand, base)
    reference = sps.ttest_rel(cand, base)
    assert d.test == "paired t"
    assert d.p_value == pytest.approx(reference.pvalue)
    assert d.diff == pytest.approx(float(np.mean(cand - base)))
    ci = reference.confidence_interval(0.95)
    assert (d.low, d.high) == (pytest.approx(ci.low), pytest.approx(ci.high))
    assert d.sd == pytest.approx(float(np.std(cand - base, ddof=1)))


def test_mcnemar_exact_matches_statsmodels() -> None:
    from statsmodels.stats.contingency_tables import mcnemar

    rng = np.random.default_rng(6)
    base = (rng.random(300) < 0.85).astype(float)
    cand = np.where(rng.random(300) < 0.1, 1 - base, base)
    d = stats.paired_difference(cand, base)
    table = [
        [np.sum((base == 1) & (cand == 1)), np.sum((base == 1) & (cand == 0))],
        [np.sum((base == 0) & (cand == 1)), np.sum((base == 0) & (cand == 0))],
    ]
    assert d.test == "McNemar exact"
    assert d.p_value == pytest.approx(mcnemar(table, exact=True).pvalue)
    assert stats.mcnemar_exact(base, base) == 1.0


def test_paired_proportions_interval_is_agresti_min_and_covers() -> None:
    cand = np.r_[np.ones(7), np.zeros(3), np.ones(40)]
    base = np.r_[np.zeros(7), np.ones(3), np.ones(40)]
    d = stats.paired_difference(cand, base)
    up, down = 7.5 / 52, 3.5 / 52  # 1/2 added to each cell
    half = 1.959963984540054 * math.sqrt((up + down - (up - down) ** 2) / 52)
    assert d.diff == pytest.approx(4 / 50) and d.middle == pytest.approx(up - down)
    assert (d.low, d.high) == (pytest.approx(up - down - half), pytest.approx(up - down + half))
    rng = np.random.default_rng(21)
    covered = 0
    for _ in range(2000):  # discordant cells of 6% and 3%: the true difference is 0.03
        u = rng.random(60)
        c = np.where(u < 0.06, 1.0, np.where(u < 0.09, 0.0, 1.0))
        b = np.where(u < 0.06, 0.0, np.where(u < 0.09, 1.0, 1.0))
        found = stats.paired_difference(c, b)
        covered += found.low <= 0.03 <= found.high
    assert 0.93 <= covered / 2000 <= 0.98


def test_identical_outcomes_on_few_items_do_not_pass_on_many_they_do() -> None:
    for n, expected in ((10, "inconclusive"), (5000, "pass")):
        same = np.r_[np.ones(n - n // 10), np.zeros(n // 10)]
        d = stats.paired_difference(same, same)
        assert d.low < 0 < d.high
        assert stats.decide(*stats.one_sided(d, 0.01, True)) == expected, n


def test_holm_matches_statsmodels() -> None:
    from statsmodels.stats.multitest import multipletests

    p = [0.01, 0.04, 0.03, 0.2, 0.001, 0.04]
    assert stats.holm(p) == pytest.approx(list(multipletests(p, method="holm")[1]))


@pytest.mark.parametrize(("sd", "delta"), [(0.3, 0.05), (0.5, 0.02), (1.0, 0.3)])
def test_items_for_power_matches_statsmodels_ttest_power(sd: float, delta: float) -> None:
    from statsmodels.stats.power import TTestPower

    expected = TTestPower().solve_power(effect_size=delta / sd, alpha=0.05, power=0.8)
    found = stats.items_for_power(None, delta, paired_sd=sd)
    assert found.items == math.ceil(expected)


def test_items_for_power_without_paired_sd_assumes_independent_outcomes() -> None:
    found = stats.items_for_power(0.9, 0.02)
    assert found.sd == pytest.approx(math.sqrt(0.9 * 0.1 + 0.88 * 0.12))
    assert "independent" in found.assumed
    tighter = stats.items_for_power(0.9, 0.02, paired_sd=0.2)
    assert tighter.items < found.items
    with pytest.raises(ValueError, match="exceed the tolerance"):
        stats.items_for_power(0.9, 0.01, tolerance=0.02)


# ---- corpus metrics as sums match scikit-learn --------------------------------------------------


@pytest.mark.parametrize("average", ["binary", "micro", "macro", "weighted"])
@pytest.mark.parametrize("name", ["precision", "recall", "f1"])
def test_summed_classification_metrics_match_sklearn(name: str, average: str) -> None:
    from sklearn import metrics

    rng = np.random.default_rng(7)
    classes = 2 if average == "binary" else 5
    truth = rng.integers(0, classes, 120)
    pred = np.where(rng.random(120) < 0.6, truth, rng.integers(0, classes + 1, 120))
    if average == "binary":
        pred = np.clip(pred, 0, 1)
    scorer = getattr(scorers, name)(average=average)
    sums = stats.Sums(scorer.vectors(list(truth), list(pred)), scorer.combine)
    function = getattr(metrics, f"{name}_score")
    for rows in (np.arange(120), np.arange(0, 120, 7), np.arange(3)):
        expected = function(truth[rows], pred[rows], average=average, zero_division=0)
        assert sums.value(rows) == pytest.approx(expected), rows
        assert scorer.metric(list(truth[rows]), list(pred[rows])) == pytest.approx(expected)


def test_summed_regression_metrics_match_sklearn() -> None:
    from sklearn.metrics import mean_squared_error, r2_score

    rng = np.random.default_rng(8)
    truth = rng.normal(size=50)
    pred = truth + rng.normal(0, 0.4, size=50)
    for scorer, expected in (
        (scorers.rmse(), math.sqrt(mean_squared_error(truth, pred))),
        (scorers.r2(), r2_score(truth, pred)),
    ):
        sums = stats.Sums(scorer.vectors(list(truth), list(pred)), scorer.combine)
        assert sums.value(np.arange(50)) == pytest.approx(expected)
        assert scorer.metric(list(truth), list(pred)) == pytest.approx(expected)


# ---- the gate on synthetic data ----------------------------------------------------------------


def _side(scores: np.ndarray, clusters: np.ndarray | None = None) -> rep.Side:
    n = len(scores)
    return rep.Side(
        ids=[str(i) for i in range(n)],
        clusters=[
            None if clusters is None else str(c)
            for c in (clusters if clusters is not None else range(n))
        ],
        slices=[{} for _ in range(n)],
        scores={"accuracy": scores.astype(float)},
        rows={},
    )


def _compared(
    candidate: rep.Side,
    baseline: rep.Side,
    chosen: list[Any],
    slices: list[str],
    tolerance: dict[str, float],
    *,
    level: float = 0.95,
) -> list[rep.Comparison]:
    """The paired comparisons at ``level``, from 1000 bootstrap draws with seed 0."""
    compared, _ = rep.compare(
        candidate=candidate,
        baseline=baseline,
        scorers=chosen,
        slices=slices,
        tolerance=tolerance,
        level=level,
        draws=1000,
        seed=0,
    )
    return compared


def _gate(candidate: np.ndarray, baseline: np.ndarray, tolerance: float) -> rep.Comparison:
    scorer = [scorers.accuracy()]
    compared = _compared(_side(candidate), _side(baseline), scorer, [], {"accuracy": tolerance})
    return compared[0]


def _pair(
    n: int, base_rate: float, drop: float, flip: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Baseline pass/fail at ``base_rate``; the candidate differs on a ``flip`` share of
    items, tilted so its rate is ``drop`` lower on average."""
    rng = np.random.default_rng(seed)
    base = (rng.random(n) < base_rate).astype(float)
    u = rng.random(n)
    to_fail = (base == 1) & (u < (flip + drop) / 2 / base_rate)
    to_pass = (base == 0) & (u < max(flip - drop, 0) / 2 / (1 - base_rate))
    cand = base.copy()
    cand[to_fail], cand[to_pass] = 0, 1
    return cand, base


def test_a_real_three_point_drop_fails() -> None:
    cand, base = _pair(10000, 0.9, 0.03, 0.06, seed=0)
    c = _gate(cand, base, tolerance=0.01)
    assert c.decision == "fail", c
    assert c.high < -0.01


def test_no_change_is_inconclusive_with_few_items_and_passes_with_many() -> None:
    few = _gate(*_pair(60, 0.9, 0.0, 0.06, seed=11), tolerance=0.01)
    assert few.decision == "inconclusive"
    assert few.more_items is not None and few.more_items > 60
    many = _gate(*_pair(20000, 0.9, 0.0, 0.06, seed=12), tolerance=0.01)
    assert many.decision == "pass", many


def test_false_fail_rate_over_no_change_comparisons_stays_near_nominal() -> None:
    """With tolerance 0 a no-change comparison fails when the CI's top end is below 0:
    nominally 2.5% of the time."""
    fails = sum(
        _gate(*_pair(400, 0.85, 0.0, 0.1, seed=1000 + i), tolerance=0.0).decision == "fail"
        for i in range(1500)
    )
    rate = fails / 1500
    assert 0.01 <= rate <= 0.045, rate


def test_holm_keeps_many_gated_slices_from_inflating_false_fails() -> None:
    """Ten slices of a no-change comparison, all gated: without correction about 1 - 0.975^11
    = 24% of runs would fail somewhere; with Holm it stays near 2.5%."""
    rng_slices = np.repeat(np.arange(10), 100)
    fails = 0
    runs = 300
    for i in range(runs):
        cand, base = _pair(1000, 0.85, 0.0, 0.1, seed=5000 + i)
        c_side, b_side = _side(cand), _side(base)
        for side in (c_side, b_side):
            side.slices = [{"topic": str(t)} for t in rng_slices]
        compared = _compared(c_side, b_side, [scorers.accuracy()], ["topic"], {"accuracy": 0.0})
        fails += any(c.decision == "fail" for c in compared)
    assert fails / runs <= 0.06


def test_verdict_names_failures_and_inconclusive_checks() -> None:
    cand, base = _pair(10000, 0.9, 0.03, 0.06, seed=0)
    compared = _compared(_side(cand), _side(base), [scorers.accuracy()], [], {"accuracy": 0.01})
    verdict = rep.verdict(compared, _side(cand), 0.0, True)
    assert verdict.status == "fail"
    assert "accuracy dropped by" in verdict.reason and "tolerance 0.01" in verdict.reason
    few = _compared(
        _side(cand[:50]), _side(base[:50]), [scorers.accuracy()], [], {"accuracy": 0.01}
    )
    undecided = rep.verdict(few, _side(cand[:50]), 0.0, True)
    assert undecided.status == "inconclusive"
    assert "more items" in undecided.reason


def test_lower_is_better_metrics_fail_when_they_rise() -> None:
    base = np.random.default_rng(13).gamma(2.0, 1.0, 2000)
    cand = base + 0.3 + np.random.default_rng(14).normal(0, 0.2, 2000)
    d = stats.paired_difference(cand, base)
    p_fail, p_pass = stats.one_sided(d, 0.1, higher_is_better=False)
    assert stats.decide(p_fail, p_pass) == "fail"
    p_fail, p_pass = stats.one_sided(d, 0.1, higher_is_better=True)
    assert stats.decide(p_fail, p_pass) == "pass"


# ---- what the gate shows is what it decided on ---------------------------------------------------


def _score_sides(diffs: dict[str, np.ndarray]) -> tuple[rep.Side, rep.Side, list[Any]]:
    """Candidate and baseline sides whose per-item score differences are ``diffs`` per slice
    value (scores that are not pass/fail, so the paired t interval and test apply)."""
    slices = [{"g": name} for name, d in diffs.items() for _ in d]
    d = np.concatenate(list(diffs.values()))
    cand, base = _side(1.0 + d), _side(np.ones(len(d)))
    for side in (cand, base):
        side.slices = slices
        side.scores = {"score": side.scores.pop("accuracy")}
    return cand, base, [scorers.custom(lambda item, out: out, name="score")]


def _drop(mean: float, n: int, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, 1, n)
    return mean + (noise - noise.mean()) / noise.std(ddof=1)  # exactly this mean, sd 1


def test_a_holm_inconclusive_check_shows_the_adjusted_interval_that_reaches_the_tolerance() -> None:
    """Two slices each 2.15 standard errors below zero: each 95% interval lies wholly below
    the tolerance (0), yet after Holm only the overall check fails. The report must show the
    interval each decision was made on."""
    t = 2.15 / math.sqrt(30)
    cand, base, chosen = _score_sides({"a": _drop(-t, 30, 1), "b": _drop(-t, 30, 2)})
    compared = _compared(cand, base, chosen, ["g"], {"score": 0.0})
    by_slice = {c.slice: c for c in compared}
    overall, sliced = by_slice[None], [by_slice["g=a"], by_slice["g=b"]]
    assert overall.decision == "fail" and overall.gate_high < 0
    for c in sliced:
        assert c.high < 0 and c.decision == "inconclusive"  # the unadjusted 95% CI is beyond
        assert c.gate_level is not None and c.gate_level > 0.95
        assert c.gate_low < 0 <= c.gate_high  # the adjusted one reaches the tolerance
    verdict = rep.verdict(compared, cand, 0.0, True)
    assert "Holm-adjusted 98.33% CI" in verdict.reason, verdict.reason


@pytest.mark.parametrize("binary", [True, False])
def test_each_decision_agrees_with_the_intervals_shown(binary: bool) -> None:
    """fail exactly when the (Holm-adjusted) interval lies beyond the tolerance; pass exactly
    when the level's interval lies within it."""
    for seed in range(12):
        rng = np.random.default_rng(seed)
        n = 2400
        if binary:
            cand, base = _pair(n, 0.9, 0.02 * rng.random(), 0.08, seed=seed)
            c_side, b_side, chosen = _side(cand), _side(base), [scorers.accuracy()]
            tolerance = {"accuracy": 0.005}
        else:
            d = rng.normal(-0.04 * rng.random(), 1, n)
            c_side, b_side, chosen = _score_sides({"all": d})
            tolerance = {"score": 0.01}
        for side in (c_side, b_side):
            side.slices = [{"g": str(i % 6)} for i in range(n)]
        compared = _compared(c_side, b_side, chosen, ["g"], tolerance)
        for c in compared:
            assert (c.decision == "fail") == (c.gate_high < -c.tolerance), c
            assert (c.decision == "pass") == (c.low > -c.tolerance), c


def test_verdicts_say_dropped_or_rose_by_a_positive_amount_with_the_level_used() -> None:
    cand, base = _pair(10000, 0.9, 0.03, 0.06, seed=0)
    compared = _compared(
        _side(cand), _side(base), [scorers.accuracy()], [], {"accuracy": 0.01}, level=0.9
    )
    reason = rep.verdict(compared, _side(cand), 0.0, True).reason
    (c,) = compared
    assert f"accuracy dropped by {rep.fmt(-c.diff)} (90% CI {rep.fmt(-c.high)} to" in reason
    assert "by -" not in reason and "95%" not in reason
    loss = scorers.ItemScorer("mae", lambda item, out, ref: out, higher_is_better=False)
    c_side, b_side = _side(base + 0.5), _side(base)
    for side in (c_side, b_side):
        side.scores = {"mae": side.scores.pop("accuracy")}
    compared = _compared(c_side, b_side, [loss], [], {"mae": 0.1})
    reason = rep.verdict(compared, c_side, 0.0, True).reason
    assert reason.startswith("mae rose by 0.5 (95% CI 0.5 to 0.5)"), reason


def test_a_bootstrap_p_value_of_zero_reads_as_below_its_resolution() -> None:
    assert rep.p_text(0.0, "paired bootstrap", 1999) == "< 0.0005"
    assert rep.p_text(0.0, "McNemar exact", 1999) == "0"
    assert rep.p_text(0.0312, "paired bootstrap", 1999) == "0.0312"
