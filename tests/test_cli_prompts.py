"""``assay prompts``: create from files, list, label, split, show and compare."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from assay.cli.main import cli
from assay.records import Span
from assay.sdk import prompts
from assay.store import open_store

T0 = 1_700_000_000_000_000_000


@pytest.fixture
def uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    found = str(tmp_path / "store")
    monkeypatch.setenv("ASSAY_URI", found)
    monkeypatch.setenv("ASSAY_PROJECT", "shop")
    prompts.clear_cache()
    return found


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["prompts", *args])
    return result.exit_code, result.output


def test_create_label_split_and_show_from_the_command_line(uri: str, tmp_path: Path) -> None:
    chat = tmp_path / "support.yaml"
    chat.write_text(
        "template:\n"
        "  - {role: system, content: 'You help with {{ product }}.'}\n"
        "  - {role: user, content: '{{ question }}'}\n"
        "params: {model: gpt-4o-mini, temperature: 0.2}\n"
    )
    code, out = run("create", "support", "-f", str(chat), "-l", "production", "-r", "first")
    assert code == 0, out
    assert "shop/support:v0: chat template (product, question)" in out
    code, out = run(
        "create", "support", "-t", "Answer: {{ question }}", "--param", "max_tokens=200"
    )
    assert code == 0 and "shop/support:v1: text template (question)" in out
    code, out = run("split", "support", "production", "v0=90", "v1=10", "-r", "try text")
    assert code == 0 and "v0 90%, v1 10%" in out, out
    code, out = run("label", "support", "staging", "v1", "-e", "eval-3")
    assert code == 0 and "shop/support@staging: nothing -> v1" in out
    code, out = run("ls", "--json")
    assert json.loads(out) == [
        {
            "name": "support",
            "versions": 2,
            "latest": 1,
            "labels": {"production": {"0": 90.0, "1": 10.0}, "staging": {"1": 100.0}},
        }
    ]
    code, out = run("show", "support:v0", "--history")
    assert code == 0, out
    assert "[system] You help with {{ product }}." in out
    assert '"temperature": 0.2' in out and "try text" in out and "eval-3" in out
    code, out = run("label", "support", "staging", "--remove")
    assert code == 0 and "v1 -> removed" in out


def test_bad_input_is_a_clear_message_and_exit_1(uri: str) -> None:
    run("create", "support", "-t", "Answer: {{ question }}")
    run("create", "support", "-t", "Reply: {{ question }}")
    code, out = run("split", "support", "production", "v0=60", "v1=30")
    assert code == 1 and "the weights add up to 90, not 100" in out
    code, out = run("label", "support", "production", "v9")
    assert code == 1 and "no version v9" in out
    code, out = run("show", "support@production")
    assert code == 1 and "no label 'production'" in out
    code, out = run("create", "support")
    assert code == 2 and "--file or --text" in out


def test_compare_prints_the_arms_and_exits_by_the_verdict(uri: str) -> None:
    store = open_store(uri)
    try:
        for text in ("Answer: {{ q }}", "Reply: {{ q }}"):
            prompts.commit(store, "shop", "support", text)
        store.prompts.set_label("shop", "support", "production", {"0": 50, "1": 50})
        spans = [
            Span(
                project="shop",
                trace_id=f"{t + 1:032x}",
                span_id=f"{1:016x}",
                name="answer",
                start_ns=T0 + t * 10**9,
                end_ns=T0 + t * 10**9 + 10**8,
                attributes={
                    "assay.prompt.name": "support",
                    "assay.prompt.version": t % 2,
                    "assay.score.helpful": float(t % 2 == 0 or t % 3 == 0),
                },
            )
            for t in range(600)
        ]
        store.traces.write(spans)
    finally:
        store.close()
    code, out = run("compare", "support@production")
    assert code == 1, out
    assert "FAIL" in out and "helpful" in out and "v1" in out
    code, out = run("compare", "support@production", "--json", "--tolerance", "helpful=1")
    assert code == 0, out
    assert json.loads(out)["verdict"]["status"] == "pass"
