from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from assay.records import Columns
from assay.store.series import downsample, merge


def cols(steps: list[int], values: list[float]) -> Columns:
    return Columns(
        steps=np.array(steps, dtype="<i8"),
        times=np.zeros(len(steps)),
        values=np.array(values, dtype="<f8"),
    )


def test_merge_keeps_the_last_write_per_step() -> None:
    got = merge([cols([0, 1, 2], [1, 2, 3]), cols([1, 5], [20, 50]), cols([1], [200])])
    assert list(got.steps) == [0, 1, 2, 5] and list(got.values) == [1, 200, 3, 50]


@given(st.lists(st.tuples(st.integers(0, 50), st.floats(allow_nan=False)), max_size=200))
def test_merge_matches_a_dict_replay(pairs: list[tuple[int, float]]) -> None:
    expected: dict[int, float] = {}
    for step, value in pairs:
        expected[step] = value
    chunks = [cols([s], [v]) for s, v in pairs]
    got = merge(chunks)
    assert list(got.steps) == sorted(expected)
    assert list(got.values) == [expected[s] for s in sorted(expected)]


@given(st.integers(10, 5000), st.integers(4, 300), st.integers(0, 10_000))
def test_downsample_bounds_points_and_keeps_extremes(n: int, points: int, seed: int) -> None:
    values = np.random.default_rng(seed).normal(size=n)
    series = Columns(steps=np.arange(n, dtype="<i8"), times=np.zeros(n), values=values)
    got = downsample(series, points)
    assert len(got) <= max(points, 0) or len(got) == n
    assert got.values.max() == values.max() and got.values.min() == values.min()
    assert got.steps[0] == 0 and got.steps[-1] == n - 1
