"""Monitoring: profiles, drift tests and their calibration, the ``assay monitor`` CLI.

The calibration tests simulate no-drift windows of 100 mixed columns against a 5,000-row
reference and check the family-wise false-alarm rate of the window verdict; the same
windows tested column by column at alpha without correction must fail that bound, so the
tolerance is tight enough to catch an uncalibrated rule. Seeds are fixed throughout.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from click.testing import CliRunner
from scipy import stats

from assay.cli.main import cli
from assay.errors import InvalidInput
from assay.monitoring import DriftReport, Profile, drift, profile
from assay.monitoring.stattests import (
    StepCdf,
    chi_square,
    holm,
    ks_distance,
    ks_test,
    merge_rare,
)

ALPHA = 0.01
FEATURES = 100
LABELS = np.array([f"c{i}" for i in range(16)], dtype=object)


def mixed(n: int, rng: np.random.Generator, shift: float = 0.0) -> pd.DataFrame:
    """100 columns: normal, lognormal, counts (few and many values), categorical strings.
    ``shift`` moves column f0 (standard normal) by that many standard deviations."""
    cols: dict[str, Any] = {}
    for j in range(FEATURES):
        kind = j % 4
        if kind == 0:
            cols[f"f{j}"] = rng.normal(size=n) + (shift if j == 0 else 0.0)
        elif kind == 1:
            cols[f"f{j}"] = rng.lognormal(0.0, 1.0, size=n)
        elif kind == 2:
            cols[f"f{j}"] = rng.poisson(3 if j % 8 == 2 else 40, size=n)
        else:
            k = 3 + j % 12
            p = 1 / np.arange(1, k + 1)
            cols[f"f{j}"] = LABELS[rng.choice(k, size=n, p=p / p.sum())]
    return pd.DataFrame(cols)


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return mixed(5_000, np.random.default_rng(2026))


def _min_p(report: DriftReport) -> float:
    return min(f.p_value for f in report.features.values() if f.p_value is not None)


# --- calibration and power -----------------------------------------------------------


@pytest.mark.parametrize("rows", [100, 1_000])
def test_window_verdict_false_alarm_rate_is_at_most_alpha(
    reference: pd.DataFrame, rows: int
) -> None:
    windows = 60
    rng = np.random.default_rng(rows)
    alarms = uncorrected = 0
    for _ in range(windows):
        report = drift(reference, mixed(rows, rng), alpha=ALPHA)
        assert report.tested == FEATURES
        alarms += report.drifted
        uncorrected += _min_p(report) <= ALPHA  # each column at alpha, no correction
    tolerance = 0.05  # P(Binomial(60, 0.01) > 3) < 0.3%: a calibrated rule passes
    assert alarms / windows <= tolerance
    # the same windows, each column tested at alpha: far past the tolerance (about 60%)
    assert uncorrected / windows > 0.3


@pytest.mark.parametrize("rows", [100, 1_000])
def test_false_alarms_with_a_reference_of_their_own_stay_within_the_binomial_bound(
    rows: int,
) -> None:
    """Each window is tested against a 5,000-row reference drawn for it, so windows are
    independent and the count of false alarms is Binomial(windows, rate), rate <= alpha
    for a calibrated verdict (the rate a two-sample test promises is over both samples).
    alpha = 0.1 makes 200 windows enough to see a rule that is off by a factor: the bound
    is the count a rate of exactly alpha stays within in 99.9% of runs; the same windows
    read column by column without correction are far past it. (KS with the reference
    taken as the population is caught by the KS test further down.)"""
    from scipy.stats import binom

    alpha, windows = 0.1, 200
    bound = int(binom.ppf(0.999, windows, alpha))  # 34
    rng = np.random.default_rng([rows, 16])
    alarms = uncorrected = 0
    for _ in range(windows):
        report = drift(mixed(5_000, rng), mixed(rows, rng), alpha=alpha)
        assert report.tested == FEATURES
        alarms += report.drifted
        uncorrected += _min_p(report) <= alpha
    assert alarms <= bound  # 15 at 100 rows and 14 at 1,000 with these seeds
    assert uncorrected > 3 * bound


def test_false_alarm_rate_against_a_stored_profile(reference: pd.DataFrame) -> None:
    stored = Profile.from_bytes(profile(reference).to_bytes())
    rng = np.random.default_rng(11)
    alarms = sum(drift(stored, mixed(300, rng)).drifted for _ in range(40))
    assert alarms <= 2  # P(Binomial(40, 0.01) > 2) < 1%


@pytest.mark.parametrize("as_profile", [False, True])
def test_power_for_a_quarter_sd_shift_in_one_of_100_columns(
    reference: pd.DataFrame, as_profile: bool
) -> None:
    ref: Any = profile(reference) if as_profile else reference
    rng = np.random.default_rng(5)
    sims = 40
    windows = (mixed(1_000, rng, shift=0.25) for _ in range(sims))
    hits = sum(drift(ref, window).features["f0"].drifted for window in windows)
    # bench/monitoring.py measures about 0.99 over 200 windows; with 40 here, 34 hits
    # (0.85) fails a method whose true power is 0.95 with probability under 1%
    assert hits >= 34


def test_ks_p_values_count_the_reference_as_a_sample_not_the_population() -> None:
    """Each trial draws its own 5,000-row reference, so the rate is the one the test
    promises. Treating the reference as the population (a one-sample test at the window's
    size) gives p <= 0.002 in 50 of these 8,000 trials, three times too often."""
    rng = np.random.default_rng(44)
    trials, level = 8_000, 0.002
    small = 0
    for _ in range(trials):
        ref = StepCdf.exact(rng.normal(size=5_000), 5_000)
        cur = StepCdf.exact(rng.normal(size=1_000), 1_000)
        small += ks_test(ref, cur)[1] <= level
    # a calibrated test expects at most 16; P(Poisson(16) > 30) < 0.1%
    assert small <= 30


def test_a_chi_square_p_value_small_enough_to_decide_is_exact() -> None:
    """Pearson's asymptotic tail is too light far out (1.1-1.2 times too many p-values
    under 1e-4 with 6-14 categories at 1,000 rows): at or under the gate the p-value is
    the Monte Carlo one given the margins; above it the asymptotic one stands."""
    rng = np.random.default_rng(8)
    p = 1 / np.arange(1, 15)
    p /= p.sum()
    seen = {"exact": 0, "asymptotic": 0}
    for _ in range(400):
        ref = dict(zip(LABELS[:14], rng.multinomial(5_000, p).tolist(), strict=True))
        cur = dict(zip(LABELS[:14], rng.multinomial(1_000, p).tolist(), strict=True))
        table = merge_rare(ref, cur)
        rows = np.vstack([table.reference, table.current]).astype(float)
        asymptotic = stats.chi2_contingency(rows, correction=False).pvalue
        _, p_value, test = chi_square(table, threshold=1e-4, gate=0.05)
        if asymptotic <= 0.05:
            seen["exact"] += 1
            assert test == "chi-square (Monte Carlo)"
            assert 1e-4 / 5 <= p_value <= 1.0
        else:
            seen["asymptotic"] += 1
            assert test == "chi-square" and p_value == pytest.approx(asymptotic)
    assert seen["exact"] >= 5 and seen["asymptotic"] >= 300


def test_sketch_adjusted_ks_stays_calibrated_against_a_large_profile() -> None:
    """A reference far past the sketch's exact range: p-values must not be too small."""
    rng = np.random.default_rng(3)
    ref = profile(pd.DataFrame({"x": rng.normal(size=200_000)}), k=200)
    assert ref["x"].numbers is not None and ref["x"].numbers.rank_error > 0
    ps = np.array([drift(ref, pd.DataFrame({"x": rng.normal(size=20_000)})).features["x"].p_value
                   for _ in range(60)])  # fmt: skip
    assert np.mean(ps <= 0.05) <= 0.05 + 0.07
    assert np.mean(ps <= 0.2) <= 0.2 + 0.1


