from __future__ import annotations

import time

import pytest

from assay.errors import FilterSyntaxError, InvalidInput
from assay.query.filter import (
    BoolOp,
    Compare,
    Field,
    In,
    IsNull,
    Literal,
    Not,
    parse_filter,
    parse_order,
)
from assay.records import Batch, UpdateRun
from assay.store import Store
from tests.conftest import StoreFactory, create_run, points


def test_parses_the_documented_example() -> None:
    expr = parse_filter("config.lr < 0.05 and summary.acc > 0.9 and 'baseline' in tags")
    assert isinstance(expr, BoolOp) and expr.op == "and" and len(expr.items) == 3
    first = expr.items[0]
    assert isinstance(first, Compare) and first.left == Field(("config", "lr"), 0)
    assert isinstance(first.right, Literal) and first.right.value == 0.05
    assert isinstance(expr.items[2], In)


def test_precedence_and_binds_tighter_than_or() -> None:
    expr = parse_filter("status == 'failed' or config.a == 1 and not config.b == 2")
    assert isinstance(expr, BoolOp) and expr.op == "or"
    right = expr.items[1]
    assert isinstance(right, BoolOp) and right.op == "and" and isinstance(right.items[1], Not)


def test_quoted_segments_and_metric_stats() -> None:
    expr = parse_filter("metrics.`val loss`.min < 0.2")
    assert isinstance(expr, Compare) and expr.left == Field(("metrics", "val loss", "min"), 0)
    expr = parse_filter("summary.train/loss is not null")
    assert isinstance(expr, IsNull) and expr.negate and expr.field.path == ("summary", "train/loss")


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ("config.lr <", 11, "end of filter"),
        ("foo > 1", 0, "unknown field 'foo'"),
        ("config.lr < 0.1 and bogus == 2", 20, "unknown field 'bogus'"),
        ("config.x @ 2", 9, "unexpected character '@'"),
        ("summary.a.b > 1", 0, "unknown field"),
        ("metrics.loss.median > 1", 0, "metrics.<key>"),
        ("(config.a == 1", 14, "end of filter"),
        ("", 0, "empty"),
    ],
)
def test_errors_point_at_the_position(text: str, position: int, message: str) -> None:
    with pytest.raises(FilterSyntaxError) as info:
        parse_filter(text)
    assert info.value.position == position
    assert message in str(info.value)
    assert "^" in str(info.value)


@pytest.mark.parametrize("text", ["config.mix > true", "summary.s <= false", "config.x ~ true"])
def test_true_and_false_compare_only_for_equality(text: str) -> None:
    with pytest.raises(FilterSyntaxError, match="compare them with == or !="):
        parse_filter(text)
    assert parse_filter(text.replace(">", "==").replace("<=", "!=").replace("~", "=="))


def test_order_spec() -> None:
    field, desc = parse_order("-summary.acc")
    assert field.path == ("summary", "acc") and desc
    field, desc = parse_order("created")
    assert field.path == ("created",) and not desc


@pytest.fixture
def seeded(store: Store) -> dict[str, str]:
    runs = {}
    for name, cfg, tags, acc in [
        ("alpha", {"lr": 0.1, "opt": "adam", "deep": {"n": 3}, "flag": True}, ["x"], 0.7),
        ("beta-debug", {"lr": 0.01, "opt": "sgd", "deep": {"n": 5}, "flag": False}, ["y"], 0.9),
        ("gamma", {"lr": 0.001, "opt": "sgd"}, [], 0.95),
    ]:
        run_id = create_run(store, config=cfg, tags=tags, name=name)
        store.runs.write_batch(
            Batch(run_id=run_id, writer="w", seq=1, ops=[points("acc", [0, 1], [acc / 2, acc])])
        )
        runs[name] = run_id
    store.runs.write_batch(
        Batch(run_id=runs["gamma"], writer="w", seq=2, ops=[UpdateRun(at=0.0, status="finished")])
    )
    return runs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("config.opt == 'sgd'", {"beta-debug", "gamma"}),
        ("config.opt in ['adam', 'nothing']", {"alpha"}),
        ("config.deep.n >= 5", {"beta-debug"}),
        ("config.deep.n is null", {"gamma"}),
        ("config.flag == true", {"alpha"}),
        ("name ~ 'DEBUG'", {"beta-debug"}),
        ("not name ~ 'debug'", {"alpha", "gamma"}),
        ("'x' in tags or 'y' in tags", {"alpha", "beta-debug"}),
        ("metrics.acc.min > 0.4", {"beta-debug", "gamma"}),
        ("metrics.acc.count == 2 and metrics.acc.step == 1", {"alpha", "beta-debug", "gamma"}),
        ("status == 'finished'", {"gamma"}),
        ("0.05 > config.lr", {"beta-debug", "gamma"}),
        ("config.opt in []", set()),
        ("config.opt > 1", set()),  # a string is never compared as a number
        ("config.lr == 'adam'", set()),
    ],
)
def test_filter_semantics(
    store: Store, seeded: dict[str, str], text: str, expected: set[str]
) -> None:
    assert {r.name for r in store.runs.list("p", text)} == expected


