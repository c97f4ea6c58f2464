"""Sweeps in the user's process: create one from a sweep file, run its trials with an
agent (a command per trial, or a Python function), and hand each trial's parameters to
``assay.init`` through the environment (docs/sweeps.md).

An agent loops: read the sweep's trials, sample trial n (n = one past the highest
claimed), claim it (Conflict when another agent was first: read and sample again), run
it with ``ASSAY_SWEEP_*`` set, watch its metric for the pruner, and record how it ended
and its value (the metric's summary). Agents share nothing but the store, so several
processes, or machines through a team server, work on one sweep at once."""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from assay.errors import Conflict, InvalidInput, NotFound
from assay.ids import new_run_id, new_writer_id
from assay.records import Sweep, SweepDraft, Trial, TrialClaim, TrialResult, summary_of
from assay.sdk.trial import (
    ENV_GROUP,
    ENV_PARAMS,
    ENV_PROJECT,
    ENV_RUN,
    ENV_SWEEP,
    ENV_TRIAL,
)
from assay.store.base import Store, open_store, resolve_uri
from assay.sweeping.pruning import should_prune
from assay.sweeping.sampling import suggest
from assay.sweeping.space import SweepSpec, parse_spec
from assay.values import DEFAULT_PROJECT, check_project

log = logging.getLogger("assay")

CLAIM_ATTEMPTS = 50
STOP_WAIT = 30.0  # seconds a pruned trial's process has to end after SIGTERM


def _variables(sweep: Sweep, trial: Trial) -> dict[str, str]:
    return {
        ENV_SWEEP: sweep.id,
        ENV_TRIAL: str(trial.number),
        ENV_PARAMS: json.dumps(trial.params),
        ENV_RUN: trial.run_id,
        ENV_PROJECT: sweep.project,
        ENV_GROUP: sweep.name,
    }


# ---- creating a sweep ----------------------------------------------------------------------


def load_spec(source: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, Any]:
    """A sweep file (YAML) or a mapping, as a dict."""
    if isinstance(source, Mapping):
        return dict(source)
    path = Path(source)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise InvalidInput(f"cannot read sweep file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise InvalidInput(f"sweep file {path} is not YAML: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"sweep file {path} must hold a mapping")
    return data


def create_sweep(
    store: Store,
    source: str | os.PathLike[str] | Mapping[str, Any],
    *,
    project: str | None = None,
    name: str | None = None,
) -> Sweep:
    """Check the sweep file and store the sweep (its id names it to agents)."""
    data = load_spec(source)
    spec = parse_spec(data)
    chosen = check_project(project or data.get("project") or DEFAULT_PROJECT)
    body = {k: v for k, v in data.items() if k not in ("project", "name")}
    draft = SweepDraft(
        project=chosen,
        name=name or str(data.get("name") or f"sweep-{new_writer_id()[:6]}"),
        method=spec.method,
        spec=body,
        max_trials=spec.max_trials(),
    )
    return store.sweeps.create(draft)


def spec_of(sweep: Sweep) -> SweepSpec:
    return parse_spec(sweep.spec)


# ---- the agent -----------------------------------------------------------------------------