def test_a_fresh_profile_never_gives_a_smaller_p_value_than_the_exact_test() -> None:
    """Built here, a sketch knows its actual error: statistic - error <= the exact one."""
    rng = np.random.default_rng(15)
    ref = pd.DataFrame({"x": rng.lognormal(size=20_000), "n": rng.poisson(40, 20_000)})
    stored = profile(ref)
    x = stored["x"].numbers
    assert x is not None and 0 < x.rank_error < x.sketch.normalized_rank_error(False)
    for shift in (0.0, 0.02, 0.05, 0.1):
        cur = pd.DataFrame({"x": rng.lognormal(shift, size=3_000), "n": rng.poisson(40, 3_000)})
        exact, sketched = drift(ref, cur), drift(stored, cur)
        for name in ("x", "n"):
            assert sketched.features[name].p_value >= exact.features[name].p_value - 1e-12
    merged = stored.merge(profile(ref))["x"].numbers
    assert merged is not None and merged.measured_error is None
    assert merged.rank_error == merged.sketch.normalized_rank_error(False)


def test_ks_distance_and_p_value_match_scipy() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        a = np.round(rng.normal(size=300), 1)  # ties on purpose
        b = np.round(rng.normal(0.1, 1.0, size=700), 1)
        d = ks_distance(StepCdf.exact(a, 300), StepCdf.exact(b, 700))
        assert d == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)
    a, b = rng.normal(size=2_000), rng.normal(0.1, 1.0, size=3_000)
    d, p = ks_test(StepCdf.exact(a, 2_000), StepCdf.exact(b, 3_000))
    scipy_p = stats.ks_2samp(a, b, method="asymp").pvalue
    assert p == pytest.approx(scipy_p, rel=0.1)


