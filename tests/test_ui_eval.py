"""Evaluation pages over ASGI: the report, the comparison, flips, links, escaping and roles;
and the evaluation routes' roles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from assay.artifacts.artifact import Artifact, log_artifact
from assay.errors import Forbidden
from assay.evaluation.evaluator import Options
from assay.evaluation.evaluator import evaluate as run_evaluation
from tests.test_server import Team
from tests.test_ui_catalog import _get


@pytest.fixture
def site(tmp_path: Path) -> Team:
    return Team(tmp_path / "server")


def _seed(team: Team, tmp_path: Path) -> tuple[str, str, str]:
    """A dataset artifact and a model artifact in alpha; an evaluation of the model against
    a baseline function, with a flip each way and one item whose input is markup."""
    folder = tmp_path / "data"
    folder.mkdir()
    rows = ["id,text,label"] + [f"{i},item {i},{i % 2}" for i in range(40)]
    rows[5] = "4,<script>alert(1)</script>,0"
    (folder / "items.csv").write_text("\n".join(rows) + "\n")
    ann = team.store("ann")
    data = Artifact("qa", type="dataset")
    data.add_dir(folder)
    dataset = log_artifact(ann, data, "alpha")
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "w.bin").write_bytes(b"w")
    weights = Artifact("clf", type="model")
    weights.add_dir(tmp_path / "m")
    model = log_artifact(ann, weights, "alpha")
    ann.models.register(model.id, "clf")

    def baseline(item: dict[str, Any]) -> int:  # wrong on item 3 only
        return (item["id"] % 2) ^ (item["id"] == 3)

    def candidate(item: dict[str, Any]) -> int:  # wrong on item 4 only
        return (item["id"] % 2) ^ (item["id"] == 4)

    options = Options(label_column="label", id_column="id", tolerance={"accuracy": 0.05})
    base = run_evaluation(baseline, "qa:latest", ["accuracy"], options, store=ann, project="alpha")
    report = run_evaluation(
        candidate,
        "qa:latest",
        ["accuracy"],
        options,
        baseline=f"eval:{base.id}",
        store=ann,
        project="alpha",
        name="regression <suite>",
    )
    ann.models.set_alias("clf", "production", 1, reason="passed", evidence=f"eval:{report.id}")
    return str(report.id), dataset.id, model.id


def test_the_report_page_shows_metrics_comparison_and_flips(site: Team, tmp_path: Path) -> None:
    evaluation_id, _, _ = _seed(site, tmp_path)
    code, html = _get(site, "vic", f"/evaluations/{evaluation_id}")
    assert code == 200
    assert 'id="metrics"' in html and 'id="comparison"' in html
    assert "regression &lt;suite&gt;" in html and "<suite>" not in html
    assert "McNemar exact" in html and "On 40 shared items" in html
    broke = html.split('id="flips-broke"')[1].split("</table>")[0]
    fixed = html.split('id="flips-fixed"')[1].split("</table>")[0]
    assert "<td>4</td>" in broke and "<td>3</td>" in fixed
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in broke and "<script>alert" not in html
    assert "/projects/alpha/artifacts/qa?v=0" in html  # the dataset version
    code, html = _get(site, "vic", f"/evaluations/{evaluation_id}?scorer=nope")
    assert code == 404


def test_versions_and_models_link_to_their_evaluations(site: Team, tmp_path: Path) -> None:
    evaluation_id, dataset_id, _ = _seed(site, tmp_path)
    code, html = _get(site, "vic", "/projects/alpha/artifacts/qa?v=0")
    assert code == 200 and f"/evaluations/{evaluation_id}" in html
    code, html = _get(site, "vic", "/projects/alpha/evaluations")
    assert code == 200 and "regression &lt;suite&gt;" in html and html.count("/evaluations/") >= 2
    code, html = _get(site, "vic", f"/projects/alpha/evaluations?version={dataset_id}")
    assert code == 200 and evaluation_id in html
    code, html = _get(site, "vic", "/models/clf")
    assert code == 200 and f'href="/evaluations/{evaluation_id}"' in html
    assert "/projects/alpha/evaluations?version=" in html


def test_other_projects_evaluations_are_forbidden(site: Team, tmp_path: Path) -> None:
    evaluation_id, _, _ = _seed(site, tmp_path)
    for path in (f"/evaluations/{evaluation_id}", "/projects/alpha/evaluations"):
        assert _get(site, "bob", path)[0] == 403, path
    bob = site.store("bob")
    with pytest.raises(Forbidden):
        bob.evaluations.get(evaluation_id)
    with pytest.raises(Forbidden):
        bob.evaluations.items(evaluation_id)
    assert bob.evaluations.list() == []
    vic = site.store("vic")
    assert evaluation_id in [e.id for e in vic.evaluations.list("alpha")]
    draft_items = vic.evaluations.items(evaluation_id)
    assert len(draft_items) == 40


def test_storing_needs_the_writer_role_and_read_access_to_what_it_links(
    site: Team, tmp_path: Path
) -> None:
    evaluation_id, dataset_id, _ = _seed(site, tmp_path)
    from assay.records import EvalItem, EvaluationDraft

    def draft(project: str, **links: Any) -> EvaluationDraft:
        fields: dict[str, Any] = {
            "project": project,
            "name": "n",
            "model": "m",
            "model_key": "k",
            "model_version_id": None,
            "dataset": "d",
            "dataset_digest": "x",
            "dataset_version_id": None,
            "baseline_id": None,
            "run_id": None,
            "verdict": None,
            "report": {},
            "items": [EvalItem(item_id="a")],
        }
        return EvaluationDraft(**{**fields, **links})

    with pytest.raises(Forbidden):
        site.store("vic").evaluations.save(draft("alpha"))
    bob = site.store("bob")
    with pytest.raises(Forbidden):
        bob.evaluations.save(draft("beta", dataset_version_id=dataset_id))
    with pytest.raises(Forbidden):
        bob.evaluations.save(draft("beta", baseline_id=evaluation_id))
    assert bob.evaluations.save(draft("beta")).project == "beta"


def test_a_report_without_baseline_shows_its_errors(site: Team, tmp_path: Path) -> None:
    def flaky(item: dict[str, Any]) -> int:
        if item["id"] == 2:
            raise ValueError("<b>bad</b> input")
        return 0

    rows = [{"id": i, "label": 0} for i in range(10)]
    options = Options(label_column="label", id_column="id", max_errors=0.5)
    report = run_evaluation(
        flaky, rows, ["accuracy"], options, store=site.store("ann"), project="alpha"
    )
    code, html = _get(site, "vic", f"/evaluations/{report.id}")
    assert code == 200 and 'id="comparison"' not in html and "Flips" not in html
    errors = html.split('id="errors"')[1].split("</table>")[0]
    assert "ValueError: &lt;b&gt;bad&lt;/b&gt; input" in errors
    assert "1 calls raised" in html and "none" in html  # no baseline


def test_flips_are_counted_in_all_and_shown_up_to_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from assay.records import EvalItem
    from assay.server.ui import eval_views

    monkeypatch.setattr(eval_views, "FLIPS_SHOWN", 3)
    before = [EvalItem(item_id=f"q{i}", output=i, scores={"ok": float(i % 2)}) for i in range(20)]
    now = [
        EvalItem(item_id=f"q{i}", output=-i, scores={"ok": 1.0 if i < 4 else 0.0})
        for i in range(20)
    ]
    broke, fixed, total = eval_views.flips(now, before, "ok")
    # odd ids from 5 on passed before and fail now (8 of them); 0 and 2 fail before, pass now
    assert [f.item_id for f in broke] == ["q5", "q7", "q9"] and total == 8
    assert [f.item_id for f in fixed] == ["q0", "q2"]
    assert (broke[0].candidate, broke[0].baseline) == ("-5", "5")


def test_the_page_prints_the_level_used_and_the_holm_adjusted_interval(site: Team) -> None:
    """The page said "95% CI" whatever level the report was made at; a gated check decided
    at a Holm-adjusted level shows that interval beside the ordinary one, as the CLI does."""
    from assay.records import EvalItem, EvaluationDraft

    def row(metric: str, gate_level: float | None) -> dict[str, Any]:
        return {
            "metric": metric,
            "slice": None,
            "candidate": 0.8,
            "baseline": 0.82,
            "diff": -0.02,
            "low": -0.051,
            "high": 0.011,
            "p_value": 0.2,
            "test": "paired bootstrap",
            "tolerance": 0.05,
            "decision": "inconclusive",
            "level": 0.9,
            "gate_level": gate_level,
            "gate_low": -0.0612 if gate_level else None,
            "gate_high": 0.0213 if gate_level else None,
        }

    report = {
        "config": {"level": 0.9},
        "metrics": [
            {
                "metric": "accuracy",
                "slice": None,
                "value": 0.8,
                "low": 0.7,
                "high": 0.9,
                "se": 0.05,
                "n": 40,
                "method": "wilson",
            },
        ],
        "compare": [row("accuracy", 0.95), row("f1", 0.9), row("recall", None)],
        "verdict": {"status": "inconclusive", "reason": "too few items"},
    }
    ann = site.store("ann")
    base = ann.evaluations.save(
        EvaluationDraft(
            project="alpha",
            name="b",
            model="m",
            model_key="k",
            model_version_id=None,
            dataset="d",
            dataset_digest="x",
            dataset_version_id=None,
            baseline_id=None,
            run_id=None,
            verdict=None,
            report={},
            items=[EvalItem(item_id="a")],
        )
    )
    saved = ann.evaluations.save(
        EvaluationDraft(
            project="alpha",
            name="levels",
            model="m",
            model_key="k",
            model_version_id=None,
            dataset="d",
            dataset_digest="x",
            dataset_version_id=None,
            baseline_id=base.id,
            run_id=None,
            verdict="inconclusive",
            report=report,
            items=[EvalItem(item_id="a")],
        )
    )
    code, html = _get(site, "vic", f"/evaluations/{saved.id}")
    assert code == 200 and "95% CI" not in html
    metrics = html.split('id="metrics"')[1].split("</table>")[0]
    assert "90% CI" in metrics
    table = html.split('id="comparison"')[1].split("</table>")[0]
    assert "90% CI" in table and "Holm-adjusted CI" in table
    assert "95%: -0.0612 to 0.0213" in table  # accuracy was gated at 95%
    assert table.count('class="num holm-ci"></td>') == 2  # f1 (same level) and recall: none
