"""Rich values: what logging a 256x256 RGB image every step of a 1,000-step loop costs the
training loop, Assay (``assay.Image``) and W&B offline (``wandb.Image``) side by side.

Each framework runs in a fresh process. Per call: the time of
``run.log({"image": Image(array)}, step=i)`` (making the value included: that is what
the loop pays), median, mean and 99th percentile over the 1,000 calls. Then the time
until ``finish()`` returns with everything durable (Assay encodes in its writer thread,
so this is where its PNG encoding shows), and the process's peak memory. The images are
uniform noise (the worst case for PNG), a different one each step.

    python bench/media.py [--out bench/RESULTS.md] [--steps 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import sections

HERE = Path(__file__).resolve().parent
MARK = "## Rich values: an image every step"
SIDE = 256
FRAMEWORKS = ("assay", "wandb-offline", "assay-scalars")
WORK_MS = (0.0, 5.0)  # a tight loop, and one whose steps also train for 5 ms


def case(framework: str, steps: int, work_ms: float = 0.0, settle: bool = False) -> dict[str, Any]:
    import numpy as np

    warnings.filterwarnings("ignore")
    rng = np.random.default_rng(0)
    pool = [rng.integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8) for _ in range(16)]
    with tempfile.TemporaryDirectory() as tmp:
        log, finish, flush = _start(framework, tmp)
        costs, copies, copied = [], [], []
        started = time.perf_counter()
        for step in range(steps):
            image = pool[step % len(pool)]
            image[0, 0] = (step % 256, step // 256, 0)  # a distinct image every step
            t0 = time.perf_counter()
            copied.append(np.array(image, copy=True))  # the floor: a bare copy, kept
            t1 = time.perf_counter()
            log(image, step)
            costs.append(time.perf_counter() - t1)
            copies.append(t1 - t0)
            if len(copied) > 1:
                copied.pop(0)
            if work_ms:
                time.sleep(work_ms / 1000)  # the step's training work (the GIL released)
            if settle:
                flush()  # untimed: the writer has caught up before the next call
        loop = time.perf_counter() - started
        finish()
        total = time.perf_counter() - started
    costs_us = sorted(c * 1e6 for c in costs)
    return {
        "copy_us": statistics.median(c * 1e6 for c in copies),
        "median_us": statistics.median(costs_us),
        "mean_us": statistics.fmean(costs_us),
        "p99_us": costs_us[int(len(costs_us) * 0.99) - 1],
        "loop_s": loop,
        "durable_s": total,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _start(framework: str, tmp: str) -> tuple[Any, Any, Any]:
    if framework.startswith("assay"):
        import assay

        settings = assay.Settings(
            capture_git=False,
            capture_packages=False,
            capture_console=False,
            system_metrics_interval=0,
            handle_signals=False,
        )
        run = assay.init(project="bench", uri=os.path.join(tmp, "assay"), settings=settings)
        if framework == "assay-scalars":  # the floor: a call without an image, same loop
            return (lambda a, s: run.log({"loss": 0.5, "acc": 0.9}, step=s)), run.finish, run.flush
        return (lambda a, s: run.log({"image": assay.Image(a)}, step=s)), run.finish, run.flush
    os.environ.setdefault("WANDB_SILENT", "true")
    import wandb

    run = wandb.init(
        project="bench",
        mode="offline",
        dir=tmp,
        settings=wandb.Settings(x_disable_stats=True, console="off"),
    )
    return (lambda a, s: run.log({"image": wandb.Image(a)}, step=s)), run.finish, lambda: None


def measure(steps: int) -> dict[str, dict[str, Any]]:
    results = {}
    plan = [(f, w, False) for w in WORK_MS for f in FRAMEWORKS] + [("assay", 0.0, True)]
    for framework, work, settle in plan:
        label = framework if not work else f"{framework}, {work:g} ms of work per step"
        label = f"{framework}, the writer caught up before each call" if settle else label
        args = ["--case", framework, "--steps", str(steps), "--work-ms", str(work)]
        out = subprocess.run(
            [sys.executable, __file__, *args, *(["--settle"] if settle else [])],
            capture_output=True,
            text=True,
            check=True,
            timeout=1800,
        )
        results[label] = json.loads(out.stdout.strip().splitlines()[-1])
        print(label, results[label], file=sys.stderr, flush=True)
    return results


def render(results: dict[str, dict[str, Any]], steps: int, command: str) -> list[str]:
    lines = [
        MARK,
        "",
        f"Produced by `{command}` on {time.strftime('%Y-%m-%d')}: a {SIDE}x{SIDE} RGB uint8",
        f"image (uniform noise, a different one each step) logged every step of a {steps}-step",
        "loop, each framework in a fresh process. Per call: `run.log({'image': X(array)})` with",
        "the value made in the call. 'Durable' is the loop plus `finish()` until everything is",
        "stored (Assay encodes PNGs in its writer thread, so its encoding shows there, not in",
        "the loop); memory is the process's peak. The tight loop does nothing else, so Assay's",
        "writer thread competes with it for the GIL and the cores; the second pair of rows",
        "gives each step 5 ms of training work (a sleep: the GIL released, as in a GPU step).",
        "When the writer falls behind (it stores an image in a few ms of CPU, a loop doing",
        "nothing else logs one every few tens of µs), each call needs memory for its copy",
        "that the process has not touched before; a background thread maps it ahead in",
        "populated slabs (assay.media.reserve), so the call",
        "copies without page faults unless the loop outruns that thread too. Once the writer",
        "has caught up, the copy goes into a buffer it recycled. The last row shows that",
        "case: an untimed `run.flush()` after each call lets the writer catch up first.",
        "'A bare copy' is `numpy.array(image, copy=True)` of the same array just before each",
        "call, dropped at the next step (so its memory is reused): what copying the pixels",
        "alone costs at that moment. The mean and p99 of the tight loop carry the calls that",
        "found no slab ready and the waits for the GIL while the writer thread holds it.",
        "The 'assay-scalars' rows log two scalars instead of the image in the same loop: what",
        "any call costs in that loop (after a step's sleep the caches are cold and the core",
        "may have slowed down, so every call costs several times more than in a tight loop).",
        "",
        "| framework | per call, median | mean | p99 | a bare copy | loop | durable "
        "| peak memory |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for fw, r in results.items():
        lines.append(
            f"| {fw} | {r['median_us']:,.1f} µs | {r['mean_us']:,.1f} µs | {r['p99_us']:,.0f} µs"
            f" | {r['copy_us']:,.1f} µs | {r['loop_s']:.2f} s | {r['durable_s']:.2f} s"
            f" | {r['peak_mb']:,.0f} MB |"
        )
    ours, theirs = results["assay"], results.get("wandb-offline")
    busy = results.get(f"assay, {WORK_MS[-1]:g} ms of work per step", ours)
    caught = results.get("assay, the writer caught up before each call", ours)
    lines.append("")
    met = "met" if ours["median_us"] < 50 else "MISSED"
    lines.append(
        f"- per call < 50 µs (median) in the {steps}-step loop (the target's case, a tight "
        f"loop): {ours['median_us']:.1f} µs — {met}"
    )
    floor = results.get("assay-scalars")
    floor_busy = results.get(f"assay-scalars, {WORK_MS[-1]:g} ms of work per step")
    for what, r, base in (
        (f"with {WORK_MS[-1]:g} ms of work per step", busy, floor_busy),
        ("the writer caught up before each call", caught, None),
    ):
        scalars = f" (two scalars in that loop: {base['median_us']:.1f} µs)" if base else ""
        lines.append(f"- per call, {what}: {r['median_us']:.1f} µs{scalars}")
    if floor:
        lines.append(f"- two scalars in the tight loop: {floor['median_us']:.1f} µs")
    if theirs:
        lines.append(
            f"- against `wandb.Image` offline: {theirs['median_us'] / ours['median_us']:,.0f}x "
            f"less per call; until durable, {theirs['durable_s']:.2f} s vs "
            f"{ours['durable_s']:.2f} s"
        )
    return lines


def write(out: Path, lines: list[str]) -> None:
    """Replace this section of RESULTS.md (or append it)."""
    sections.replace(out, MARK, lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--case", choices=FRAMEWORKS, default=None)
    parser.add_argument("--work-ms", type=float, default=0.0)
    parser.add_argument("--settle", action="store_true", help="flush (untimed) after each call")
    args = parser.parse_args()
    if args.case is not None:
        result = case(args.case, args.steps, args.work_ms, args.settle)
        sys.stdout.write(json.dumps(result) + "\n")
        return
    results = measure(args.steps)
    lines = render(results, args.steps, "python bench/media.py")
    write(args.out, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