def test_holm_matches_statsmodels() -> None:
    from statsmodels.stats.multitest import multipletests

    ps = {f"c{i}": p for i, p in enumerate([0.001, 0.04, 0.0002, 0.3, 0.012, 0.011])}
    rejected, adjusted = holm(ps, 0.05)
    reject_sm, adjusted_sm, _, _ = multipletests(list(ps.values()), 0.05, method="holm")
    assert [rejected[k] for k in ps] == list(reject_sm)
    assert [adjusted[k] for k in ps] == pytest.approx(list(adjusted_sm))


# --- each column type ------------------------------------------------------------------


def _typed(n: int, rng: np.random.Generator, changed: bool) -> pd.DataFrame:
    words = np.array(["red", "green", "blue", "amber"], dtype=object)
    ids = rng.integers(1_000, 10_000, n)  # unique-ish text, lengths from the word counts
    text = [" ".join(["w"] * int(k)) + f" {i}" for i, k in zip(ids, rng.poisson(6, n), strict=True)]
    return pd.DataFrame({
        "float": rng.normal(1.0 if changed else 0.0, 1.0, n),
        "few_ints": rng.poisson(4 if changed else 2, n),
        "many_ints": rng.integers(0, 1_000 if not changed else 1_500, n),
        "flag": rng.random(n) < (0.7 if changed else 0.5),
        "colour": words[rng.choice(4, n, p=[0.1, 0.2, 0.3, 0.4] if changed else None)],
        "text": [t + (" more words here" if changed else "") for t in text],
        "when": pd.Timestamp("2026-01-01") + pd.to_timedelta(
            rng.integers(0, 86_400 * (60 if changed else 30), n), unit="s"),
    })  # fmt: skip


