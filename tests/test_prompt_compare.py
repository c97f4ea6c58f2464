"""The A/B comparison of a prompt's arms: Welch's t against scipy, the gate's verdicts,
and the per-arm figures read from the traces that recorded each version."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as scipy_stats

from assay import stats
from assay.errors import InvalidInput
from assay.prompting.compare import compare_arms
from assay.records import Span
from assay.sdk import prompts
from assay.store import Store, open_store

T0 = 1_700_000_000_000_000_000


def test_welch_difference_matches_scipy() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.normal(1.0, 2.0, 40), rng.normal(0.2, 0.5, 70)
    d = stats.welch_difference(a, b, 0.9)
    reference = scipy_stats.ttest_ind(a, b, equal_var=False)
    low, high = reference.confidence_interval(0.9)
    assert d.p_value == pytest.approx(reference.pvalue)
    assert (d.low, d.high) == (pytest.approx(low), pytest.approx(high))
    assert d.diff == pytest.approx(a.mean() - b.mean())
    lonely = stats.welch_difference([1.0], b)
    assert math.isnan(lonely.se) and lonely.p_value == 1.0


def test_a_worse_candidate_fails_and_names_the_metric() -> None:
    rng = np.random.default_rng(11)
    observations = {
        7: {
            "helpful": rng.binomial(1, 0.80, 1500).tolist(),
            "cost": rng.normal(0.01, 0.002, 1500).tolist(),
        },
        8: {
            "helpful": rng.binomial(1, 0.65, 200).tolist(),
            "cost": rng.normal(0.01, 0.002, 200).tolist(),
        },
    }
    report = compare_arms("support", "production", observations, {7: 90.0, 8: 10.0})
    assert report.baseline == 7
    assert report.verdict.status == "fail"
    assert "v8 against v7: helpful" in report.verdict.reason
    helpful = next(c for c in report.comparisons if c.metric == "helpful")
    assert helpful.decision == "fail" and helpful.diff < 0 and helpful.high < 0
    (v7, v8) = report.arms
    assert (v7.traces, v8.traces) == (1500, 200)
    assert v8.metrics["helpful"].low < v8.metrics["helpful"].value < v8.metrics["helpful"].high


def test_an_equal_candidate_passes_within_tolerance_and_a_small_sample_is_inconclusive() -> None:
    rng = np.random.default_rng(3)
    same = {
        v: {
            "latency": rng.normal(1.0, 0.1, 4000).tolist(),
            "helpful": rng.binomial(1, 0.8, 4000).tolist(),
        }
        for v in (1, 2)
    }
    passed = compare_arms("support", "production", same, {1: 50.0, 2: 50.0})
    assert passed.verdict.status == "pass", passed.verdict.reason
    few = {v: {"helpful": rng.binomial(1, 0.8, 12).tolist()} for v in (1, 2)}
    unsure = compare_arms("support", None, few, {})
    assert unsure.verdict.status == "inconclusive"
    assert "more traces would likely settle it" in unsure.verdict.reason
    tolerant = compare_arms("support", None, few, {}, tolerances={"helpful": 1.0})
    assert tolerant.verdict.status == "pass"


def _span(trace: int, n: int, **fields: object) -> Span:
    base: dict[str, object] = {
        "project": "shop",
        "trace_id": f"{trace:032x}",
        "span_id": f"{n:016x}",
        "parent_id": None if n == 1 else f"{1:016x}",
        "name": "answer" if n == 1 else "llm",
        "start_ns": T0 + trace * 10**9,
        "end_ns": T0 + trace * 10**9 + 10**8 * (1 + trace % 3),
    }
    return Span(**{**base, **fields})  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    uri = str(tmp_path / "store")
    monkeypatch.setenv("ASSAY_URI", uri)
    monkeypatch.setenv("ASSAY_PROJECT", "shop")
    opened = open_store(uri)
    yield opened
    opened.close()


def test_compare_reads_each_arm_from_the_traces_that_recorded_its_version(store: Store) -> None:
    for tone in ("brief", "warm"):
        prompts.commit(store, "shop", "support", f"Be {tone}: {{{{ question }}}}")
    store.prompts.set_label("shop", "support", "production", {"0": 80, "1": 20})
    spans = []
    for trace in range(1, 241):
        version = 0 if trace % 5 else 1
        used = {"assay.prompt.name": "support", "assay.prompt.version": version}
        score = {"assay.score.helpful": 1.0 if (trace % 7 or version == 0) else 0.0}
        spans += [
            _span(trace, 1, attributes=score),
            _span(trace, 2, attributes=used, cost=0.002 if version == 0 else 0.003),
        ]
    both = {"assay.prompt.name": "support"}  # a trace that used both versions counts for none
    spans += [
        _span(999, 1, attributes={**both, "assay.prompt.version": 0}),
        _span(999, 2, attributes={**both, "assay.prompt.version": 1}),
        _span(998, 1, attributes={"assay.prompt.name": "other", "assay.prompt.version": 1}),
    ]
    store.traces.write(spans)
    report = prompts.compare("support@production")
    arms = {a.version: a for a in report.arms}
    assert (arms[0].traces, arms[1].traces) == (192, 48)
    assert (arms[0].share, arms[1].share) == (80.0, 20.0)
    assert set(arms[1].metrics) == {"cost", "latency", "error", "helpful"}
    assert arms[1].metrics["cost"].value == pytest.approx(0.003)
    assert report.verdict.status == "fail"
    assert {c.metric for c in report.comparisons if c.decision == "fail"} >= {"cost"}
    assert report.to_dict()["verdict"]["status"] == "fail"


def test_compare_needs_two_known_versions(store: Store) -> None:
    prompts.commit(store, "shop", "support", "Be brief: {{ question }}")
    store.prompts.set_label("shop", "support", "production", {"0": 100})
    with pytest.raises(InvalidInput, match="nothing to compare"):
        prompts.compare("support@production")
    with pytest.raises(InvalidInput, match=r"no version\(s\) v4"):
        prompts.compare("support", versions=[0, 4])
