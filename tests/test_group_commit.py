"""Group commit (assay.store.sql.group_commit): writes that wait while one commits go in
together, each caller answered with its own count once committed, or with its error."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from assay.errors import InvalidInput, StoreUnavailable
from assay.store.sql.group_commit import GroupCommit


class Recorder:
    """A commit function: the groups it was given; blocks the first commit until
    released, so that others queue behind it."""

    def __init__(self, fail: set[str] | None = None, outage: bool = False) -> None:
        self.groups: list[list[str]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.fail = fail or set()
        self.outage = outage

    def __call__(self, items: Sequence[str]) -> list[int]:
        self.groups.append(list(items))
        if len(self.groups) == 1:
            self.entered.set()
            assert self.release.wait(10)
        if self.outage and len(self.groups) > 1:
            raise StoreUnavailable("the database does not answer")
        bad = self.fail.intersection(items)
        if bad:
            raise InvalidInput(f"refused {sorted(bad)}")
        return [len(item) for item in items]


def _queue(group: GroupCommit[str, int], items: list[str], key: str = "") -> dict[str, object]:
    """Submit ``items`` from threads behind a first write that holds the commit; what
    each caller got (its count or its error)."""
    answers: dict[str, object] = {}

    def submit(item: str, item_key: str) -> None:
        try:
            answers[item] = group.submit(item, len(item), item_key)
        except Exception as exc:
            answers[item] = exc

    first = threading.Thread(target=submit, args=("first", ""))
    first.start()
    recorder = group._commit
    assert isinstance(recorder, Recorder) and recorder.entered.wait(10)
    threads = [threading.Thread(target=submit, args=(item, key)) for item in items]
    for t in threads:
        t.start()
    while len(group._waiting) < len(items):  # all queued behind the first
        threading.Event().wait(0.01)
    recorder.release.set()
    for t in [first, *threads]:
        t.join(10)
    return answers


def test_writes_waiting_behind_a_commit_go_in_together_each_answered_its_count() -> None:
    recorder = Recorder()
    group: GroupCommit[str, int] = GroupCommit(recorder, limit=1_000)
    answers = _queue(group, ["a", "bb", "ccc"])
    assert answers == {"first": 5, "a": 1, "bb": 2, "ccc": 3}
    assert recorder.groups[0] == ["first"]
    assert sorted(recorder.groups[1]) == ["a", "bb", "ccc"]  # one transaction for the three


def test_a_group_holds_at_most_the_limit_and_the_rest_follow() -> None:
    recorder = Recorder()
    group: GroupCommit[str, int] = GroupCommit(recorder, limit=4)
    answers = _queue(group, ["aa", "bb", "cc"])
    assert answers["aa"] == answers["bb"] == answers["cc"] == 2
    assert [len(g) for g in recorder.groups[1:]] == [2, 1]


def test_writes_of_another_key_are_not_committed_with_them() -> None:
    recorder = Recorder()
    group: GroupCommit[str, int] = GroupCommit(recorder, limit=1_000)
    answers = _queue(group, ["a", "b"], key="user:other")
    assert answers["a"] == answers["b"] == 1
    assert sorted(recorder.groups[1]) == ["a", "b"] and recorder.groups[0] == ["first"]


def test_a_write_the_store_refuses_fails_alone_and_the_others_are_stored() -> None:
    recorder = Recorder(fail={"bad"})
    group: GroupCommit[str, int] = GroupCommit(recorder, limit=1_000)
    answers = _queue(group, ["good", "bad", "fine"])
    assert answers["good"] == 4 and answers["fine"] == 4
    assert isinstance(answers["bad"], InvalidInput) and "refused ['bad']" in str(answers["bad"])


def test_an_outage_fails_every_write_of_the_group_without_retrying_each() -> None:
    recorder = Recorder(outage=True)
    group: GroupCommit[str, int] = GroupCommit(recorder, limit=1_000)
    answers = _queue(group, ["a", "b"])
    assert answers["first"] == 5
    assert all(isinstance(answers[k], StoreUnavailable) for k in ("a", "b"))
    assert len(recorder.groups) == 2  # the group once, no write tried alone


def test_a_single_write_is_committed_at_once() -> None:
    group: GroupCommit[str, int] = GroupCommit(lambda items: [len(i) for i in items], limit=10)
    assert group.submit("abc", 3) == 3
    with pytest.raises(ZeroDivisionError):
        GroupCommit(lambda items: [1 // 0], limit=10).submit("x", 1)
