"""Sweeps: the sweep file's checks, grid exhaustion, seeded random draws, TPE against
random on a toy objective, agents in parallel processes, pruning, and the runs trials
make."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import assay
from assay.errors import InvalidInput
from assay.records import Trial
from assay.sdk.sweeps import sweep as run_sweep
from assay.store import open_store
from assay.sweeping.importance import importance
from assay.sweeping.ranking import best_trials
from assay.sweeping.sampling import suggest
from assay.sweeping.space import parse_spec
from tests.conftest import QUIET

GRID = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"x": {"values": [1, 2, 3]}, "opt": {"values": ["sgd", "adam"]}},
}


def objective(x: float, y: float) -> float:
    return (x - 0.3) ** 2 + (y + 0.2) ** 2


def train() -> None:
    with assay.init(project="ignored-by-the-trial", settings=QUIET) as run:
        x = run.config["x"]
        run.log({"loss": float(x) * (2.0 if run.config.get("opt") == "adam" else 1.0)})


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ({**GRID, "method": "bayes"}, "method"),
        ({**GRID, "metric": {}}, "metric must name"),
        ({**GRID, "parameters": {"x": {"min": 0.0, "max": 1.0}}}, "a grid needs values"),
        (
            {**GRID, "method": "random", "parameters": {"x": {"min": 0, "max": 1, "log": True}}},
            "min > 0",
        ),
        ({**GRID, "parameters": {"x": {"min": 2, "max": 1}}}, "above max"),
        ({**GRID, "early_terminate": {"type": "hyperband"}}, "early_terminate.type"),
        ({**GRID, "learning": 1}, "unknown sweep field"),
        ({**GRID, "parameters": {"x": {"values": [[1]]}}}, "parameters.x.values"),
    ],
)
def test_a_bad_sweep_file_is_refused_naming_what_is_wrong(spec: dict[str, Any], named: str) -> None:
    with pytest.raises(InvalidInput, match=named):
        parse_spec(spec)


def test_a_grid_runs_each_point_once_then_is_exhausted(store_uri: str) -> None:
    ran = run_sweep(GRID, train, project="p", uri=store_uri)
    points = sorted((t.params["x"], t.params["opt"]) for t in ran)
    assert points == sorted((x, o) for x in (1, 2, 3) for o in ("sgd", "adam"))
    assert {t.state for t in ran} == {"complete"}
    assert run_sweep(sweep_id=ran[0].sweep_id, function=train, uri=store_uri) == []
    with assay.Api(store_uri) as api:
        runs = api.runs("p", limit=100)
        assert len(runs) == 6  # each trial a run of the sweep's project, in its group
        by_id = {r.id: r for r in runs}
        for t in ran:
            r = by_id[t.run_id]
            assert r.config["x"] == t.params["x"] and r.job_type == "sweep-trial"
            assert t.value == r.summary["loss"]
        assert {r.group for r in runs} == {api.store.sweeps.get(ran[0].sweep_id).name}
        best = best_trials(parse_spec(GRID), api.store.sweeps.trials(ran[0].sweep_id))
    assert (best[0].params, best[0].value) == ({"x": 1, "opt": "sgd"}, 1.0)


RANDOM = {
    "method": "random",
    "metric": "loss",
    "seed": 7,
    "parameters": {
        "lr": {"min": 1e-4, "max": 1e-1, "log": True},
        "depth": {"min": 2, "max": 8},
        "act": {"values": ["relu", "gelu"]},
    },
}


def test_random_draws_are_reproducible_with_a_seed_and_within_bounds() -> None:
    spec = parse_spec(RANDOM)
    draws = [suggest(spec, n) for n in range(50)]
    assert draws == [suggest(spec, n) for n in range(50)]  # same seed, same trials
    other = parse_spec({**RANDOM, "seed": 8})
    assert draws != [suggest(other, n) for n in range(50)]
    assert all(1e-4 <= d["lr"] <= 1e-1 and type(d["depth"]) is int for d in draws)
    assert all(2 <= d["depth"] <= 8 and d["act"] in ("relu", "gelu") for d in draws)
    assert {d["depth"] for d in draws} == set(range(2, 9))  # both ends are reached


def test_a_random_sweep_runs_the_seeds_draws_whoever_runs_them(tmp_path: Path) -> None:
    spec = {**RANDOM, "run_cap": 4}

    def fit() -> None:
        with assay.init(settings=QUIET) as run:
            run.log({"loss": run.config["lr"]})

    one = run_sweep(spec, fit, project="p", uri=tmp_path / "a")
    two = run_sweep(spec, fit, project="p", uri=tmp_path / "b")
    assert (
        [t.params for t in one]
        == [t.params for t in two]
        == [suggest(parse_spec(spec), n) for n in range(4)]
    )


TOY = {
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"x": {"min": -2.0, "max": 2.0}, "y": {"min": -2.0, "max": 2.0}},
}


def best_found(method: str, seed: int, trials: int = 30) -> float:
    """The best toy objective after ``trials`` trials, sampled as an agent does."""
    spec = parse_spec({**TOY, "method": method, "seed": seed})
    history: list[Trial] = []
    for number in range(trials):
        params = suggest(spec, number, history)
        value = objective(params["x"], params["y"])
        history.append(
            Trial(
                sweep_id="s",
                number=number,
                run_id=f"r{number}",
                params=params,
                state="complete",
                value=value,
                worker="w",
                started_at=0.0,
                finished_at=0.0,
            )
        )
    return min(t.value for t in history if t.value is not None)


def test_tpe_beats_random_on_a_toy_objective_over_fixed_seeds() -> None:
    seeds = range(6)
    tpe = np.array([best_found("tpe", s) for s in seeds])
    random = np.array([best_found("random", s) for s in seeds])
    assert np.median(tpe) < np.median(random)
    assert (tpe < random).sum() >= 4  # not one lucky seed
    spec = parse_spec({**TOY, "method": "tpe", "seed": 3})
    assert [suggest(spec, n) for n in range(3)] == [suggest(spec, n) for n in range(3)]


def test_parameter_importance_names_the_parameter_that_matters() -> None:
    spec = parse_spec(
        {
            **TOY,
            "method": "random",
            "parameters": {**TOY["parameters"], "noise": {"min": 0.0, "max": 1.0}},
        }
    )
    history = [
        Trial(
            sweep_id="s",
            number=n,
            run_id=f"r{n}",
            params=(p := suggest(spec, n)),
            state="complete",
            value=10 * p["x"] ** 2 + 0.01 * p["noise"],
            worker="w",
            started_at=0.0,
            finished_at=0.0,
        )
        for n in range(40)
    ]
    found = importance(spec, history)
    assert max(found, key=lambda k: found[k]) == "x"
    assert abs(sum(found.values()) - 1.0) < 1e-6


AGENT_SCRIPT = """
import time
import assay

