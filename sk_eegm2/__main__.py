"""Command line: ``python -m sk_eegm2 benchmark eegmat``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch

from ._files import read_json
from .benchmark import (
    heldout_markdown,
    include_runs,
    markdown_table,
    run_eegmat,
    run_heldout,
    save,
    save_heldout,
)

#: The largest and deepest results file that --reuse and --include read: results hold a few
#: numbers per model, seed and fold (kilobytes), nested a few levels deep.
MAX_RESULTS_BYTES = 64 * 2**20
MAX_RESULTS_DEPTH = 32


def _read_results(path: str | Path) -> dict[str, Any]:
    """The benchmark results in the JSON file ``path`` (refused if it is no such file)."""
    results = read_json(path, "benchmark results file", MAX_RESULTS_BYTES, MAX_RESULTS_DEPTH)
    if not isinstance(results, dict) or not isinstance(results.get("runs"), dict):
        raise ValueError(f"{path} holds no benchmark results (an object with 'runs').")
    return results


def main(argv: list[str] | None = None) -> int:
    """Run the command line (returns the exit status)."""
    parser = argparse.ArgumentParser(prog="python -m sk_eegm2", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    bench = commands.add_parser(
        "benchmark",
        help="pretrain EEGM2 and evaluate it across subjects beside classical baselines",
    )
    bench.add_argument("dataset", choices=["eegmat"])
    bench.add_argument("--data", help="EEGMAT folder (else $SK_EEGM2_EEGMAT_PATH, else download)")
    bench.add_argument("--out", default="sk_eegm2_results", help="folder for JSON, Markdown, PNG")
    bench.add_argument(
        "--full",
        action="store_true",
        help="the paper's full network and recipe (for a GPU; hours on a CPU)",
    )
    bench.add_argument("--folds", type=int, default=6, help="GroupKFold folds (by subject)")
    bench.add_argument("--window", type=float, default=2.0, help="window length in seconds")
    bench.add_argument("--subjects", type=int, default=None, help="use only the first N subjects")
    bench.add_argument("--seed", type=int, default=0)
    bench.add_argument(
        "--heldout",
        action="store_true",
        help="the held-out protocol: settings chosen on subjects 0-11, reported on 12-35 "
        "(4 folds, seeds 0, 1, 2; about 40 min on one CPU thread); writes eegmat_heldout.*",
    )
    bench.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="FILE",
        help="with --heldout: append the runs of a results JSON of the same schema (a peer)",
    )
    bench.add_argument(
        "--reuse",
        action="store_true",
        help="with --heldout: read the runs from OUT/eegmat_heldout.json instead of running "
        "them again (to --include a peer's results afterwards)",
    )
    bench.add_argument("--quiet", action="store_true", help="no line per pretraining epoch")
    args = parser.parse_args(argv)
    log = lambda line: print(line, flush=True)  # noqa: E731
    verbose = 0 if args.quiet else 1
    if args.heldout:
        previous = Path(args.out) / "eegmat_heldout.json"
        if args.reuse:
            heldout = _read_results(previous)
        else:
            heldout = run_heldout(args.data, log=log, verbose=verbose)
        for path in args.include:
            include_runs(heldout, _read_results(path), path)
        paths = save_heldout(heldout, args.out)
        print()
        print(heldout_markdown(heldout))
        print("Saved " + ", ".join(str(p) for p in paths))
        return 0

    config = "full" if args.full else "cpu"
    if config == "full" and not torch.cuda.is_available():
        print("warning: --full on a machine without CUDA will take many hours", file=sys.stderr)
    results = run_eegmat(
        args.data,
        config=config,
        n_folds=args.folds,
        window_seconds=args.window,
        subjects=None if args.subjects is None else list(range(args.subjects)),
        random_state=args.seed,
        log=log,
        verbose=verbose,
    )
    paths = save(results, args.out)
    print()
    print(markdown_table(results))
    print("Saved " + ", ".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