def test_filter_values_are_bound_not_pasted(store: Store, seeded: dict[str, str]) -> None:

    assert store.runs.list("p", "name == \"alpha' OR '1'='1\"") == []
    assert store.runs.count("p") == 3  # nothing dropped


def test_order_by_a_text_config_value(store: Store, seeded: dict[str, str]) -> None:
    names = [r.name for r in store.runs.list("p", order_by=["config.opt", "name"])]
    assert names == ["alpha", "beta-debug", "gamma"]
    names = [r.name for r in store.runs.list("p", order_by=["-config.deep.n"])]
    assert names == ["beta-debug", "alpha", "gamma"]  # missing values last


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tags == 'x'", "tags can only be tested with 'in'"),
        ("'x' in config.a", "use 'in'"),
        ("name ~ 3", "'~' matches text"),
        ("config.a < null", "null"),
        ("config.a == config.b", "compare a field with a value"),
    ],
)
def test_semantic_errors_name_the_problem(store: Store, text: str, message: str) -> None:
    with pytest.raises(FilterSyntaxError, match=message):
        store.runs.list("p", text)


# ---- input that used to reach the database as an error --------------------------------------


@pytest.fixture
def mixed(store: Store) -> dict[str, str]:
    """Runs whose config.x (and summary.s) has a different JSON type in each."""
    runs = {}
    for name, x in [("num", 1), ("text", "a"), ("flag", True), ("list", [1]), ("tree", {"n": 1})]:
        run_id = create_run(store, config={"x": x}, name=name)
        store.runs.write_batch(
            Batch(
                run_id=run_id,
                writer="w",
                seq=1,
                ops=[points("acc", [0], [0.5]), UpdateRun(at=time.time(), summary={"s": x})],
            )
        )
        runs[name] = run_id
    return runs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("config.x == 'a'", {"text"}),
        ("config.x == 1", {"num"}),
        ("config.x > 0", {"num"}),
        ("config.x < 'b'", {"text"}),
        ("config.x == true", {"flag"}),
        ("config.x in ['a', 1]", {"num", "text"}),
        ("config.x not in ['a', 1]", set()),  # the others have a third type: unknown
        ("config.x != 'a'", set()),  # another type is neither equal nor unequal
        ("summary.s == 'a'", {"text"}),
        ("summary.s > 0", {"num"}),
        ("summary.acc == 'a'", set()),  # the metric's last value is a number
        ("summary.acc > 0.4", {"num", "text", "flag", "list", "tree"}),
        ("summary.acc is null", set()),
        ("summary.nothing is null", {"num", "text", "flag", "list", "tree"}),
        ("name > 3", set()),
        ("name in [3, 'num']", {"num"}),
        ("created == 'abc'", set()),
        ("status == 1", set()),
        ("not status == 1", set()),
        ("metrics.acc.last == 'a'", set()),
        ("metrics.acc.last < nan", set()),
        ("metrics.acc.last != nan", set()),
        ("metrics.acc.step == 99999999999999999999999", set()),
        ("metrics.acc.step < 99999999999999999999999", {"num", "text", "flag", "list", "tree"}),
        ("duration > 'x'", set()),
    ],
)
def test_comparisons_across_types_match_nothing_on_every_backend(
    store: Store, mixed: dict[str, str], text: str, expected: set[str]
) -> None:
    assert {r.name for r in store.runs.list("p", text)} == expected
    assert store.runs.count("p", text) == len(expected)


@pytest.mark.parametrize(
    "spec", ["name is null or id", "name == 'x'", "-", "", "config.a is not null", "(name"]
)
def test_an_order_that_is_not_one_field_is_refused_naming_order_by(store: Store, spec: str) -> None:
    with pytest.raises(InvalidInput, match="order_by"):
        store.runs.list("p", order_by=[spec])


@pytest.mark.parametrize(("limit", "offset"), [(10, 10**20), (10**20, 0), (10, -1), (-1, 0)])
def test_a_page_out_of_range_is_refused(store: Store, limit: int, offset: int) -> None:
    create_run(store)
    with pytest.raises(InvalidInput, match=r"limit|offset"):
        store.runs.list("p", limit=limit, offset=offset)


def test_order_by_a_config_value_of_mixed_types(store: Store, mixed: dict[str, str]) -> None:
    names = [r.name for r in store.runs.list("p", order_by=["config.x", "name"])]
    assert sorted(names) == sorted(mixed)


def test_a_nul_in_a_filter_is_a_syntax_error(store: Store) -> None:
    with pytest.raises(FilterSyntaxError, match="NUL character or a lone surrogate"):
        store.runs.list("p", "name == 'a\x00b'")


def test_a_lone_surrogate_in_a_filter_is_a_syntax_error(sql_store_factory: StoreFactory) -> None:
    """(Not sent over HTTP: a client cannot even encode it into a URL.)"""
    with pytest.raises(FilterSyntaxError, match="NUL character or a lone surrogate"):
        sql_store_factory().runs.list("p", "name == 'a\ud800'")