def test_each_column_type_is_tested_the_right_way() -> None:
    rng = np.random.default_rng(8)
    ref = _typed(3_000, rng, changed=False)
    same = drift(ref, _typed(1_000, rng, changed=False))
    assert not same.drifted, same.summary()
    kinds = {n: (f.kind, f.test) for n, f in same.features.items()}
    assert kinds["float"] == ("numeric", "kolmogorov-smirnov")
    assert kinds["few_ints"][0] == "categorical" and kinds["few_ints"][1].startswith("chi-square")
    assert kinds["many_ints"] == ("numeric", "kolmogorov-smirnov")
    assert kinds["flag"][0] == kinds["colour"][0] == "categorical"
    assert kinds["text"] == ("text", "kolmogorov-smirnov (lengths)")
    assert kinds["when"][0] == "numeric"
    moved = drift(ref, _typed(1_000, rng, changed=True))
    assert moved.drifted
    assert sorted(moved.drifted_features) == sorted(ref.columns)
    assert moved.features["float"].wasserstein == pytest.approx(1.0, abs=0.15)
    assert moved.features["colour"].jensen_shannon is not None
    assert all(f.psi is not None and f.psi > 0 for f in moved.features.values())


def test_arrow_tables_and_profiles_are_accepted_on_either_side() -> None:
    rng = np.random.default_rng(9)
    ref = _typed(2_000, rng, changed=False)
    cur = _typed(500, rng, changed=True)
    for a, b in ((pa.Table.from_pandas(ref), cur), (profile(ref), pa.Table.from_pandas(cur)),
                 (profile(ref), profile(cur))):  # fmt: skip
        report = drift(a, b)
        assert report.drifted and report.tested == 7


def test_prediction_drift_is_the_same_call_on_prediction_columns() -> None:
    rng = np.random.default_rng(10)
    ref = pd.DataFrame({"x": rng.normal(size=2_000), "pred": rng.random(2_000) < 0.2})
    cur = pd.DataFrame({"x": rng.normal(size=500), "pred": rng.random(500) < 0.4})
    report = drift(ref, cur, columns=["pred"])
    assert list(report.features) == ["pred"] and report.drifted


def test_new_category_seen_a_few_times_in_a_small_window_is_caught() -> None:
    rng = np.random.default_rng(12)
    ref = pd.DataFrame({"c": LABELS[rng.choice(8, 5_000)]})
    cur = pd.DataFrame({"c": np.append(LABELS[rng.choice(8, 95)], ["brand-new"] * 5)})
    feature = drift(ref, cur).features["c"]
    assert feature.drifted and "Monte Carlo" in str(feature.test)
    missing = pd.DataFrame({"c": np.append(LABELS[rng.choice(8, 95)], [None] * 5)})
    assert drift(ref, missing).features["c"].drifted


# --- profiles: merge and serialisation -------------------------------------------------


def test_merged_profiles_equal_the_profile_of_the_concatenated_data() -> None:
    rng = np.random.default_rng(4)
    hours = [_typed(4_000, rng, changed=False) for _ in range(6)]
    for hour in hours[:3]:
        hour.loc[hour.index[:50], "float"] = np.nan
    day = Profile.merge_all(profile(h) for h in hours)
    whole = profile(pd.concat(hours, ignore_index=True))
    assert day.rows == whole.rows == 24_000
    for name, col in whole.columns.items():
        merged = day[name]
        assert (merged.kind, merged.rows, merged.missing) == (col.kind, col.rows, col.missing)
        assert merged.counts == col.counts
        if col.numbers is None:
            continue
        a, b = merged.numbers, col.numbers
        assert a is not None
        assert a.moments.count == b.moments.count
        assert a.moments.mean == pytest.approx(b.moments.mean, rel=1e-9, abs=1e-9)
        assert a.moments.variance == pytest.approx(b.moments.variance, rel=1e-9)
        assert (a.moments.low, a.moments.high) == (b.moments.low, b.moments.high)
        eps = a.rank_error + b.rank_error
        column = pd.concat(hours)[name].dropna()
        if col.kind == "string":
            column = column.str.len()
        if col.kind == "datetime":  # profiled as nanoseconds since the epoch
            column = pd.Series(column.to_numpy(dtype="datetime64[ns]").view(np.int64))
        values = np.sort(column.to_numpy(dtype=np.float64))
        for q in (0.01, 0.1, 0.5, 0.9, 0.99):
            value = a.sketch.get_quantile(q)
            low, high = (np.searchsorted(values, value, s) / len(values) for s in ("left", "right"))
            assert low - eps - 1e-3 <= q <= high + eps + 1e-3, (name, q)


