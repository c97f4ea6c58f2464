"""The gate a store's write transactions pass through: the WAL checkpointer holds new
ones back while it copies what is left of the WAL, once those under way have ended, and
gives up rather than hold them back while one goes on."""

from __future__ import annotations

import threading

from assay.store.sql.write_gate import WriteGate


def test_holding_the_gate_waits_for_the_write_under_way_and_keeps_new_ones_out() -> None:
    gate = WriteGate()
    order: list[str] = []
    inside, release = threading.Event(), threading.Event()

    def under_way() -> None:
        with gate.writing():
            inside.set()
            release.wait()
            order.append("write under way ended")

    def new_write() -> None:
        with gate.writing():
            order.append("new write")

    held = threading.Event()
    later = threading.Thread(target=new_write)

    def hold() -> None:
        with gate.held(wait=600) as idle:
            assert idle
            held.set()
            later.start()
            later.join(0.05)  # it waits at the gate while held
            order.append("held")

    first = threading.Thread(target=under_way)
    first.start()
    inside.wait()
    holding = threading.Thread(target=hold)
    holding.start()
    release.set()
    holding.join()
    later.join()
    first.join()
    assert held.is_set()
    assert order == ["write under way ended", "held", "new write"]


def test_the_holder_gives_up_while_a_write_goes_on_and_lets_the_others_in() -> None:
    gate = WriteGate()
    inside, release = threading.Event(), threading.Event()

    def long_write() -> None:
        with gate.writing():
            inside.set()
            release.wait()

    writer = threading.Thread(target=long_write)
    writer.start()
    inside.wait()
    with gate.held(wait=0.01) as idle:
        assert not idle
    with gate.writing():  # open again: a new write goes in at once
        pass
    release.set()
    writer.join()


def test_a_write_that_fails_leaves_the_gate_usable() -> None:
    gate = WriteGate()
    try:
        with gate.writing():
            raise RuntimeError("the write failed")
    except RuntimeError:
        pass
    with gate.held(wait=600) as idle:
        assert idle
