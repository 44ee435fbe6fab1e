"""Time and memory of EEGM2 against self-attention as EEG sequences grow: one command, one run.

    python benchmarks/scaling.py            # CPU, the full grid
    python benchmarks/scaling.py --quick    # a smoke run of a minute
    python benchmarks/scaling.py --device cuda

Every point (model, length T, forward or training step) runs in a fresh process twice: once
for its peak memory (a single pass, nothing allocated before it) and once for its time
(a warm-up pass, then the median of timed passes). A point is skipped when the last points
of the same model predict it exceeds the time or memory budget, and the output says so.

Models: EEGM2 (this package; ``eegm2-recompute`` with activation recomputation), and
EEGM2-S5, the paper's ablation with 4-head self-attention in place of each Mamba block,
run as the paper wrote it (attention weights materialised) and with PyTorch's fused
attention. Transformer EEG models from braindecode are added when it is installed.

Writes ``scaling.json``, ``scaling.md`` (and the same tables as ``scaling.rst`` for the
documentation) and ``scaling.png`` into ``--out``; ``--report-only`` rewrites them from the
JSON.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from attention_variant import eegm2_s5  # noqa: E402

from sk_eegm2.nn import EEGM2  # noqa: E402
from sk_eegm2.report import (  # noqa: E402
    machine_info,
    machine_summary,
    markdown_table,
    rst_table,
    write_json,
)

#: braindecode's Transformer EEG models tried with 16 channels and long inputs.
BRAINDECODE_MODELS = ("BIOT", "Labram", "EEGPT", "CBraMod")
SFREQ = 128.0  # the paper's sampling rate; braindecode's models take it as an argument


def build_model(name: str, n_chans: int, n_times: int, backend: str) -> nn.Module:
    """The network called ``name``, with seeded weights."""
    torch.manual_seed(0)
    if name == "eegm2":
        return EEGM2(n_chans, backend=backend)  # type: ignore[arg-type]
    if name == "eegm2-recompute":
        return EEGM2(n_chans, backend=backend, checkpointing=True)  # type: ignore[arg-type]
    if name in ("s5-fused", "s5-materialised"):
        return eegm2_s5(n_chans, fused=name == "s5-fused")
    if name.startswith("braindecode-"):
        models = importlib.import_module("braindecode.models")
        cls = getattr(models, name.removeprefix("braindecode-"))
        return cls(n_chans=n_chans, n_outputs=2, n_times=n_times, sfreq=SFREQ)
    raise ValueError(f"unknown model {name!r}")


def braindecode_status() -> str | None:
    """None if braindecode's models import, else why not."""
    try:
        importlib.import_module("braindecode.models")
    except Exception as error:  # ImportError, or a binary dependency that does not load
        return f"braindecode not usable here: {type(error).__name__}: {error}"
    return None


# --------------------------------------------------------------------------------------
# Worker: one measurement in a fresh process.


def _proc_status(key: str) -> float:
    """A /proc/self/status entry in bytes (VmRSS, VmHWM, VmSize)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return float(line.split()[1]) * 1024
    raise KeyError(key)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_rate(device: torch.device) -> float:
    """Dense float32 matmul rate of this process's device, FLOP/s (median of 5)."""
    n = 4096 if device.type == "cuda" else 2048
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b
    times = []
    for _ in range(5):
        _sync(device)
        start = time.perf_counter()
        a @ b
        _sync(device)
        times.append(time.perf_counter() - start)
    return 2 * n**3 / float(np.median(times))