def test_merge_keeps_labels_exact_until_the_cap_then_sketches_strings() -> None:
    a = profile(pd.DataFrame({"s": [f"id{i}" for i in range(700)], "n": np.arange(700)}))
    b = profile(pd.DataFrame({"s": [f"id{i}" for i in range(600, 1_300)], "n": np.arange(700)}))
    merged = a.merge(b)
    assert merged["s"].counts is None and merged["s"].frequent is not None
    assert merged["s"].top(1)[0][1] >= 2  # an upper bound once sketched
    assert merged["n"].counts == {str(i): 2 for i in range(700)}


def test_merge_across_schemas() -> None:
    ints = profile(pd.DataFrame({"x": [1, 2, 3]}))
    floats = profile(pd.DataFrame({"x": [1.5, 2.5], "y": ["a", "b"]}))
    merged = ints.merge(floats)
    assert merged["x"].kind == "float" and merged["x"].rows == 5
    assert (merged["y"].rows, merged["y"].missing, merged["y"].kind) == (5, 3, "string")
    with pytest.raises(InvalidInput, match="'y'"):
        merged.merge(profile(pd.DataFrame({"y": [1.0, 2.5]})))
    with pytest.raises(InvalidInput):
        Profile.merge_all([])


def test_profile_round_trips_through_bytes() -> None:
    rng = np.random.default_rng(6)
    frame = _typed(5_000, rng, changed=False)
    frame["empty"] = np.nan
    original = profile(frame)
    data = original.to_bytes()
    json.loads(data)  # plain JSON
    restored = Profile.from_bytes(data)
    assert list(restored.columns) == list(original.columns)
    for name, col in original.columns.items():
        back = restored[name]
        assert (back.kind, back.rows, back.missing, back.counts) == (
            col.kind, col.rows, col.missing, col.counts)  # fmt: skip
        if col.numbers is not None and col.numbers.moments.count:
            assert back.numbers is not None
            assert back.numbers.moments == col.numbers.moments
            qs = [0.1, 0.5, 0.9]
            assert back.numbers.sketch.get_quantiles(qs) == col.numbers.sketch.get_quantiles(qs)
    cur = _typed(800, rng, changed=True)
    assert drift(restored, cur).to_dict() == drift(original, cur).to_dict()
    for bad in (
        b"not json",
        b'{"format": "other"}',
        b'{"format":"assay.profile","version":99}',
        b'{"format":"assay.profile","version":1,"rows":1,"columns":[{"name":"x"}]}',
    ):
        with pytest.raises(InvalidInput):
            Profile.from_bytes(bad)  # fmt: skip


# --- problems are named, never a crash, never a silent pass ------------------------------


def test_every_bad_input_is_named_in_the_report() -> None:
    rng = np.random.default_rng(1)
    n = 500
    ref = pd.DataFrame({
        "ok": rng.normal(size=n), "const": 7.0, "const_moves": 1.0, "empty": np.nan,
        "empties": rng.normal(size=n), "gone": rng.normal(size=n), "typed": rng.normal(size=n),
        "z": rng.normal(size=n) + 1j,
    })  # fmt: skip
    cur = pd.DataFrame({
        "ok": rng.normal(size=n), "const": 7.0, "const_moves": rng.normal(size=n),
        "empty": np.nan, "empties": np.nan, "new": 1, "typed": ["a"] * n,
        "z": rng.normal(size=n) + 1j,
    })  # fmt: skip
    report = drift(ref, cur)
    status = {name: f.status for name, f in report.features.items()}
    assert status == {
        "ok": "tested", "const": "constant", "const_moves": "tested", "empty": "all_missing",
        "empties": "tested", "gone": "only_in_reference", "typed": "type_changed",
        "z": "unsupported", "new": "only_in_current",
    }  # fmt: skip
    drifted = set(report.drifted_features)
    assert drifted == {"const_moves", "empties", "gone", "typed", "new"}
    assert report.drifted
    named = " ".join(report.problems)
    for name in ("const", "empty", "empties", "gone", "typed", "z", "new"):
        assert f"{name}:" in named
    assert report.features["empties"].kind == "missingness"
    # a column with no values has no real type: strings arriving are a missing-rate change
    arrived = drift(ref[["empty"]], pd.DataFrame({"empty": ["x"] * n}))
    assert arrived.features["empty"].kind == "missingness" and arrived.drifted
    assert "problems:" in report.summary()
    json.dumps(report.to_dict())


