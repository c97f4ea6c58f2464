"""Prompts in the user's process: create, get, format, labels and splits as the app sees
them, the cache through a server outage, and the version recorded on the span."""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from scipy import stats

import assay
from assay.errors import InvalidInput, NotFound
from assay.prompting import choose, parse_ref
from assay.sdk import prompts, tracer
from tests.services import free_port
from tests.test_server_e2e import ServerProcess

CHAT = [
    {"role": "system", "content": "You help customers of {{ product }}."},
    {"role": "user", "content": "{{question}}"},
]


@pytest.fixture
def uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    found = str(tmp_path / "store")
    monkeypatch.setenv("ASSAY_URI", found)
    monkeypatch.setenv("ASSAY_PROJECT", "shop")
    prompts.clear_cache()
    yield found
    prompts.clear_cache()
    tracer.close(timeout=5)


def test_a_chat_prompt_formats_into_messages_with_its_params(uri: str) -> None:
    made = assay.prompts.create(
        "support", CHAT, params={"model": "gpt-4o-mini", "temperature": 0.2}, labels=["production"]
    )
    prompt = assay.prompts.get("support@production")
    assert (prompt.version, prompt.label, prompt.type) == (made.version, "production", "chat")
    assert prompt.params == {"model": "gpt-4o-mini", "temperature": 0.2}
    assert prompt.format(product="Assay", question="How do I log a metric?") == [
        {"role": "system", "content": "You help customers of Assay."},
        {"role": "user", "content": "How do I log a metric?"},
    ]


def test_a_text_prompt_formats_into_a_string_by_version_or_latest(uri: str) -> None:
    assay.prompts.create("summary", "Summarise in {{ n }} words: {{ text }}")
    assay.prompts.create("summary", "In {{ n }} words or fewer: {{ text }}")
    assert assay.prompts.get("summary").format(n=5, text="t") == "In 5 words or fewer: t"
    first = assay.prompts.get("summary:v0")
    assert first.format(n=3, text="a b") == "Summarise in 3 words: a b"
    assert first.ref == "shop/summary:v0"
    assert [p.version for p in assay.prompts.versions("summary")] == [1, 0]