class Agent:
    """Claims and runs trials of one sweep until it has run ``count`` of them or the sweep
    holds no more."""

    def __init__(
        self, store: Store, sweep_id: str, *, uri: str | None = None, poll: float = 1.0
    ) -> None:
        self.store = store
        self.sweep = store.sweeps.get(sweep_id)
        self.spec = spec_of(self.sweep)
        self.uri = uri
        self.poll = poll
        self.worker = f"{os.uname().nodename[:40]}:{os.getpid()}"
        self._logged: dict[int, dict[int, float]] = {}  # finished trials' metric, by number

    def next_trial(self) -> Trial | None:
        """Claim the next trial, or None when the sweep holds no more."""
        for _ in range(CLAIM_ATTEMPTS):
            history = self.store.sweeps.trials(self.sweep.id)
            number = max((t.number for t in history), default=-1) + 1
            cap = self.sweep.max_trials
            if cap is not None and number >= cap:
                return None
            params = suggest(self.spec, number, history)
            claim = TrialClaim(
                number=number, params=params, run_id=new_run_id(), worker=self.worker
            )
            try:
                return self.store.sweeps.claim(self.sweep.id, claim)
            except Conflict:
                continue  # another agent took this number: read again
        raise Conflict(
            f"could not claim a trial of sweep {self.sweep.id} in {CLAIM_ATTEMPTS} tries"
        )

    def run(
        self,
        *,
        command: Sequence[str] | None = None,
        function: Callable[[], Any] | None = None,
        count: int | None = None,
    ) -> list[Trial]:
        """Run trials, each by ``command`` (a process) or ``function`` (called here)."""
        if (command is None) == (function is None):
            raise InvalidInput("an agent runs a command or a function (one of them)")
        if count is not None and count < 1:
            raise InvalidInput(f"count must be at least 1, not {count}")
        done: list[Trial] = []
        while count is None or len(done) < count:
            trial = self.next_trial()
            if trial is None:
                break
            log.info("assay: sweep %s trial %d: %s", self.sweep.id, trial.number, trial.params)
            if command is not None:
                result = self._run_command(trial, list(command))
            else:
                assert function is not None
                result = self._run_function(trial, function)
            done.append(self.store.sweeps.finish(self.sweep.id, trial.number, result))
        return done

    # ---- one trial ---------------------------------------------------------------------------

    def _run_command(self, trial: Trial, command: list[str]) -> TrialResult:
        env = {**os.environ, **_variables(self.sweep, trial)}
        if self.uri is not None:
            env["ASSAY_URI"] = self.uri
        process = subprocess.Popen(command, env=env)
        pruned = False
        while process.poll() is None:
            try:
                process.wait(timeout=self.poll)
            except subprocess.TimeoutExpired:
                if self._prune(trial):
                    pruned = True
                    _stop(process)
                    break
        if pruned:
            return TrialResult(state="pruned", value=self._last_value(trial))
        if process.returncode != 0:
            log.warning(
                "assay: trial %d of sweep %s failed (exit %s)",
                trial.number,
                self.sweep.id,
                process.returncode,
            )
            return TrialResult(state="failed", value=self._value(trial))
        return self._outcome(trial)

    def _run_function(self, trial: Trial, function: Callable[[], Any]) -> TrialResult:
        with _environment(_variables(self.sweep, trial), self.uri):
            try:
                function()
            except Exception:
                log.warning(
                    "assay: trial %d of sweep %s failed", trial.number, self.sweep.id, exc_info=True
                )
                return TrialResult(state="failed", value=self._value(trial))
        return self._outcome(trial)

    def _outcome(self, trial: Trial) -> TrialResult:
        value = self._value(trial)
        if value is None:
            log.warning(
                "assay: trial %d of sweep %s logged no %r: recorded as failed",
                trial.number,
                self.sweep.id,
                self.spec.metric,
            )
            return TrialResult(state="failed")
        return TrialResult(state="complete", value=value)

    def _value(self, trial: Trial) -> float | None:
        """The metric's summary in the trial's run (its last value, unless the run set
        ``run.summary[metric]``), or None."""
        try:
            record = self.store.runs.get(trial.run_id)
        except NotFound:
            return None
        value = summary_of(record).get(self.spec.metric)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            return None
        return float(value)

    def _series(self, run_id: str) -> dict[int, float]:
        try:
            found = self.store.runs.history(run_id, [self.spec.metric]).get(self.spec.metric)
        except NotFound:
            return {}
        if found is None:
            return {}
        return {
            int(s): float(v)
            for s, v in zip(found.steps, found.values, strict=True)
            if math.isfinite(v)
        }

    def _last_value(self, trial: Trial) -> float | None:
        series = self._series(trial.run_id)
        return series[max(series)] if series else None

    def _prune(self, trial: Trial) -> bool:
        if self.spec.pruner is None:
            return False
        current = self._series(trial.run_id)
        if not current:
            return False
        history = [
            t for t in self.store.sweeps.trials(self.sweep.id) if t.state in ("complete", "pruned")
        ]
        for past in history:
            if past.number not in self._logged:
                self._logged[past.number] = self._series(past.run_id)
        return should_prune(self.spec, trial, current, history, self._logged)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End a pruned trial's process: SIGTERM (its run is marked killed), then SIGKILL."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_WAIT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def _environment(values: Mapping[str, str], uri: str | None) -> Iterator[None]:
    """Set the trial's variables for a function run here; put everything back after."""
    values = {**values, **({"ASSAY_URI": uri} if uri is not None else {})}
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


# ---- assay.sweep -----------------------------------------------------------------------------


def sweep(
    spec: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    function: Callable[[], Any] | None = None,
    *,
    sweep_id: str | None = None,
    count: int | None = None,
    project: str | None = None,
    uri: str | os.PathLike[str] | None = None,
) -> list[Trial]:
    """Create a sweep from ``spec`` (a sweep file or a mapping), or join ``sweep_id``, and
    run ``count`` trials here (all of them when None), calling ``function`` for each: it
    calls ``assay.init()``, whose config then holds the trial's parameters, and logs the
    sweep's metric. Returns the trials this call ran."""
    if (spec is None) == (sweep_id is None):
        raise InvalidInput("assay.sweep takes a spec (a new sweep) or a sweep_id (to join one)")
    if function is None:
        raise InvalidInput("assay.sweep needs the function that trains one trial")
    resolved = resolve_uri(uri)
    store = open_store(resolved)
    try:
        if sweep_id is None:
            assert spec is not None
            sweep_id = create_sweep(store, spec, project=project).id
        agent = Agent(store, sweep_id, uri=resolved)
        return agent.run(function=function, count=count)
    finally:
        store.close()
