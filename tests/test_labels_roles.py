"""The annotator role, least privilege: it labels in the projects it is granted, as
itself only, and reads nothing else (no runs, no gold answers, no one else's labels)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from assay.errors import Forbidden
from assay.records import LabelItemDraft, LabelProjectDraft, LabelSchema
from tests.test_server import Team, new_run


@pytest.fixture
def team(tmp_path: Path) -> Iterator[Team]:
    t = Team(tmp_path / "server")
    t.auth.add_user("ant")
    t.keys["ant"] = t.auth.create_key("ant")[1]
    t.auth.grant("ant", "alpha", "annotator")
    yield t
    t.client.close()


def _project(team: Team, project: str = "alpha") -> str:
    writer = team.store("ann" if project == "alpha" else "bob")
    draft = LabelProjectDraft(
        project=project,
        name="sentiment",
        schema=LabelSchema(kind="single", choices=["pos", "neg"]),
        items=[
            LabelItemDraft(item_id="x", data={"text": "fine"}),
            LabelItemDraft(item_id="g", data={"text": "awful"}, gold="neg"),
        ],
        overlap=1,
    )
    return writer.labels.create(draft).id


def test_an_annotator_labels_in_a_granted_project(team: Team) -> None:
    project_id = _project(team)
    ant = team.store("ant")
    assert [p.id for p in ant.labels.list()] == [project_id]
    task = ant.labels.claim(project_id, "ant")
    assert task is not None
    done = ant.labels.submit(project_id, task.item_id, "ant", "pos")
    assert done.annotator == "ant"
    assert [a.item_id for a in ant.labels.annotations(project_id, "ant")] == [task.item_id]


def test_an_annotator_reads_no_runs_not_even_in_its_own_project(team: Team) -> None:
    team.store("ann").runs.write_batch(new_run("alpha"))
    ant = team.store("ant")
    with pytest.raises(Forbidden):
        ant.runs.list("alpha")
    assert team.client.get("/api/v1/projects", headers=team.headers("ant")).json() == []


def test_an_annotator_sees_no_gold_and_no_one_elses_labels(team: Team) -> None:
    project_id = _project(team)
    ant = team.store("ant")
    with pytest.raises(Forbidden):
        ant.labels.items(project_id)
    with pytest.raises(Forbidden):
        ant.labels.annotations(project_id)
    with pytest.raises(Forbidden):
        ant.labels.annotations(project_id, "vic")


def test_an_annotator_labels_as_itself_only(team: Team) -> None:
    project_id = _project(team)
    with pytest.raises(Forbidden, match="as themself only"):
        team.store("ant").labels.claim(project_id, "vic")


def test_an_annotator_cannot_change_a_project(team: Team) -> None:
    project_id = _project(team)
    ant = team.store("ant")
    with pytest.raises(Forbidden):
        ant.labels.add_items(project_id, [LabelItemDraft(item_id="y")])
    with pytest.raises(Forbidden):
        ant.labels.route(project_id, {"x": 1}, None, {})


def test_an_annotator_sees_nothing_of_other_projects(team: Team) -> None:
    other = _project(team, "beta")
    ant = team.store("ant")
    assert ant.labels.list() == []
    with pytest.raises(Forbidden):
        ant.labels.get(other)
    with pytest.raises(Forbidden):
        ant.labels.claim(other, "ant")


def test_a_viewer_reads_labels_but_cannot_label(team: Team) -> None:
    project_id = _project(team)
    vic = team.store("vic")
    assert len(vic.labels.items(project_id)) == 2
    task = vic.labels.claim(project_id, "vic")  # viewer includes annotator
    assert task is not None