def test_a_missing_or_unknown_variable_is_an_error_naming_it(uri: str) -> None:
    assay.prompts.create("support", CHAT)
    prompt = assay.prompts.get("support")
    with pytest.raises(InvalidInput, match=r"needs variable\(s\) question \(it takes: product"):
        prompt.format(product="Assay")
    with pytest.raises(InvalidInput, match=r"has no variable\(s\) tone"):
        prompt.format(product="Assay", question="q", tone="warm")


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("", "template is empty"),
        ("Hi {{ first name }}", "placeholder '{{ first name }}'"),
        ([{"role": "wizard", "content": "x"}], "role 'wizard'"),
        ([{"role": "user"}], "must be {role, content}"),
        ([], "non-empty list"),
    ],
)
def test_a_bad_template_is_refused_naming_what_is_wrong(
    uri: str, template: object, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        assay.prompts.create("bad", template)  # type: ignore[arg-type]


def test_unknown_labels_versions_prompts_and_references_are_clear_errors(uri: str) -> None:
    assay.prompts.create("support", CHAT)
    with pytest.raises(NotFound, match="no label 'production'"):
        assay.prompts.get("support@production")
    with pytest.raises(NotFound, match="no version 'v7'"):
        assay.prompts.get("support:v7")
    with pytest.raises(NotFound):
        assay.prompts.get("nothing@production")
    with pytest.raises(InvalidInput, match="'@' takes a label"):
        parse_ref("support@v3")
    with pytest.raises(InvalidInput, match="':' takes a version"):
        parse_ref("support:production")
    with pytest.raises(InvalidInput, match="no version v5"):
        assay.prompts.label("support", "production", 5)
    assay.prompts.create("support", "Be brief: {{ question }}")
    with pytest.raises(InvalidInput, match="add up to 110"):
        assay.prompts.split("support", "production", {0: 100, 1: 10})
    with pytest.raises(InvalidInput, match="must be a version of the prompt"):
        assay.prompts.split("support", "production", {"candidate": 100})


def test_a_key_keeps_its_arm_and_keys_share_arms_by_weight() -> None:
    """10,000 fixed keys land on a 90/10 split in proportions a binomial test accepts, and
    each key lands where it did before; keys are placed per prompt and label."""
    split = {"7": 90.0, "8": 10.0}
    keys = [f"user-{i}" for i in range(10_000)]
    arms = [choose(split, "shop/support@production", key) for key in keys]
    counts = Counter(arms)
    assert stats.binomtest(counts["8"], len(keys), 0.10).pvalue > 0.001
    assert arms == [choose(split, "shop/support@production", key) for key in keys]
    elsewhere = [choose(split, "shop/other@production", key) for key in keys]
    assert elsewhere != arms  # another prompt's split is drawn independently
    draw = random.Random(7)
    unkeyed = Counter(choose(split, "s", None, draw) for _ in range(10_000))
    assert stats.binomtest(unkeyed["8"], 10_000, 0.10).pvalue > 0.001


def test_get_with_a_key_is_sticky_and_a_split_change_arrives_after_the_ttl(uri: str) -> None:
    for tone in ("brief", "warm"):
        assay.prompts.create("support", f"Be {tone}: {{{{ question }}}}")
    assay.prompts.split("support", "production", {0: 50, 1: 50}, reason="A/B tone")
    chosen = {u: assay.prompts.get("support@production", key=u).version for u in range(200)}
    assert set(chosen.values()) == {0, 1}
    again = {u: assay.prompts.get("support@production", key=u, ttl=0).version for u in range(200)}
    assert again == chosen
    assay.prompts.label("support", "production", 1, reason="warm won", evidence="compare")
    cached = assay.prompts.get("support@production", key=next(u for u in chosen if chosen[u] == 0))
    assert cached.version == 0  # within the ttl: the cached split
    fresh = assay.prompts.get("support@production", key=0, ttl=0)
    assert fresh.version == 1
    moves = assay.prompts.history("support", "production")
    assert [(m.reason, m.evidence) for m in moves] == [("warm won", "compare"), ("A/B tone", None)]


def test_the_version_used_is_recorded_on_the_current_span(uri: str) -> None:
    assay.prompts.create("support", CHAT, labels=["production"])
    with assay.span("answer", kind="llm"):
        prompt = assay.prompts.get("support@production", key="u1")
        prompt.format(product="Assay", question="q")
    assert assay.flush_traces()
    with assay.Api(uri) as api:
        (trace,) = api.traces("shop")
        (span,) = trace.spans
    assert span.attributes["assay.prompt.name"] == "support"
    assert span.attributes["assay.prompt.version"] == 0
    assert span.attributes["assay.prompt.label"] == "production"
    assert span.attributes["assay.prompt.project"] == "shop"


def test_an_outage_serves_the_last_known_version_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ASSAY_PROJECT", "shop")
    prompts.clear_cache()
    server = ServerProcess(str(tmp_path / "server-store"), port=free_port(), extra=("--local",))
    server.start()
    try:
        assay.prompts.create("support", CHAT, labels=["production"], uri=server.url)
        first = assay.prompts.get("support@production", uri=server.url)
        assert not first.stale
    finally:
        server.stop()
    with caplog.at_level(logging.WARNING, logger="assay"):
        during = assay.prompts.get("support@production", uri=server.url, ttl=0)
    assert (during.version, during.stale) == (first.version, True)
    assert during.format(product="Assay", question="q")[1]["content"] == "q"
    assert "cannot be reached" in caplog.text and "serving the last known v0" in caplog.text
    prompts.clear_cache()  # as after a restart of the app: the cache file is still there
    after_restart = assay.prompts.get("support@production", uri=server.url, ttl=0)
    assert (after_restart.version, after_restart.stale) == (0, True)
    with pytest.raises(assay.errors.StoreUnavailable):  # never read: nothing to fall back on
        assay.prompts.get("support:v0", uri=server.url)