def run_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Measure one point: ``spec`` names the model, length, batch, mode and kind."""
    device = torch.device(spec["device"])
    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    model = build_model(spec["model"], spec["channels"], spec["n_times"], spec["backend"])
    model = model.to(device)
    x = torch.randn(spec["batch"], spec["channels"], spec["n_times"], device=device)
    train = spec["mode"] == "train"
    model.train(train)

    def one_pass() -> None:
        if train:
            out = model(x)
            out.float().square().mean().backward()
            model.zero_grad(set_to_none=True)
        else:
            with torch.no_grad():
                model(x)

    result: dict[str, Any] = {"load_before": os.getloadavg()[0]}
    if device.type == "cpu" and spec["memory_budget_gb"]:
        # Fail an allocation past the budget instead of swapping or waking the OOM killer.
        limit = int(_proc_status("VmSize") + spec["memory_budget_gb"] * 2**30 * 1.05)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        if spec["kind"] == "memory":
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
                before = torch.cuda.memory_allocated(device)
            else:
                before = _proc_status("VmRSS")
                Path("/proc/self/clear_refs").write_text("5")  # restart VmHWM from here
            start = time.perf_counter()
            one_pass()
            _sync(device)
            result["seconds_once"] = time.perf_counter() - start
            peak = (
                torch.cuda.max_memory_allocated(device)
                if device.type == "cuda"
                else _proc_status("VmHWM")
            )
            result["peak_gb"] = (peak - before) / 2**30
        else:
            result["matmul_flops"] = matmul_rate(device)
            if spec["warm_up"]:
                one_pass()
            times = []
            for _ in range(spec["repeats"]):
                _sync(device)
                start = time.perf_counter()
                one_pass()
                _sync(device)
                times.append(time.perf_counter() - start)
            result["seconds"] = float(np.median(times))
            result["seconds_all"] = times
            if not train and spec["count_flops"]:
                from torch.utils.flop_counter import FlopCounterMode

                with FlopCounterMode(display=False) as counter, torch.no_grad():
                    model(x)
                result["flops"] = counter.get_total_flops()
    except (MemoryError, RuntimeError) as error:  # CPU allocator or CUDA out of memory
        if "memory" not in str(error).lower() and not isinstance(error, MemoryError):
            raise
        result["error"] = "out of memory"
    result["load_after"] = os.getloadavg()[0]
    return result


# --------------------------------------------------------------------------------------
# Orchestration.


def worker_env(kind: str, allocator_cache: bool) -> dict[str, str]:
    """Environment of a worker process: how glibc's malloc treats large tensors.

    By default the workers run with glibc's defaults, as a user's process does: every
    allocation over 32 MiB is mapped afresh and unmapped when freed, so every large
    activation costs page faults and the kernel's zeroing of its pages, and the peak
    resident size includes what glibc keeps. ``allocator_cache`` (``--allocator-cache``)
    asks for tuned settings instead: for timing, freed memory is kept for reuse
    (``MALLOC_MMAP_MAX_=0``, no trimming), as PyTorch's caching allocator does on CUDA;
    for memory runs a fixed 1 MiB mmap threshold, so that every freed tensor goes back to
    the system and the peak resident size is the peak of live tensors, like
    ``torch.cuda.max_memory_allocated``.
    """
    env = dict(os.environ)
    if not allocator_cache:
        return env
    if kind == "memory":
        env["MALLOC_MMAP_THRESHOLD_"] = str(2**20)
    else:
        env["MALLOC_MMAP_MAX_"] = "0"
        env["MALLOC_TRIM_THRESHOLD_"] = str(2**50)
    return env


def measure(spec: dict[str, Any], allocator_cache: bool) -> dict[str, Any]:
    """Run one worker process and return its result (or the error it died of)."""
    command = [sys.executable, __file__, "--worker", json.dumps(spec)]
    done = subprocess.run(
        command, capture_output=True, text=True, env=worker_env(spec["kind"], allocator_cache)
    )
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return dict(json.loads(line.removeprefix("RESULT ")))
    tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
    if done.returncode < 0:  # killed: on CPU, the kernel's OOM killer
        return {"error": f"killed by signal {-done.returncode}"}
    return {"error": f"worker failed: {tail[0][:200]}"}


def predict(points: list[tuple[int, float]], n_times: int) -> float | None:
    """Extrapolate a value to ``n_times`` from the last two (T, value) points on a log-log
    line (slope at least 1), or linearly from a single point."""
    if not points:
        return None
    if len(points) == 1:
        (t0, v0) = points[0]
        return v0 * n_times / t0
    (t0, v0), (t1, v1) = points[-2:]
    slope = max(1.0, math.log(max(v1, 1e-12) / max(v0, 1e-12)) / math.log(t1 / t0))
    return v1 * (n_times / t1) ** slope


def fit_exponent(points: list[tuple[int, float]]) -> float | None:
    """Least-squares slope of log(value) against log(T)."""
    if len(points) < 2:
        return None
    t, v = np.log([p[0] for p in points]), np.log([max(p[1], 1e-12) for p in points])
    return float(np.polyfit(t, v, 1)[0])


def run_grid(
    args: argparse.Namespace,
    models: list[str],
    modes: list[str],
    lengths: list[int],
    batch: int,
    log: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Measure every (model, mode, T), skipping points predicted over the budgets."""
    records = []
    for model in models:
        for mode in modes:
            times: list[tuple[int, float]] = []
            peaks: list[tuple[int, float]] = []
            stop = ""
            for n_times in lengths:
                record: dict[str, Any] = {"model": model, "mode": mode, "n_times": n_times}
                record["batch"] = batch
                guess_t, guess_m = predict(times, n_times), predict(peaks, n_times)
                if stop:
                    record["skipped"] = stop
                elif guess_t is not None and guess_t > args.time_budget:
                    record["skipped"] = f"predicted {guess_t:.0f} s > {args.time_budget:g} s"
                elif guess_m is not None and guess_m > args.memory_budget:
                    record["skipped"] = f"predicted {guess_m:.1f} GB > {args.memory_budget:g} GB"
                if "skipped" in record:
                    records.append(record)
                    log(f"  {model:22s} {mode:8s} T={n_times:6d}  skipped: {record['skipped']}")
                    continue
                spec = {
                    "model": model,
                    "mode": mode,
                    "n_times": n_times,
                    "batch": batch,
                    "channels": args.channels,
                    "device": args.device,
                    "backend": args.backend,
                    "threads": args.threads,
                    "memory_budget_gb": args.memory_budget if args.device == "cpu" else 0,
                    "count_flops": mode == "forward",
                }
                memory = measure(spec | {"kind": "memory"}, args.allocator_cache)
                record["memory"] = memory
                if "error" in memory:
                    record["error"] = memory["error"]
                    stop = f"{memory['error']} at T={n_times}"
                else:
                    # Passes slower than --point-seconds are timed once, without a warm-up.
                    once = memory["seconds_once"]
                    repeats = int(max(1, min(args.repeats, args.point_seconds // max(once, 1e-3))))
                    warm_up = once < args.point_seconds
                    timing = measure(
                        spec | {"kind": "time", "repeats": repeats, "warm_up": warm_up},
                        args.allocator_cache,
                    )
                    record["timing"] = timing
                    if "error" in timing:
                        record["error"] = timing["error"]
                        stop = f"{timing['error']} at T={n_times}"
                    else:
                        record["seconds"] = timing["seconds"]
                        record["peak_gb"] = memory["peak_gb"]
                        times.append((n_times, timing["seconds"]))
                        peaks.append((n_times, max(memory["peak_gb"], 1e-6)))
                        if "flops" in timing:
                            record["flops"] = timing["flops"]
                            rate = timing["flops"] / timing["seconds"]
                            record["matmul_fraction"] = rate / timing["matmul_flops"]
                records.append(record)
                log(f"  {model:22s} {mode:8s} T={n_times:6d}  " + summary(record))
    return records


def summary(record: dict[str, Any]) -> str:
    if "error" in record:
        return f"failed: {record['error']}"
    text = f"{record['seconds']:8.3f} s  {record['peak_gb']:7.3f} GB"
    if "matmul_fraction" in record:
        text += f"  {100 * record['matmul_fraction']:5.1f}% of matmul rate"
    return text


# --------------------------------------------------------------------------------------
# Reports.


def exponents(records: list[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Fitted exponents of time and peak memory against T, per model and mode."""
    out: dict[str, dict[str, float | None]] = {}
    for key in sorted({(r["model"], r["mode"]) for r in records}):
        done = [r for r in records if (r["model"], r["mode"]) == key and "seconds" in r]
        out[f"{key[0]} {key[1]}"] = {
            "time": fit_exponent([(r["n_times"], r["seconds"]) for r in done]),
            "memory": fit_exponent([(r["n_times"], r["peak_gb"]) for r in done]),
            "from": min((r["n_times"] for r in done), default=None),
            "to": max((r["n_times"] for r in done), default=None),
        }
    return out


def lookup(records: list[dict[str, Any]], model: str, mode: str, n_times: int) -> Any:
    for record in records:
        if (record["model"], record["mode"], record["n_times"]) == (model, mode, n_times):
            return record
    return None


def targets(records: list[dict[str, Any]], fits: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, evaluated on this run."""
    rows = []

    def ratio(a: Any, b: Any, key: str) -> float | None:
        return b[key] / a[key] if a and b and key in a and key in b else None

    for mode in ("forward", "train"):
        fit = fits.get(f"eegm2 {mode}", {})
        for metric in ("time", "memory"):
            value = fit.get(metric)
            rows.append(
                {
                    "target": f"EEGM2 {mode} {metric} exponent <= 1.1 "
                    f"(T {fit.get('from')}..{fit.get('to')})",
                    "value": value,
                    "met": value is not None and value <= 1.1,
                }
            )
    for n_times, needed in ((12800, 1.0), (51200, 5.0)):
        value = ratio(
            lookup(records, "eegm2", "train", n_times),
            lookup(records, "s5-fused", "train", n_times),
            "seconds",
        )
        rows.append(
            {
                "target": f"training step at T={n_times}: fused attention / EEGM2 time "
                f"{'>' if needed == 1 else '>='} {needed:g}",
                "value": value,
                "met": value is not None and (value > needed if needed == 1 else value >= needed),
            }
        )
    recompute = lookup(records, "eegm2-recompute", "train", 12800)
    fused = lookup(records, "s5-fused", "train", 12800)
    value = ratio(fused, recompute, "peak_gb")
    rows.append(
        {
            "target": "training peak memory at T=12800: EEGM2 with recomputation / fused "
            "attention <= 1.5",
            "value": value,
            "met": value is not None and value <= 1.5,
        }
    )
    materialised = [
        r
        for r in records
        if r["model"] == "s5-materialised" and r["mode"] == "train" and "seconds" not in r
    ]
    first = min((r["n_times"] for r in materialised), default=None)
    eegm2_runs = lookup(records, "eegm2", "train", first) if first else None
    rows.append(
        {
            "target": "materialised attention exceeds the memory budget where EEGM2 runs",
            "value": first,
            "met": bool(first and eegm2_runs and "seconds" in eegm2_runs),
        }
    )
    fractions = [
        r["matmul_fraction"]
        for r in records
        if r["model"] == "eegm2" and r["mode"] == "forward" and "matmul_fraction" in r
    ]
    rows.append(
        {
            "target": "EEGM2 forward reaches >= 50% of the matmul rate at every T",
            "value": min(fractions) if fractions else None,
            "met": bool(fractions) and min(fractions) >= 0.5,
        }
    )
    return rows


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


Table = tuple[str, list[str], list[list[str]]]  # title, header, rows


def header_lines(report: dict[str, Any]) -> list[str]:
    """What ran where: machine, versions, date, settings."""
    meta, settings = report["machine"], report["settings"]
    return [
        f"machine: {machine_summary(meta)}",
        f"device {settings['device']}, threads: {settings['threads'] or meta['torch_threads']}, "
        "glibc keeps freed memory for timed passes: "
        + ("yes" if settings["allocator_cache"] else "no"),
        f"batch {settings['batch']}, {settings['channels']} channels; budgets "
        f"{settings['time_budget']:g} s and {settings['memory_budget']:g} GB per pass",
        f"command: ``{report['command']}``",
    ]


def tables(report: dict[str, Any]) -> list[Table]:
    """The report's tables, for both the Markdown and the reStructuredText output."""
    records, out = report["records"], []
    models = list(dict.fromkeys(r["model"] for r in records))
    lengths = sorted({r["n_times"] for r in records})
    for mode, title in (("train", "Training step (forward + backward)"), ("forward", "Forward")):
        for key, unit in (("seconds", "time, s"), ("peak_gb", "peak memory, GB")):
            rows = []
            for n_times in lengths:
                cells = [str(n_times)]
                for model in models:
                    record = lookup(records, model, mode, n_times)
                    if record is None:
                        cells.append("")
                    elif key in record:
                        cells.append(fmt(record[key]))
                    else:
                        cells.append(record.get("skipped") or record.get("error") or "-")
                rows.append(cells)
            out.append((f"{title}: {unit}", ["T", *models], rows))
    rows = []
    for record in records:
        if record["model"] == "eegm2" and record["mode"] == "forward" and "flops" in record:
            rate = record["flops"] / record["seconds"]
            rows.append(
                [
                    str(record["n_times"]),
                    f"{record['flops'] / 1e9:.1f}",
                    f"{rate / 1e9:.1f}",
                    f"{record['timing']['matmul_flops'] / 1e9:.1f}",
                    f"{100 * record['matmul_fraction']:.0f}%",
                ]
            )
    header = ["T", "GFLOP", "GFLOP/s", "matmul GFLOP/s", "share"]
    out.append(("EEGM2 forward: share of the dense matmul rate", header, rows))
    rows = [
        [name, fmt(fit["time"]), fmt(fit["memory"]), f"{fit['from']}..{fit['to']}"]
        for name, fit in report["exponents"].items()
        if fit["from"]
    ]
    out.append(("Fitted exponents (value ~ T^k)", ["model, mode", "time", "memory", "T"], rows))
    rows = [
        [row["target"], fmt(row["value"]), "yes" if row["met"] else "no"]
        for row in report["targets"]
    ]
    out.append(("Targets", ["target", "value", "met"], rows))
    if report["paper_protocol"]:
        rows = []
        for record in report["paper_protocol"]:
            if "seconds" in record:
                speed = record["batch"] / (record["seconds"] * 1000)
                cells = [f"{speed:.3g}", f"{record['peak_gb']:.3g}"]
            else:
                cells = [record.get("skipped") or record.get("error") or "-", ""]
            rows.append([record["model"], str(record["n_times"]), *cells])
        title = (
            f"Paper protocol: forward, batch {report['settings']['paper_batch']}, "
            f"{report['settings']['channels']} channels"
        )
        out.append((title, ["model", "T", "samples/ms", "peak memory, GB"], rows))
    return out


def markdown(report: dict[str, Any]) -> str:
    lines = ["# EEGM2 scaling benchmark", ""]
    lines += [f"- {line.replace('``', '`')}" for line in header_lines(report)] + [""]
    for title, header, rows in tables(report):
        lines += [f"## {title}", "", *markdown_table(header, rows), ""]
    if report["notes"]:
        lines += ["## Notes", ""] + [f"- {note}" for note in report["notes"]]
    return "\n".join(lines) + "\n"


def restructured_text(report: dict[str, Any]) -> str:
    """The same tables as reStructuredText, for ``.. include::`` in the documentation."""
    lines = [".. Generated by benchmarks/scaling.py from scaling.json; do not edit.", ""]
    lines += [f"- {line}" for line in header_lines(report)] + [""]
    for title, header, rows in tables(report):
        lines += [*rst_table(title, header, rows), ""]
    if report["notes"]:
        lines += ["Notes:", ""] + [f"- {note}" for note in report["notes"]]
    return "\n".join(lines) + "\n"


def write_reports(report: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "scaling.md").write_text(markdown(report))
    (out / "scaling.rst").write_text(restructured_text(report))
    plot(report, out / "scaling.png")


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    records = report["records"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = {"train": "-", "forward": ":"}
    for model in dict.fromkeys(r["model"] for r in records):
        color = None
        for mode in ("train", "forward"):
            done = [r for r in records if (r["model"], r["mode"]) == (model, mode)]
            done = [r for r in done if "seconds" in r]
            if not done:
                continue
            t = [r["n_times"] for r in done]
            for ax, key in zip(axes, ("seconds", "peak_gb"), strict=True):
                (line,) = ax.plot(
                    t,
                    [r[key] for r in done],
                    styles[mode],
                    marker="o",
                    color=color,
                    label=f"{model} ({'fwd+bwd' if mode == 'train' else 'fwd'})",
                )
                color = line.get_color()
    lengths = sorted({r["n_times"] for r in records})
    for ax, label in zip(axes, ("time per pass, s", "peak memory, GB"), strict=True):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(lengths, [str(t) for t in lengths], minor=False)
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("sequence length T (samples)")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7)
    settings = report["settings"]
    fig.suptitle(
        f"EEGM2 vs self-attention, batch {settings['batch']}, {settings['channels']} channels, "
        f"{report['machine']['cpu'] if settings['device'] == 'cpu' else report['machine']['gpu']}",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=60)


# --------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[1280, 3840, 12800, 25600, 51200])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument(
        "--models",
        nargs="+",
        default=["eegm2", "eegm2-recompute", "s5-fused", "s5-materialised"],
        help="any of eegm2, eegm2-recompute, s5-fused, s5-materialised, braindecode-NAME",
    )
    parser.add_argument("--braindecode", action="store_true", help="add braindecode's models")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--backend", default="auto", help="EEGM2's Mamba-2 backend: auto (mamba-ssm on CUDA) "
    )
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--time-budget", type=float, default=150.0, help="seconds per pass")
    parser.add_argument("--memory-budget", type=float, default=16.0, help="GB per pass")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per point")
    parser.add_argument(
        "--point-seconds", type=float, default=60.0, help="fewer repeats for slower passes"
    )
    parser.add_argument("--paper-lengths", type=int, nargs="*", default=None)
    parser.add_argument("--paper-batch", type=int, default=64)
    parser.add_argument("--paper-repeats", type=int, default=None, help="10 on CUDA, 3 on CPU")
    parser.add_argument("--paper-time-budget", type=float, default=20.0)
    parser.add_argument(
        "--allocator-cache",
        action="store_true",
        help="tuned glibc malloc settings for the workers (see worker_env); default: "
        "glibc's defaults, as a user runs",
    )
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite the reports from --out/scaling.json"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.device == "cpu" and args.backend == "auto":
        args.backend = "torch"
    if args.quick:
        args.lengths, args.repeats, args.time_budget = [256, 1280], 1, 20.0
        args.paper_lengths = args.paper_lengths or [256]
    if args.paper_lengths is None:
        args.paper_lengths = (
            [250, 1000, 3000, 6000, 12000] if args.device == "cuda" else [256, 1280, 3840]
        )
    if args.paper_repeats is None:
        args.paper_repeats = 10 if args.device == "cuda" else 3
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker:
        print("RESULT " + json.dumps(run_worker(json.loads(args.worker))), flush=True)
        return
    if args.report_only:
        write_reports(json.loads((args.out / "scaling.json").read_text()), args.out)
        return
    notes = []
    models = list(args.models)
    if args.braindecode:
        status = braindecode_status()
        if status:
            notes.append(status + "; its models are left out.")
        else:
            models += [f"braindecode-{name}" for name in BRAINDECODE_MODELS]
    if args.device == "cpu":
        notes.append(
            "CPU run: the mamba-ssm backend and torch.cuda.max_memory_allocated apply with "
            "--device cuda only; peak memory here is the process's peak resident size "
            "during one pass, minus its size before the pass."
        )

    def log(text: str) -> None:
        print(text, flush=True)

    log(f"load average at start: {os.getloadavg()}")
    records = run_grid(args, models, ["train", "forward"], args.lengths, args.batch, log)
    paper = []
    if args.paper_lengths:
        log(f"paper protocol: forward, batch {args.paper_batch}")
        protocol = argparse.Namespace(**vars(args))
        protocol.time_budget, protocol.repeats = args.paper_time_budget, args.paper_repeats
        protocol.point_seconds = float("inf")
        paper_models = [m for m in models if m != "eegm2-recompute"]
        paper = run_grid(
            protocol, paper_models, ["forward"], args.paper_lengths, args.paper_batch, log
        )
    for record in records + paper:
        if record.get("skipped") and "predicted" in record["skipped"]:
            notes.append(
                f"{record['model']} {record['mode']} T={record['n_times']} (batch "
                f"{record['batch']}) skipped: {record['skipped']}."
            )
    fits = exponents(records)
    report = {
        "machine": machine_info(),
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "worker")},
        "command": " ".join(
            ["python benchmarks/scaling.py", *(sys.argv[1:] if argv is None else argv)]
        ),
        "load_average_end": os.getloadavg(),
        "records": records,
        "paper_protocol": paper,
        "exponents": fits,
        "targets": targets(records, fits),
        "notes": notes,
    }
    write_json(report, args.out / "scaling.json")
    write_reports(report, args.out)
    log(markdown(report))


if __name__ == "__main__":
    main()
