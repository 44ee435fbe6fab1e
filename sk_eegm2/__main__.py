"""Command line: python -m sk_eegm2 benchmark eegmat."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._files import read_json

#: PyTorch threads of the main job unless --threads says otherwise. One thread: on the
#: project's 2-core machine, shared with other jobs, one thread trained several times faster
#: than two, with or without a busy loop beside (benchmarks/results/threads.md).
DEFAULT_THREADS = 1

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


def _heldout() -> tuple[Callable[..., Any], ...]:
    from . import benchmark

    return (
        benchmark.run_heldout,
        benchmark.include_runs,
        benchmark.save_heldout,
        benchmark.heldout_markdown,
    )


def _bcireport() -> tuple[Callable[..., Any], ...]:
    from . import leaderboard

    return (
        leaderboard.run_bcireport,
        leaderboard.include_runs,
        leaderboard.save_bcireport,
        leaderboard.bcireport_markdown,
    )


def _transfer() -> tuple[Callable[..., Any], ...]:
    from . import transfer

    return (
        transfer.run_transfer,
        transfer.include_runs,
        transfer.save_transfer,
        transfer.transfer_markdown,
    )


#: The protocols besides the plain cross-subject one: each gives (run, include_runs, save,
#: markdown), imported on use (PyTorch takes seconds to import).
PROTOCOLS: dict[str, Callable[[], tuple[Callable[..., Any], ...]]] = {
    "heldout": _heldout,
    "bci-report": _bcireport,
    "transfer": _transfer,
}
#: The stem of each protocol's results files in --out.
RESULTS = {
    "heldout": "eegmat_heldout",
    "bci-report": "eegmat_bcireport",
    "transfer": "eegmat_transfer",
}


class _DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default where it has one (not for flags, nor for "not given")."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or action.default == []:
            return action.help
        return super()._get_help_string(action)


def _parser() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The command line's parser, and that of its ``benchmark`` command."""
    parser = argparse.ArgumentParser(prog="python -m sk_eegm2", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    bench = commands.add_parser(
        "benchmark",
        help="pretrain EEGM2 and evaluate it across subjects beside classical baselines",
        description="Pretrain EEGM2 and evaluate it across subjects on EEGMAT, beside "
        "classical baselines; writes the results (JSON, Markdown, a figure) into --out.",
        formatter_class=_DefaultsHelpFormatter,
    )
    bench.add_argument("dataset", choices=["eegmat"], help="the dataset")
    bench.add_argument(
        "--data",
        help="EEGMAT folder; if not given, $SK_EEGM2_EEGMAT_PATH, else a download from PhysioNet",
    )
    bench.add_argument(
        "--eegbci-data",
        help="with transfer: folder holding MNE's MNE-eegbci-data folder, or that folder; if "
        "not given, $SK_EEGM2_EEGBCI_PATH, else MNE's default (missing files downloaded)",
    )
    bench.add_argument("--out", default="sk_eegm2_results", help="folder for JSON, Markdown, PNG")
    bench.add_argument(
        "--full",
        action="store_true",
        help="the paper's full network and recipe (for a GPU; hours on a CPU)",
    )
    bench.add_argument("--folds", type=int, default=6, help="GroupKFold folds (by subject)")
    bench.add_argument("--window", type=float, default=2.0, help="window length in seconds")
    bench.add_argument(
        "--subjects", type=int, default=None, help="use only the first N subjects (all if unset)"
    )
    bench.add_argument("--seed", type=int, default=0, help="seeds every model")
    bench.add_argument(
        "--threads",
        type=int,
        default=DEFAULT_THREADS,
        help="PyTorch threads (recorded in the results; one was fastest on a shared 2-core "
        "machine, see benchmarks/results/threads.md)",
    )
    bench.add_argument(
        "--protocol",
        choices=["cross-subject", *PROTOCOLS],
        default="cross-subject",
        help="cross-subject: all 36 subjects in --folds folds (eegmat.*); heldout: settings "
        "chosen on subjects 0-11, reported on 12-35 in 4 folds x seeds 0, 1, 2 "
        "(eegmat_heldout.*); bci-report: the bci.report leaderboard's windows, 5 folds and "
        "metric, seeds 0, 1, 2, with the leaderboard's rows (eegmat_bcireport.*); transfer: "
        "pretrained on EEGMAT, evaluated on EEGBCI subject S001's motor imagery beside the "
        "same network pretrained in-domain, untrained, and the baselines (eegmat_transfer.*); "
        "each results file records the run's total time",
    )
    bench.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="with heldout or bci-report: runs side by side in processes, each with --threads "
        "threads",
    )
    bench.add_argument(
        "--aligned",
        action="store_true",
        help="with heldout or bci-report: also every model on windows aligned per subject "
        "(SubjectAlignment; transductive: uses each test subject's unlabelled windows), "
        "reported apart",
    )
    bench.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="FILE",
        help="with heldout or bci-report: append the runs of a results JSON of the same "
        "schema (a peer, e.g. benchmarks/braindecode_peer.py's)",
    )
    bench.add_argument(
        "--reuse",
        action="store_true",
        help="with heldout or bci-report: read the runs from the saved results in --out "
        "instead of running them again (to --include a peer's results afterwards)",
    )
    bench.add_argument("--quiet", action="store_true", help="no line per pretraining epoch")
    return parser, bench


def main(argv: list[str] | None = None) -> int:
    """Run the command line (returns the exit status)."""
    parser, bench = _parser()
    args = parser.parse_args(argv)
    if args.threads < 1:
        bench.error(f"--threads must be at least 1, got {args.threads}")
    if args.jobs < 1:
        bench.error(f"--jobs must be at least 1, got {args.jobs}")
    # PyTorch and MNE take seconds to import: only once the arguments are known to be valid.
    from .datasets.eegmat import EEGMAT_FILE_PATTERN, EEGMAT_PATH_ENV

    # The folder named by --data, else by the environment variable, must hold EEGMAT files
    # (without either, load_eegmat downloads them).
    named_by, given = (
        ("--data", args.data) if args.data else (EEGMAT_PATH_ENV, os.environ.get(EEGMAT_PATH_ENV))
    )
    if given and not any(Path(given).expanduser().glob(EEGMAT_FILE_PATTERN)):
        folder = Path(given).expanduser().absolute()
        state = "holds no EEGMAT file (SubjectXX_1.edf)" if folder.is_dir() else "does not exist"
        bench.error(f"{named_by} {given}: the folder {folder} {state}")

    import torch

    from .benchmark import markdown_table, run_eegmat, save

    log = lambda line: print(line, flush=True)  # noqa: E731
    verbose = 0 if args.quiet else 1
    if args.protocol != "cross-subject":
        run, include_runs, write, markdown = PROTOCOLS[args.protocol]()
        if args.reuse:
            results = _read_results(Path(args.out) / f"{RESULTS[args.protocol]}.json")
        else:
            # Only the transfer protocol reads a second dataset.
            extra = {"eegbci_path": args.eegbci_data} if args.protocol == "transfer" else {}
            results = run(
                args.data, aligned=args.aligned, threads=args.threads, n_jobs=args.jobs, log=log,
                verbose=verbose, **extra,
            )  # fmt: skip
        for path in args.include:
            include_runs(results, _read_results(path), path)
        paths = write(results, args.out)
        print()
        print(markdown(results))
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
        threads=args.threads,
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
