"""The contract of ``store.traces``: every backend must pass all of these."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from assay.errors import FilterSyntaxError, InvalidInput, LimitExceeded, NotFound
from assay.records import Span, SpanEvent, TraceFeedbackDraft
from assay.store import Store
from tests.conftest import StoreFactory

T0 = 1_700_000_000_000_000_000


def span(n: int, trace: int = 1, **fields: Any) -> Span:
    """Span ``n`` of trace ``trace``: span 1 is the root, the rest its children."""
    base: dict[str, Any] = {
        "project": "p",
        "trace_id": f"{trace:032x}",
        "span_id": f"{n:016x}",
        "parent_id": None if n == 1 else f"{1:016x}",
        "name": f"step {n}",
        "start_ns": T0 + trace * 10**9 + n * 1000,
        "end_ns": T0 + trace * 10**9 + n * 1000 + 500,
    }
    return Span(**{**base, **fields})


def test_a_trace_reads_back_with_its_spans_and_summary(store: Store) -> None:
    spans = [
        span(1, name="answer", end_ns=T0 + 10**9 + 2_000_000_000, attributes={"user": "u1"}),
        span(2, model="gpt-4o", input_tokens=100, output_tokens=20, cost=0.01),
        span(3, status="error", status_message="boom", events=[SpanEvent(name="e", time_ns=T0)]),
    ]
    assert store.traces.write(spans) == 3
    trace = store.traces.get(f"{1:032x}")
    assert (trace.name, trace.n_spans, trace.n_errors, trace.status) == ("answer", 3, 1, "error")
    assert (trace.input_tokens, trace.output_tokens, trace.tokens) == (100, 20, 120)
    assert trace.cost == pytest.approx(0.01)
    assert trace.latency == pytest.approx(2.0, abs=1e-5)
    assert [s.span_id for s in trace.spans] == [f"{n:016x}" for n in (1, 2, 3)]
    assert trace.spans[0].attributes == {"user": "u1"} and trace.spans[1].parent_id == f"{1:016x}"
    assert trace.spans[2].status_message == "boom" and trace.spans[2].events[0].name == "e"


def test_a_span_sent_again_is_stored_once(store: Store) -> None:
    first = [span(1), span(2, input_tokens=5)]
    assert store.traces.write(first) == 2
    assert store.traces.write([*first, span(3, input_tokens=7)]) == 1
    trace = store.traces.get(f"{1:032x}")
    assert trace.n_spans == 3 and trace.input_tokens == 12


def test_a_span_twice_in_one_write_is_stored_and_counted_once(store: Store) -> None:
    store.traces.write([span(1)])
    assert store.traces.write([span(2, input_tokens=5), span(1), span(2, input_tokens=5)]) == 1
    trace = store.traces.get(f"{1:032x}")
    assert trace.n_spans == 2 == len(trace.spans) and trace.input_tokens == 5


def test_threads_writing_through_one_store_each_hear_their_own_new_spans(store: Store) -> None:
    import threading

    # eight writers of one trace and of their own traces; every second span of the
    # shared trace is sent by two writers, so one of them hears it was new
    shared = [span(n, input_tokens=1) for n in range(1, 161)]
    counts: list[int] = []
    failures: list[BaseException] = []

    def send(k: int) -> None:
        try:
            for i in range(4):
                mine = [span(n, trace=100 + k) for n in range(1 + 20 * i, 21 + 20 * i)]
                twice = shared[k * 20 : k * 20 + 20] + shared[(k * 20 + 20) % 160 :][:10:2]
                counts.append(store.traces.write(mine + twice))
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=send, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    assert sum(counts) == 8 * 80 + 160
    trace = store.traces.get(f"{1:032x}")
    assert trace.n_spans == 160 == len(trace.spans) and trace.input_tokens == 160
    assert all(store.traces.get(f"{100 + k:032x}").n_spans == 80 for k in range(8))


def test_spans_of_one_trace_may_arrive_in_any_order(store: Store) -> None:
    store.traces.write([span(3), span(2)])
    assert store.traces.get(f"{1:032x}").name == "step 2"  # the earliest, until the root comes
    store.traces.write([span(1, name="root")])
    trace = store.traces.get(f"{1:032x}")
    assert (trace.name, trace.n_spans, trace.start_ns) == ("root", 3, span(1).start_ns)


def test_traces_list_newest_first_and_filter(store: Store) -> None:
    store.traces.write([span(1, trace=t) for t in (1, 2, 3)])
    store.traces.write([span(2, trace=2, model="gpt-4o-mini", input_tokens=10, cost=0.5)])
    store.traces.write([span(2, trace=3, status="error")])
    assert [t.trace_id[-1] for t in store.traces.list("p")] == ["3", "2", "1"]
    assert [t.trace_id[-1] for t in store.traces.list("p", limit=1, offset=1)] == ["2"]
    found = {
        "model == 'gpt-4o-mini'": ["2"],
        "status == 'error'": ["3"],
        "cost > 0.1 or errors >= 1": ["3", "2"],
        "tokens is null": ["3", "1"],
        "name ~ 'STEP' and spans == 1": ["1"],
        "model in ['x', 'gpt-4o-mini'] and latency < 1": ["2"],
        "not model == 'gpt-4o-mini'": ["3", "1"],
    }
    for text, expected in found.items():
        assert [t.trace_id[-1] for t in store.traces.list("p", filter=text)] == expected, text
    assert store.traces.list("other") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [("colour == 'red'", "unknown field 'colour'"), ("latency > 'slow'", "latency is a number")],
)
def test_a_bad_trace_filter_is_refused_by_name(store: Store, text: str, message: str) -> None:
    with pytest.raises(FilterSyntaxError, match=message):
        store.traces.list("p", filter=text)


def test_one_trace_id_in_two_projects_needs_the_project(store: Store) -> None:
    store.traces.write([span(1), span(1, project="q", name="other")])
    with pytest.raises(InvalidInput, match="several projects"):
        store.traces.get(f"{1:032x}")
    assert store.traces.get(f"{1:032x}", project="q").name == "other"
    with pytest.raises(NotFound):
        store.traces.get(f"{9:032x}")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"trace_id": "xyz"}, "trace id is 32"),
        ({"trace_id": "0" * 32}, "all-zero"),
        ({"span_id": "12"}, "span id is 16"),
        ({"project": "bad name!"}, "project name"),
        ({"name": "a\x00b"}, "NUL"),
        ({"end_ns": T0}, "ends before it starts"),
        ({"status": "maybe"}, "status 'maybe'"),
        ({"input_tokens": -1}, "input tokens"),
        ({"attributes": {"big": "x" * (5 << 20)}}, "bytes encoded"),
    ],
)
def test_a_bad_span_is_refused_and_nothing_of_its_write_is_stored(
    store_factory: StoreFactory, changes: dict[str, Any], message: str
) -> None:
    store = store_factory()
    store.traces.write([span(1)])
    bad = msgspec.structs.replace(span(3), **changes)
    with pytest.raises((InvalidInput, LimitExceeded), match=message):
        store.traces.write([span(2), bad])
    assert store.traces.get(f"{1:032x}").n_spans == 1


def test_a_thirty_thousand_span_trace_loads_whole(store: Store) -> None:
    n = 30_000
    spans = [span(i, input_tokens=1) for i in range(1, n + 1)]
    for i in range(0, n, 5_000):
        store.traces.write(spans[i : i + 5_000])
    trace = store.traces.get(f"{1:032x}")
    assert trace.n_spans == n == len(trace.spans) and trace.input_tokens == n
    assert len({s.span_id for s in trace.spans}) == n


def test_writers_racing_on_one_trace_count_each_span_once(store_factory: StoreFactory) -> None:
    import threading

    stores = [store_factory(), store_factory()]
    spans = [span(n, input_tokens=n, cost=0.25) for n in range(1, 401)]
    failures: list[BaseException] = []

    def send(store: Store, offset: int) -> None:
        try:
            for i in range(offset, 400, 40):  # overlapping slices: every span sent twice
                store.traces.write(spans[i : i + 60])
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=send, args=(s, k * 20)) for k, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    trace = stores[0].traces.get(f"{1:032x}")
    assert trace.n_spans == 400 == len(trace.spans) and trace.name == "step 1"
    assert trace.input_tokens == sum(range(1, 401)) and trace.cost == pytest.approx(100.0)


# ---- feedback on traces and spans ---------------------------------------------------------


def _feedback(**fields: Any) -> TraceFeedbackDraft:
    return TraceFeedbackDraft(**{"project": "p", "trace_id": f"{1:032x}", **fields})


def test_feedback_on_a_trace_and_a_span_reads_back_oldest_first(store: Store) -> None:
    store.traces.write([span(1), span(2)])
    first = store.traces.add_feedback(_feedback(name="helpful", thumbs=True, comment="great"))
    second = store.traces.add_feedback(
        _feedback(
            span_id=f"{2:016X}",
            name="correct",
            source="judge",
            score=0.25,
            correction={"answer": "42"},
            data={"judgement": "no"},
        )
    )
    assert (first.thumbs, first.score, first.comment, first.source) == (True, None, "great", "app")
    assert second.span_id == f"{2:016x}" and second.correction == {"answer": "42"}
    found = store.traces.feedback("p", [f"{1:032x}"])
    assert [(f.name, f.score, f.thumbs) for f in found] == [
        ("helpful", None, True),
        ("correct", 0.25, None),
    ]
    assert found[1].data == {"judgement": "no"} and found[1].source == "judge"
    assert [f.name for f in store.traces.feedback("p", source="judge")] == ["correct"]
    assert [f.name for f in store.traces.feedback("p", name="helpful")] == ["helpful"]
    assert store.traces.feedback("p", [f"{2:032x}"]) == []


def test_feedback_with_the_same_id_is_stored_once(store: Store) -> None:
    draft = _feedback(id="fb-1", score=1)
    first = store.traces.add_feedback(draft)
    again = store.traces.add_feedback(draft)
    assert first == again and first.id == "fb-1" and first.score == 1.0
    assert len(store.traces.feedback("p")) == 1
    with pytest.raises(InvalidInput, match="taken"):
        store.traces.add_feedback(_feedback(id="fb-1", trace_id=f"{9:032x}", score=1))


def test_feedback_may_come_before_its_trace(store: Store) -> None:
    store.traces.add_feedback(_feedback(project="fresh", thumbs=False))
    assert [f.thumbs for f in store.traces.feedback("fresh")] == [False]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"score": 1, "trace_id": "xyz"}, "trace_id"),
        ({"score": 1, "span_id": "12"}, "span_id"),
        ({}, "needs a score"),
        ({"score": float("nan")}, "finite"),
        ({"score": 1, "source": "robot"}, "source"),
        ({"score": 1, "name": ""}, "name"),
        ({"comment": "a\x00b"}, "NUL"),
        ({"score": 1, "id": "bad id!"}, "feedback id"),
        ({"score": 1, "project": "no spaces"}, "project"),
    ],
)
def test_bad_feedback_is_refused_and_nothing_is_stored(
    store: Store, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        store.traces.add_feedback(_feedback(**fields))
    assert store.traces.feedback("p") == []
