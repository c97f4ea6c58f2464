"""Feedback on traces from the application (``assay.feedback(trace_id=...)`` and the
HTTP route, with its roles), LLM judges over traces writing feedback of source
``judge``, and datasets made from traces, evaluated with ``assay.evaluate``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import assay
from assay.cli.main import cli
from assay.errors import Forbidden, InvalidInput
from assay.records import RequestBatch, RequestEntry, Span, TraceFeedbackDraft
from assay.sdk import tracer
from assay.sdk.tracing import current_span
from assay.store.base import open_store
from tests.test_server import Team

T0 = 1_767_225_600_000_000_000


@pytest.fixture
def store_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    uri = str(tmp_path / "store")
    monkeypatch.setenv("ASSAY_URI", uri)
    monkeypatch.delenv("ASSAY_PROJECT", raising=False)
    yield uri
    tracer.close(timeout=5)


@pytest.fixture
def team(tmp_path: Path) -> Iterator[Team]:
    t = Team(tmp_path / "server")
    yield t
    t.client.close()


def _answer_app() -> Any:
    @assay.trace(project="support")
    def answer(question: str) -> dict[str, Any]:
        span = current_span()
        assert span is not None
        with assay.span("chat", kind="llm") as call:
            call.set_usage(model="gpt-4o-mini", provider="openai", input_tokens=10, output_tokens=2)
            call.set("assay.prompt.name", "support")
            call.set("assay.prompt.version", "v3")
        return {"text": question.upper(), "trace_id": span.trace_id}

    return answer


def test_the_app_gives_feedback_on_its_trace_and_reads_it_back(store_uri: str) -> None:
    answer = _answer_app()
    reply = answer("refund?")
    saved = assay.feedback(
        trace_id=reply["trace_id"], thumbs=False, comment="wrong order", project="support"
    )
    assay.feedback(trace_id=reply["trace_id"], name="accuracy", score=0.5, project="support")
    assert saved.source == "app" and saved.thumbs is False and saved.project == "support"
    assert assay.flush_traces()
    with assay.Api(store_uri) as api:
        (trace,) = api.traces("support")
        assert [(f.name, f.thumbs, f.score) for f in trace.feedback] == [
            ("feedback", False, None),
            ("accuracy", None, 0.5),
        ]
        assert trace.inputs == {"question": "refund?"}
        assert trace.output["text"] == "REFUND?"


def test_feedback_inside_the_trace_goes_to_the_spans_project(store_uri: str) -> None:
    @assay.trace(project="bot")
    def answer() -> str:
        span = current_span()
        assert span is not None
        assay.feedback(trace_id=span.trace_id, span_id=span.span_id, score=1)
        return span.trace_id

    trace_id = answer()
    with assay.Api(store_uri) as api:
        (found,) = api.store.traces.feedback("bot", [trace_id])
    assert found.span_id is not None and found.score == 1.0


def test_a_retried_feedback_with_its_id_is_stored_once(store_uri: str) -> None:
    trace_id = "ab" * 16
    for _ in range(2):
        assay.feedback(trace_id=trace_id, id="req-7", score=1, project="p")
    with assay.Api(store_uri) as api:
        assert len(api.store.traces.feedback("p")) == 1


def test_feedback_on_predictions_keeps_its_call_and_trace_words_need_a_trace(
    store_uri: str,
) -> None:
    logged = RequestEntry(model="clf", request_id="r-1", time=1.0, version="1", inputs={})
    store = open_store(store_uri)
    store.requests.write_batch(RequestBatch(writer="w", seq=0, entries=[logged]))
    store.close()
    saved = assay.feedback("p", "rating", 4, request_id="r-1")
    assert (saved.kind, saved.value, saved.request_id) == ("rating", 4, "r-1")
    with pytest.raises(InvalidInput, match="give trace_id"):
        assay.feedback("p", "rating", 4, request_id="r-1", score=1)
    with pytest.raises(InvalidInput, match="keywords only"):
        assay.feedback("p", trace_id="ab" * 16, score=1)


def test_the_feedback_route_lets_viewers_review_and_writers_report(team: Team) -> None:
    body = {"project": "alpha", "trace_id": "cd" * 16, "score": 1.0}
    app = team.client.post("/api/v1/trace-feedback", json=body, headers=team.headers("ann"))
    assert app.status_code == 201 and app.json()["source"] == "app"
    as_viewer = team.client.post("/api/v1/trace-feedback", json=body, headers=team.headers("vic"))
    assert as_viewer.status_code == 403
    review = {**body, "source": "human", "thumbs": True, "id": "rev-1"}
    for _ in range(2):
        answer = team.client.post(
            "/api/v1/trace-feedback", json=review, headers=team.headers("vic")
        )
        assert answer.status_code == 201
    outsider = team.client.post("/api/v1/trace-feedback", json=review, headers=team.headers("bob"))
    assert outsider.status_code == 403
    bad = team.client.post(
        "/api/v1/trace-feedback", json={**body, "score": "high"}, headers=team.headers("ann")
    )
    assert bad.status_code == 400
    listed = team.client.get(
        "/api/v1/trace-feedback",
        params={"project": "alpha", "trace_id": "cd" * 16},
        headers=team.headers("vic"),
    )
    assert [(f["source"], f["created_by"]) for f in listed.json()] == [
        ("app", "user:ann"),
        ("human", "user:vic"),
    ]
    with pytest.raises(Forbidden):
        team.store("bob").traces.feedback("alpha")


def _write_traces(uri: str) -> None:
    store = open_store(uri)
    spans = []
    for n, (question, answer) in enumerate([("2+2", "4"), ("capital of France", "Lyon")]):
        trace_id = f"{n + 1:032x}"
        spans += [
            Span(
                project="bot",
                trace_id=trace_id,
                span_id=f"{1:016x}",
                name="answer",
                start_ns=T0 + n * 10**9,
                end_ns=T0 + n * 10**9 + 5000,
                attributes={
                    "input.value": json.dumps({"q": question}),
                    "output.value": json.dumps(answer),
                },
            ),
            Span(
                project="bot",
                trace_id=trace_id,
                span_id=f"{2:016x}",
                parent_id=f"{1:016x}",
                name="chat gpt-4o-mini",
                model="gpt-4o-mini",
                operation="chat",
                start_ns=T0 + n * 10**9 + 1000,
                end_ns=T0 + n * 10**9 + 4000,
                attributes={
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "assay.prompt.name": "qa",
                    "assay.prompt.version": "v2",
                },
            ),
        ]
    store.traces.write(spans)
    for n, right in ((1, "4"), (2, "Paris")):
        store.traces.add_feedback(
            TraceFeedbackDraft(
                project="bot", trace_id=f"{n:032x}", source="human", correction=right
            )
        )
    store.close()


def test_a_judge_scores_traces_once_as_feedback_of_source_judge(store_uri: str) -> None:
    _write_traces(store_uri)
    asked: list[str] = []

    def judge(prompt: str) -> str:
        asked.append(prompt)
        return "yes" if "Answer: 4" in prompt else "no"

    scorer = assay.scorers.llm_judge(
        judge, "Question: {input}\nAnswer: {output}\nCorrect?", name="correct"
    )
    with assay.Api(store_uri) as api:
        written = api.traces("bot").judge(scorer)
        assert sorted((f.trace_id[-1], f.score, f.source) for f in written) == [
            ("1", 1.0, "judge"),
            ("2", 0.0, "judge"),
        ]
        assert "Answer: 4" in written[-1].data["prompt"] or "Answer: 4" in written[0].data["prompt"]
        assert api.traces("bot").judge(scorer) == []  # judged already: nothing asked again
    assert len(asked) == 2


def test_traces_become_a_dataset_that_evaluate_reads(store_uri: str) -> None:
    _write_traces(store_uri)
    with assay.Api(store_uri) as api:
        version = api.traces("bot", filter="model == 'gpt-4o-mini'").to_dataset("qa-cases")
        again = api.traces("bot").to_dataset("qa-cases")
    assert version.type == "dataset" and again.id == version.id  # same traces, same version
    meta = version.metadata
    assert meta["source"] == "traces" and meta["models"] == ["gpt-4o-mini"]
    assert meta["prompts"] == ["qa:v2"] and len(meta["traces"]) == 2
    report = assay.evaluate(
        lambda item: item["traced_output"],
        "qa-cases:latest",
        scorers=["exact_match"],
        label_column="expected",
        id_column="trace_id",
        project="bot",
        uri=store_uri,
        save=False,
    )
    (metric,) = report.metrics
    assert (metric.metric, metric.value) == ("exact_match", 0.5)  # "Lyon" is not "Paris"


def test_an_empty_selection_makes_no_dataset(store_uri: str) -> None:
    _write_traces(store_uri)
    with assay.Api(store_uri) as api, pytest.raises(InvalidInput, match="chose none"):
        api.traces("bot", filter="latency > 100").to_dataset("none")


def test_the_cli_makes_a_dataset_from_filtered_traces(store_uri: str) -> None:
    _write_traces(store_uri)
    result = CliRunner().invoke(
        cli,
        ["traces", "dataset", "--project", "bot", "--filter", "name == 'answer'", "--name", "qa"],
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "bot/qa:v0 from 2 traces"