def test_infinite_values_are_values() -> None:
    rng = np.random.default_rng(16)
    ref = pd.DataFrame({"x": np.append(rng.normal(size=990), [np.inf] * 5 + [-np.inf] * 5)})
    same = pd.DataFrame({"x": np.append(rng.normal(size=495), [np.inf, -np.inf] * 2 + [np.nan])})
    moved = pd.DataFrame({"x": np.append(rng.normal(size=400), [-np.inf] * 100)})
    assert not drift(ref, same).drifted
    assert drift(ref, moved).drifted and drift(profile(ref), moved).drifted
    assert Profile.from_bytes(profile(ref).to_bytes())["x"].rows == 1_000


def test_a_window_too_small_is_not_judged_and_says_so() -> None:
    rng = np.random.default_rng(2)
    report = drift(mixed(1_000, rng), mixed(10, rng))
    assert not report.drifted and report.tested == 0
    assert all(f.status == "too_small" for f in report.features.values())
    assert any("not judged" in p for p in report.problems)
    empty = drift(mixed(1_000, rng), mixed(0, rng))
    assert empty.tested == 0 and empty.problems


def test_invalid_arguments_raise_invalid_input() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0]})
    with pytest.raises(InvalidInput, match="alpha"):
        drift(frame, frame, alpha=1.5)
    with pytest.raises(InvalidInput, match="nope"):
        drift(frame, frame, columns=["nope"])
    with pytest.raises(InvalidInput, match="DataFrame"):
        drift([1, 2, 3], frame)
    with pytest.raises(InvalidInput, match="duplicate"):
        profile(pd.DataFrame([[1, 2]], columns=["a", "a"]))
    with pytest.raises(InvalidInput, match="k must"):
        profile(frame, k=1)


