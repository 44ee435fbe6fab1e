"""One training epoch with 1 and with 2 PyTorch threads, alone and beside a busy process.

    python benchmarks/threads.py                 # writes benchmarks/results/threads.{json,md}

The main job's ``--threads`` default comes from these figures. The epoch is the main job's
(:data:`sk_eegm2.benchmark.CONFIGS` ``"cpu"``: the "cpu" preset, batches of 64 windows of
19 x 256) on the first SUBJECTS subjects of EEGMAT, without a validation split. Each
setting is timed REPEATS times, alternating with the others (after one warm-up epoch each),
and the median wall time is reported. "busy" runs a pure-Python loop in another process for
the duration of the epoch, as a second job on the machine would: it takes one core. The
load average before each setting is kept in the JSON, since a shared machine is never idle.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from sk_eegm2 import EEGM2Pretrainer, report
from sk_eegm2.benchmark import CONFIGS
from sk_eegm2.datasets import load_eegmat

HERE = Path(__file__).resolve().parent
SUBJECTS = 4
REPEATS = 3
THREADS = (1, 2)


def _spin() -> None:
    while True:
        pass


@contextmanager
def busy_core(busy: bool) -> Iterator[None]:
    """A process spinning on one core for the duration of the block (if ``busy``)."""
    if not busy:
        yield
        return
    process = multiprocessing.Process(target=_spin, daemon=True)
    process.start()
    try:
        yield
    finally:
        process.terminate()
        process.join()


def epoch_seconds(X: np.ndarray, threads: int) -> float:
    """Wall time of one training epoch of the main job's pretrainer on ``X``."""
    settings = CONFIGS["cpu"]
    pretrainer = EEGM2Pretrainer(
        **settings["network"],
        **{**settings["pretrain"], "max_epochs": 1},
        validation_fraction=0,
        threads=threads,
        random_state=0,
    )
    tick = time.perf_counter()
    pretrainer.fit(X)
    return time.perf_counter() - tick


def run(path: str | None) -> dict[str, Any]:
    X, _, _ = load_eegmat(range(SUBJECTS), path=path, return_epochs=False)
    assert isinstance(X, np.ndarray)
    settings = [(threads, busy) for busy in (False, True) for threads in THREADS]
    seconds: dict[tuple[int, bool], list[float]] = {s: [] for s in settings}
    load: dict[tuple[int, bool], list[float]] = {s: [] for s in settings}
    for threads, _ in settings[:2]:
        epoch_seconds(X, threads)  # warm-up
    for _ in range(REPEATS):
        for threads, busy in settings:
            load[threads, busy].append(os.getloadavg()[0])
            with busy_core(busy):
                seconds[threads, busy].append(epoch_seconds(X, threads))
    return {
        "what": "one training epoch of the main job's pretrainer (CONFIGS['cpu'])",
        "n_windows": len(X),
        "n_subjects": SUBJECTS,
        "repeats": REPEATS,
        "runs": [
            {
                "threads": threads,
                "busy_process": busy,
                "median_seconds": statistics.median(seconds[threads, busy]),
                "seconds": seconds[threads, busy],
                "load_average_before": load[threads, busy],
            }
            for threads, busy in settings
        ],
        "machine": report.machine_info(),
    }


def markdown(results: dict[str, Any]) -> str:
    rows = [
        [
            str(r["threads"]),
            "yes" if r["busy_process"] else "no",
            f"{r['median_seconds']:.1f}",
            ", ".join(f"{s:.1f}" for s in r["seconds"]),
            ", ".join(f"{x:.1f}" for x in r["load_average_before"]),
        ]
        for r in results["runs"]
    ]
    header = ["torch threads", "busy loop beside", "median s", "each run (s)", "load average"]
    lines = [
        f"One training epoch of the main job's pretrainer on {results['n_windows']} EEGMAT "
        f"windows (subjects 0-{results['n_subjects'] - 1}), median of {results['repeats']} "
        'runs; "busy loop beside": a loop spinning on one core in another process. Load '
        "average: the 1-minute load before each run; above the number of cores, other jobs "
        "shared the machine too.",
        "",
        *report.markdown_table(header, rows),
        "",
        f"Run on {report.machine_summary(results['machine'])}.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="EEGMAT folder (else SK_EEGM2_EEGMAT_PATH)")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    results = run(args.data)
    args.out.mkdir(parents=True, exist_ok=True)
    report.write_json(results, args.out / "threads.json")
    (args.out / "threads.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
