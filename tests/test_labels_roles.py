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


PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99"
    b"=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)


def test_an_image_is_shown_only_to_who_has_a_turn_on_its_item(team: Team, tmp_path: Path) -> None:
    from assay.artifacts.artifact import Artifact, log_artifact
    from assay.sdk import labels
    from assay.server.ui.session import KEY_COOKIE

    folder = tmp_path / "cats"
    folder.mkdir()
    (folder / "one.png").write_bytes(PNG)
    (folder / "two.png").write_bytes(PNG + b"\x00")
    (folder / "items.csv").write_text("id,img\nc1,one.png\nc2,two.png\n")
    writer = team.store("ann")
    art = Artifact("cats", type="dataset")
    art.add_dir(folder)
    log_artifact(writer, art, "alpha")
    made = labels.create(
        "alpha",
        "cats",
        {"kind": "single", "choices": ["cat", "dog"]},
        dataset="cats:latest",
        id_column="id",
        image_column="img",
        overlap=1,
        store=writer,
    )
    task = team.store("ant").labels.claim(made.id, "ant")
    assert task is not None and task.data["path"] in {"one.png", "two.png"}
    other = "c2" if task.item_id == "c1" else "c1"
    team.client.cookies.set(KEY_COOKIE, team.keys["ant"])
    shown = team.client.get(f"/labels/{made.id}/items/{task.item_id}/image")
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/png"
    assert shown.content.startswith(PNG)
    assert team.client.get(f"/labels/{made.id}/items/{other}/image").status_code == 404
    team.client.cookies.set(KEY_COOKIE, team.keys["vic"])  # a viewer reads every item
    assert team.client.get(f"/labels/{made.id}/items/{other}/image").status_code == 200
    page = team.client.get(f"/labels/{made.id}/queue")
    assert f"/labels/{made.id}/items/" in page.text