settings = assay.Settings(capture_git=False, capture_packages=False, capture_console=False,
                          capture_code=False, system_metrics_interval=0)
with assay.init(settings=settings) as run:
    x = float(run.config["x"])
    for step in range(10):
        run.log({"loss": x}, step=step)
    run.flush()
    if x > 2:  # a bad trial lingers until the pruner stops it (or gives up after 5 minutes)
        for _ in range(3000):
            time.sleep(0.1)
"""


def agent(sweep_id: str, store_uri: str, script: Path, *extra: str) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "assay", "sweep", "agent", sweep_id, "--uri", store_uri, *extra]
    return subprocess.Popen([*args, "--", sys.executable, str(script)], env=os.environ.copy())


def create(spec: dict[str, Any], store_uri: str, tmp_path: Path) -> str:
    import yaml

    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "assay",
            "sweep",
            "create",
            str(path),
            "-p",
            "p",
            "--uri",
            store_uri,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.split()[2]


def test_two_agents_in_parallel_processes_never_run_the_same_trial(
    store_uri: str, tmp_path: Path
) -> None:
    script = tmp_path / "train.py"
    script.write_text(AGENT_SCRIPT)
    spec = {
        "method": "grid",
        "metric": "loss",
        "parameters": {"x": {"values": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]}},
    }
    sweep_id = create(spec, store_uri, tmp_path)
    agents = [agent(sweep_id, store_uri, script) for _ in range(2)]
    assert [a.wait() for a in agents] == [0, 0]
    store = open_store(store_uri)
    try:
        trials = store.sweeps.trials(sweep_id)
        assert [t.number for t in trials] == list(range(8))
        assert sorted(t.params["x"] for t in trials) == spec["parameters"]["x"]["values"]
        assert len({t.run_id for t in trials}) == 8
        assert {t.state for t in trials} == {"complete"}
        assert len({t.worker for t in trials}) == 2  # both agents took trials
        for t in trials:
            assert store.runs.get(t.run_id).config == {"x": t.params["x"]}
    finally:
        store.close()


def test_a_trial_doing_worse_than_the_median_is_pruned_and_its_run_killed(
    store_uri: str, tmp_path: Path
) -> None:
    script = tmp_path / "train.py"
    script.write_text(AGENT_SCRIPT)
    spec = {
        "method": "grid",
        "metric": "loss",
        "parameters": {"x": {"values": [1.0, 1.1, 5.0]}},
        "early_terminate": {"type": "median", "warmup_trials": 2, "min_steps": 2},
    }
    sweep_id = create(spec, store_uri, tmp_path)
    assert agent(sweep_id, store_uri, script, "--poll", "0.2").wait() == 0
    store = open_store(store_uri)
    try:
        trials = store.sweeps.trials(sweep_id)
        assert [t.state for t in trials] == ["complete", "complete", "pruned"]
        assert trials[2].value == 5.0  # its last logged value
        assert store.runs.get(trials[2].run_id).status == "killed"
    finally:
        store.close()


def test_an_agent_needs_a_command_or_a_function(store_uri: str) -> None:
    with pytest.raises(InvalidInput, match="spec"):
        run_sweep(function=train, uri=store_uri)
    with pytest.raises(InvalidInput, match="function"):
        run_sweep(GRID, uri=store_uri)


def test_sweep_ls_and_show_list_the_best_trials(store_uri: str) -> None:
    from click.testing import CliRunner

    from assay.cli.main import cli

    ran = run_sweep(GRID, train, project="p", uri=store_uri)
    runner = CliRunner()
    listed = runner.invoke(cli, ["sweep", "ls", "-p", "p", "--uri", store_uri])
    assert listed.exit_code == 0 and ran[0].sweep_id in listed.output and "6/6" in listed.output
    shown = runner.invoke(cli, ["sweep", "show", ran[0].sweep_id, "-n", "1", "--uri", store_uri])
    assert shown.exit_code == 0, shown.output
    best = best_trials(parse_spec(GRID), ran)[0]
    assert best.run_id in shown.output and "6 complete" in shown.output


def test_agents_on_two_machines_share_a_sweep_through_a_server(tmp_path: Path) -> None:
    from tests.test_server_e2e import ServerProcess

    server = ServerProcess(str(tmp_path / "served")).start()
    try:
        script = tmp_path / "train.py"
        script.write_text(AGENT_SCRIPT)
        spec = {
            "method": "grid",
            "metric": "loss",
            "parameters": {"x": {"values": [0.1, 0.2, 0.3, 0.4]}},
        }
        sweep_id = create(spec, server.url, tmp_path)
        agents = [agent(sweep_id, server.url, script) for _ in range(2)]
        assert [a.wait() for a in agents] == [0, 0]
        store = open_store(server.url)
        try:
            trials = store.sweeps.trials(sweep_id)
            assert sorted(t.params["x"] for t in trials) == [0.1, 0.2, 0.3, 0.4]
            assert {t.state for t in trials} == {"complete"}
            assert all(store.runs.get(t.run_id).config == {"x": t.params["x"]} for t in trials)
        finally:
            store.close()
    finally:
        server.stop()
