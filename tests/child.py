"""A training process for tests that need a real, separate process.

    python -m tests.child URI MODE RUN_ID BEHAVIOUR [N]

BEHAVIOUR: ``forever`` logs and flushes in rounds of 100 steps, printing the count flushed
so far, until killed; ``fail`` raises after logging; ``sweep`` logs N steps of 10 keys and
finishes; ``wait`` prints "ready" and sleeps until a signal ends it; ``resume`` resumes
the run, prints the step it continues at, logs one step there and finishes.
"""

from __future__ import annotations

import sys
import time

import assay
from assay.sdk.settings import Settings


def main() -> None:
    uri, mode, run_id, behaviour = sys.argv[1:5]
    settings = Settings(
        capture_git=False,
        capture_packages=False,
        capture_console=False,
        capture_code=False,
        system_metrics_interval=0,
        flush_interval=0.05,
        handle_signals=behaviour == "wait",
    )
    resume = behaviour == "resume"
    run = assay.init(project="p", uri=uri, mode=mode, id=run_id, resume=resume, settings=settings)
    if behaviour == "forever":
        step = 0
        while True:
            for _ in range(100):
                run.log({"x": float(step), "y": 1.0}, step=step)
                step += 1
            run.flush()
            print(step, flush=True)
    elif behaviour == "fail":
        run.log({"x": 1.0})
        raise ValueError("boom in training")
    elif behaviour == "sweep":
        steps = int(sys.argv[5])
        keys = [f"k{j}" for j in range(10)]
        for step in range(steps):
            run.log({k: float(step) for k in keys})
        run.finish()
    elif behaviour == "resume":
        print(run.step, flush=True)
        run.log({"x": float(run.step), "y": 1.0})
        run.finish()
    elif behaviour == "wait":
        run.log({"x": 1.0})
        print("ready", flush=True)
        time.sleep(60)


if __name__ == "__main__":
    main()
