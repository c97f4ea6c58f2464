"""The complete example app of docs/traces.md runs as written: a fake model behind a
loopback endpoint, the real openai client instrumented, feedback, a judge, a dataset and
an evaluation, in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import assay

pytest.importorskip("openai")

DOCS = Path(__file__).resolve().parent.parent / "docs" / "traces.md"


def _example() -> str:
    text = DOCS.read_text(encoding="utf-8")
    after = text.split("<!-- example-app -->", 1)[1]
    return after.split("```python\n", 1)[1].split("\n```", 1)[0]


def test_the_documented_example_app_traces_judges_and_makes_a_dataset(tmp_path: Path) -> None:
    script = tmp_path / "support_bot.py"
    script.write_text(_example(), encoding="utf-8")
    env = {**os.environ, "ASSAY_URI": str(tmp_path / "store")}
    env.pop("ASSAY_PROJECT", None)
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "dataset support-bot/support-cases:v0 from 3 traces, 3 judged" in done.stdout
    assert "promises_time 0.0" in done.stdout  # "Be brief." promises no time
    with assay.Api(str(tmp_path / "store")) as api:
        traces = api.traces("support-bot", filter="name == 'answer'")
        assert len(traces) == 3 + 3  # the app's three, and the evaluation's three calls
        judged = [t for t in traces if any(f.source == "judge" for f in t.feedback)]
        assert len(judged) == 3 and all(t.cost for t in traces)
    assert done.stdout.count("['feedback', 'promises_time']") == 3
