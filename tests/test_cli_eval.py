"""``assay eval``: suites gate CI by exit code, JSON and JUnit; power; stored evaluations."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from assay.evaluation.stats import items_for_power
from tests.test_cli import invoke

MODELS = """
import hashlib

def _wrong(item, rate):
    draw = int(hashlib.blake2b(str(item["id"]).encode()).hexdigest()[:8], 16) / 2**32
    return draw > rate

def good(item):
    return item["truth"] ^ int(_wrong(item, 0.92))

def same(item):
    return item["truth"] ^ int(_wrong(item, 0.92))

def worse(item):
    return item["truth"] ^ int(_wrong(item, 0.80))

def slightly_worse(item):
    return item["truth"] ^ int(_wrong(item, 0.91))

def worse_in_group_one(item):
    return item["truth"] ^ int(_wrong(item, 0.70 if item["group"] == 1 else 0.92))

def broken(item):
    raise RuntimeError("no weights")

def flaky(item):
    if item["id"] == 7:
        raise ValueError("bad pixel")
    return same(item)
"""


@pytest.fixture
def suite_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "ci"
    folder.mkdir()
    module = f"evalmodels_{tmp_path.name.replace('-', '_')}"
    (folder / f"{module}.py").write_text(MODELS)
    rows = [{"id": i, "truth": i % 2, "label": i % 2, "group": i % 3} for i in range(3000)]
    (folder / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "few.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:30]))
    (folder / "suite.yaml").write_text(
        "name: parity\n"
        "project: ci\n"
        "data: items.jsonl\n"
        "label_column: label\n"
        "id_column: id\n"
        "slices: [group]\n"
        "scorers: [accuracy]\n"
        "tolerance: {accuracy: 0.02}\n"
        f"baseline: python:{module}:good\n"
    )
    monkeypatch.setattr(sys, "path", [*sys.path])
    (folder / "module.txt").write_text(module)
    return folder


def _model(folder: Path, name: str) -> str:
    return f"python:{(folder / 'module.txt').read_text()}:{name}"


def test_a_suite_exits_zero_on_pass_and_writes_json_and_junit(
    suite_dir: Path, store_uri: str
) -> None:
    out_json, out_xml = suite_dir / "report.json", suite_dir / "junit.xml"
    code, out = invoke(
        "eval",
        "run",
        str(suite_dir / "suite.yaml"),
        "--model",
        _model(suite_dir, "same"),
        "--json",
        str(out_json),
        "--junit",
        str(out_xml),
        "--uri",
        store_uri,
    )
    assert code == 0, out
    assert "PASS" in out and "Stored as evaluation" in out
    report = json.loads(out_json.read_text())
    assert report["verdict"]["status"] == "pass" and report["name"] == "parity"
    assert report["shared"]["items"] == 3000 and report["project"] == "ci"
    suite = ET.parse(out_xml).getroot()
    assert suite.get("name") == "parity" and suite.get("failures") == "0"
    names = [case.get("name") for case in suite.iter("testcase")]
    assert names[:2] == ["accuracy", "accuracy [group=0]"] and names[-1] == "model errors"
    code, listed = invoke("eval", "ls", "--project", "ci", "--uri", store_uri)
    assert code == 0 and "parity" in listed and "pass" in listed
    code, shown = invoke("eval", "show", report["id"], "--json", "--uri", store_uri)
    assert code == 0 and json.loads(shown)["verdict"]["status"] == "pass"


def test_a_real_regression_exits_one_with_a_junit_failure(suite_dir: Path, store_uri: str) -> None:
    out_xml = suite_dir / "junit.xml"
    code, out = invoke(
        "eval",
        "run",
        str(suite_dir / "suite.yaml"),
        "--model",
        _model(suite_dir, "worse"),
        "--junit",
        str(out_xml),
        "--uri",
        store_uri,
    )
    assert code == 1, out
    assert "FAIL" in out and "accuracy dropped by" in out
    suite = ET.parse(out_xml).getroot()
    assert int(suite.get("failures") or 0) >= 1
    failed = [c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None]
    assert "accuracy" in failed


def test_too_few_items_exit_two_inconclusive(suite_dir: Path, store_uri: str) -> None:
    suite = suite_dir / "small.yaml"
    suite.write_text((suite_dir / "suite.yaml").read_text().replace("items.jsonl", "few.jsonl"))
    code, out = invoke(
        "eval",
        "run",
        str(suite),
        "--model",
        _model(suite_dir, "slightly_worse"),
        "--json",
        "-",
        "--uri",
        store_uri,
    )
    assert code == 2, out
    assert '"status": "inconclusive"' in out


@pytest.mark.parametrize(
    ("suite_text", "message"),
    [
        (
            "data: items.jsonl\nscorers: [accuracy]\nlabel_column: label\ncolour: red\n",
            "unknown setting 'colour'",
        ),
        ("scorers: [accuracy]\n", "'data' is required"),
        ("data: items.jsonl\nscorers: [acc]\nlabel_column: label\n", "unknown scorer 'acc'"),
        ("data: [1, 2\n", "not valid YAML"),
    ],
)
def test_a_bad_suite_exits_three_with_the_reason(
    suite_dir: Path, store_uri: str, suite_text: str, message: str
) -> None:
    bad = suite_dir / "bad.yaml"
    bad.write_text(suite_text)
    code, out = invoke(
        "eval", "run", str(bad), "--model", _model(suite_dir, "same"), "--uri", store_uri
    )
    assert code == 3 and message in out, out


def test_a_model_that_always_raises_exits_three(suite_dir: Path, store_uri: str) -> None:
    code, out = invoke(
        "eval",
        "run",
        str(suite_dir / "suite.yaml"),
        "--model",
        _model(suite_dir, "broken"),
        "--uri",
        store_uri,
    )
    assert code == 3 and "raised on every item" in out and "no weights" in out


def test_missing_model_exits_three(suite_dir: Path, store_uri: str) -> None:
    code, out = invoke("eval", "run", str(suite_dir / "suite.yaml"), "--uri", store_uri)
    assert code == 3 and "give --model" in out


def test_power_prints_the_items_needed() -> None:
    code, out = invoke("eval", "power", "--baseline-rate", "0.9", "--delta", "0.02")
    expected = items_for_power(0.9, 0.02)
    assert code == 0 and out.startswith(f"{expected.items} items detect a drop of 0.02")
    assert "independent" in out
    code, out = invoke("eval", "power", "--delta", "0.02", "--paired-sd", "0.2")
    assert code == 0 and out.startswith(
        f"{items_for_power(baseline_rate=None, delta=0.02, paired_sd=0.2).items} items"
    )
    code, out = invoke("eval", "power", "--delta", "0.02")
    assert code == 2 and "--baseline-rate" in out


def test_model_errors_fail_the_gate_and_the_junit_case(suite_dir: Path, store_uri: str) -> None:
    out_xml = suite_dir / "junit.xml"
    code, out = invoke(
        "eval",
        "run",
        str(suite_dir / "suite.yaml"),
        "--model",
        _model(suite_dir, "flaky"),
        "--junit",
        str(out_xml),
        "--uri",
        store_uri,
    )
    assert code == 1 and "raised on 1 of 3000 items (item 7: ValueError: bad pixel" in out
    (case,) = [
        c for c in ET.parse(out_xml).getroot().iter("testcase") if c.get("name") == "model errors"
    ]
    failure = case.find("failure")
    assert failure is not None and "item 7: ValueError: bad pixel" in (failure.get("message") or "")


def test_baseline_override_and_stored_reports(suite_dir: Path, store_uri: str) -> None:
    from click.testing import CliRunner

    from assay.cli.main import cli

    first = CliRunner().invoke(
        cli,
        [
            "eval",
            "run",
            str(suite_dir / "suite.yaml"),
            "--model",
            _model(suite_dir, "good"),
            "--json",
            "-",
            "--uri",
            store_uri,
            "--no-cache",
            "--workers",
            "2",
        ],
    )
    assert first.exit_code == 0, first.output
    stored = json.loads(first.stdout)  # the tables went to stderr: stdout is the JSON alone
    second = CliRunner().invoke(
        cli,
        [
            "eval",
            "run",
            str(suite_dir / "suite.yaml"),
            "--model",
            _model(suite_dir, "worse"),
            "--baseline",
            f"eval:{stored['id']}",
            "--json",
            "-",
            "--uri",
            store_uri,
        ],
    )
    assert second.exit_code == 1
    assert json.loads(second.stdout)["baseline_id"] == stored["id"]
    code, shown = invoke("eval", "show", stored["id"], "--uri", store_uri)
    assert code == 0 and "accuracy" in shown and "PASS" in shown
    code, out = invoke("eval", "show", "nope", "--uri", store_uri)
    assert code == 1 and "evaluation nope does not exist" in out


def test_a_sliced_regression_is_worded_with_its_slice_level_and_p_resolution(
    suite_dir: Path, store_uri: str
) -> None:
    suite = suite_dir / "level.yaml"
    suite.write_text(
        (suite_dir / "suite.yaml")
        .read_text()
        .replace("scorers: [accuracy]", "scorers: [accuracy, {f1: {average: macro}}]\nlevel: 0.9")
        .replace("tolerance: {accuracy: 0.02}", "tolerance: {accuracy: 0.02, f1: 0.02}")
    )
    code, out = invoke(
        "eval",
        "run",
        str(suite),
        "--model",
        _model(suite_dir, "worse_in_group_one"),
        "--junit",
        str(suite_dir / "junit.xml"),
        "--uri",
        store_uri,
    )
    assert code == 1, out
    text = " ".join(out.split())
    verdict = text[text.index("FAIL:") :]
    assert "accuracy on group=1 dropped by 0." in verdict, verdict
    assert "dropped by -" not in verdict and "(90% CI 0." in verdict
    assert "95%" not in text and "90% CI" in text
    f1_row = next(
        line for line in out.splitlines() if "group=1" in line and "paired bootstrap" in line
    )
    assert "< 0.000999" in f1_row, f1_row  # no resample of 1000 crossed zero
    failures = [
        f.get("message") or "" for f in ET.parse(suite_dir / "junit.xml").getroot().iter("failure")
    ]
    assert failures and all("(90% CI" in f and "Holm-adjusted" in f for f in failures)