def test_monitoring_imports_no_other_domain_package() -> None:
    code = (
        "import sys, assay.monitoring, assay.cli.monitor; "
        "bad = [m for m in sys.modules if m.split('.')[:2] in (['assay', 'evaluation'], "
        "['assay', 'sdk'], ['assay', 'server'], ['assay', 'store'], ['assay', 'labeling'])]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# --- the CLI ---------------------------------------------------------------------------


def _files(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(13)
    ref, same, moved = (_typed(n, rng, c) for n, c in ((3_000, False), (800, False), (800, True)))
    paths = {"ref": tmp_path / "ref.csv", "same": tmp_path / "same.parquet",
             "moved": tmp_path / "moved.jsonl", "tiny": tmp_path / "tiny.csv"}  # fmt: skip
    ref.to_csv(paths["ref"], index=False)
    same.to_parquet(paths["same"])
    moved.to_json(paths["moved"], orient="records", lines=True, date_format="iso")
    same.head(5).to_csv(paths["tiny"], index=False)
    return paths


def test_cli_monitor_drift_end_to_end(tmp_path: Path) -> None:
    paths = _files(tmp_path)
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(cli, ["monitor", "drift", *args], catch_exceptions=False)

    same = run(str(paths["ref"]), str(paths["same"]))
    assert same.exit_code == 0, same.output
    assert "no drift" in same.output
    moved = run(str(paths["ref"]), str(paths["moved"]), "--json")
    assert moved.exit_code == 1, moved.output
    body = json.loads(moved.output)
    assert body["drifted"] and "float" in body["drifted_features"]
    only = run(str(paths["ref"]), str(paths["moved"]), "--columns", "flag,colour", "--json")
    assert set(json.loads(only.output)["features"]) == {"flag", "colour"}
    saved = tmp_path / "ref.profile"
    made = runner.invoke(cli, ["monitor", "profile", str(paths["ref"]), "-o", str(saved)])
    assert made.exit_code == 0, made.output
    assert run(str(saved), str(paths["moved"]), "--alpha", "0.001").exit_code == 1
    assert run(str(saved), str(paths["same"])).exit_code == 0


def test_cli_monitor_drift_bad_input_exits_2(tmp_path: Path) -> None:
    paths = _files(tmp_path)
    runner = CliRunner()
    odd = tmp_path / "data.xyz"
    odd.write_text("a\n1\n")
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet")
    for args in (
        [str(tmp_path / "missing.csv"), str(paths["same"])],
        [str(paths["ref"]), str(odd)],
        [str(paths["ref"]), str(broken)],
        [str(paths["ref"]), str(paths["same"]), "--columns", "nope"],
        [str(paths["ref"]), str(paths["same"]), "--alpha", "2"],
        [str(paths["ref"]), str(paths["tiny"])],  # nothing could be judged
    ):
        result = runner.invoke(cli, ["monitor", "drift", *args])
        assert result.exit_code == 2, (args, result.output)
        as_json = runner.invoke(cli, ["monitor", "drift", *args, "--json"])
        assert as_json.exit_code == 2, (args, as_json.output)
        body = json.loads(as_json.stdout)
        # bad input names what was wrong; a window too small is a report naming it
        assert body.get("error") or "not judged" in " ".join(body["problems"])


def test_summary_is_a_readable_table() -> None:
    rng = np.random.default_rng(14)
    text = drift(_typed(1_000, rng, False), _typed(300, rng, True)).summary()
    assert text.startswith("DRIFT")
    assert "column" in text and "p (Holm)" in text and "float" in text


@pytest.mark.parametrize(
    "values",
    [
        np.array([3.0, 1.0, 3.0, 2.0, 3.0, 1.0]),  # ties
        np.array([7.0] * 50),  # constant
        np.array([-4.0, 0.0, 12.0, -4.0, 5.0]),  # negative, gaps
        np.array([0.5, 1.0, 2.0]),  # not whole: sorted instead
        np.array([0.0, 1e9, 5.0]),  # range wider than the sample: sorted instead
    ],
)
def test_counting_whole_numbers_gives_the_same_step_cdf_as_sorting(values: Any) -> None:
    rows = len(values) + 3  # three missing
    counted = StepCdf.exact(values, rows, whole=True)
    ordered = np.sort(values)
    ends = np.append(np.flatnonzero(ordered[1:] != ordered[:-1]), len(values) - 1)
    assert counted.values.tolist() == ordered[ends].tolist()
    assert counted.cum.tolist() == ((ends + 1) / len(values)).tolist()
    assert counted.missing == 3 and counted.rows == rows


def test_ks_distance_with_missing_values_and_ties_matches_the_expanded_cdfs() -> None:
    """The other side is looked up at the walked side's points; missing mass sits at -inf."""
    rng = np.random.default_rng(21)
    for _ in range(20):
        a = rng.poisson(3, 400).astype(float)
        b = rng.poisson(3.3, 900).astype(float)
        ca, cb = StepCdf.exact(a, 450, whole=True), StepCdf.exact(b, 1_000)
        grid = np.concatenate(([-np.inf], np.arange(-1.0, 20.0, 0.5)))
        fa = np.where(grid == -np.inf, 50 / 450, (50 + (a[:, None] <= grid).sum(0)) / 450)
        fb = np.where(grid == -np.inf, 100 / 1_000, (100 + (b[:, None] <= grid).sum(0)) / 1_000)
        assert ks_distance(ca, cb) == pytest.approx(np.abs(fa - fb).max(), abs=1e-12)
        assert ks_distance(cb, ca) == ks_distance(ca, cb)
