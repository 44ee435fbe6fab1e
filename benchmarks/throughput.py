"""Windows per second of EEGM2 and of the fused attention variant, training and inference.

    python benchmarks/throughput.py                        # one thread, the default grid
    python benchmarks/throughput.py --baseline /tmp/old    # also the code of another commit
    python benchmarks/throughput.py --quick                # a smoke run

Networks: ``eegm2`` (the paper's network), ``eegm2-cpu`` (the CPU preset: widths (16, 32,
64), expand 2, headdim 16, d_state 16, d_conv 2, chunk 64) and ``attention`` (EEGM2-S5 with
fused attention, the paper's widths), all on 19 channels. Each batch shape (windows x 19 x
T) is timed for a training step (forward, loss, backward) and for inference (forward under
``torch.no_grad``), under each compute setting (:class:`sk_eegm2.nn.compute.Compute`):
``float32`` and ``bfloat16`` (autocast). ``--baseline DIR`` adds the networks of an older checkout
(``DIR/sk_eegm2/nn``, e.g. ``git worktree add /tmp/old e3a3ef7``), in float32.

Each setting runs in a process of its own, as an estimator's ``fit`` runs it: inside
:meth:`Compute.scope`, with glibc's malloc as it is configured by default, as the baseline
runs. (Reports written before ``keep_freed_memory`` was removed also have a ``float32
glibc`` setting: float32 without that option, which is how float32 runs now.) The
processes are timed alternately (one warm-up step on a small batch and one on the batch,
then rounds in which each setting runs one step), and the median per setting is reported.
Times are each process's CPU time (user + system, page faults included), which on one
thread is the wall time of an idle machine and is less disturbed by other processes on a
shared one; wall times are kept in the JSON.

FLOPs come from :class:`torch.utils.flop_counter.FlopCounterMode` (matmuls and
convolutions) on one window, times the batch. The matmul ceiling is the best rate of a
(4096 x 1024) @ (1024 x 1024) product in the same process and dtype; the share of it that
a step reaches separates FLOPs from overhead.

Writes ``throughput.json``, ``throughput.md`` and ``throughput.rst`` (the documentation's
summary tables) into ``--out``; ``--report-only`` rewrites the last two from the JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.util
import json
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from attention_variant import eegm2_s5  # noqa: E402

import sk_eegm2.nn as current_nn  # noqa: E402
from sk_eegm2.nn.compute import Compute  # noqa: E402
from sk_eegm2.report import rst_table  # noqa: E402

N_CHANS = 19
CPU_PRESET = {
    "widths": (16, 32, 64),
    "expand": 2,
    "headdim": 16,
    "d_state": 16,
    "d_conv": 2,
    "chunk_size": 64,
}
SETTINGS = {
    "float32": Compute(),
    "bfloat16": Compute(precision="bfloat16"),
}
BASELINE = "baseline float32"
#: The setting of reports written before ``keep_freed_memory`` was removed: float32
#: without it (the others kept freed memory).
RETIRED_SETTING = "float32 glibc"


def load_baseline(path: Path) -> ModuleType:
    """``path/sk_eegm2/nn`` imported as its own package (it only imports itself)."""
    folder = path / "sk_eegm2" / "nn"
    spec = importlib.util.spec_from_file_location(
        "baseline_nn", folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    if spec is None or spec.loader is None:
        raise SystemExit(f"no sk_eegm2/nn package under {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["baseline_nn"] = module
    spec.loader.exec_module(module)
    return module


def build(network: str, package: ModuleType) -> nn.Module:
    """A seeded network of ``package`` (this checkout's ``sk_eegm2.nn`` or a baseline)."""
    torch.manual_seed(0)
    if network == "eegm2":
        return package.EEGM2(N_CHANS, backend="torch")  # type: ignore[no-any-return]
    if network == "eegm2-cpu":
        return package.EEGM2(N_CHANS, **CPU_PRESET, backend="torch")  # type: ignore[no-any-return]
    if network == "attention":
        return eegm2_s5(N_CHANS, fused=True)
    raise ValueError(f"unknown network {network!r}")


def step_function(net: nn.Module, compute: Compute, mode: str) -> Callable[[torch.Tensor], None]:
    """One training step (without the optimizer's update) or one inference pass; the caller
    enters ``compute.scope()`` around all of them, as an estimator's ``fit`` does."""

    def train(x: torch.Tensor) -> None:
        net.zero_grad(set_to_none=True)
        with compute.autocast(x.device):
            loss = F.mse_loss(net(x).float(), x)
        loss.backward()

    def infer(x: torch.Tensor) -> None:
        with torch.no_grad(), compute.autocast(x.device):
            net(x)

    return train if mode == "train" else infer


def count_flops(step: Callable[[torch.Tensor], None], n_times: int) -> int:
    """FLOPs of ``step`` on one window of ``n_times``."""
    with FlopCounterMode(display=False) as counter:
        step(torch.randn(1, N_CHANS, n_times))
    return int(counter.get_total_flops())


def matmul_ceiling(dtype: torch.dtype, repeats: int = 5) -> float:
    """Best FLOP/s of a (4096 x 1024) @ (1024 x 1024) product in ``dtype``."""
    a, b = torch.randn(4096, 1024, dtype=dtype), torch.randn(1024, 1024, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        a @ b
        best = min(best, time.process_time() - start)
    return 2 * 4096 * 1024 * 1024 / best


def windows(batch: int, n_times: int) -> torch.Tensor:
    """The same random batch (batch, 19, n_times) in every process."""
    return torch.randn(batch, N_CHANS, n_times, generator=torch.Generator().manual_seed(0))


def worker(
    conn: Connection, network: str, setting: str, baseline: Path | None, threads: int
) -> None:
    """One setting's process: builds its network, then answers ``(mode, batch, n_times,
    warm)`` with the CPU and wall seconds of one step (after a step on two windows if
    ``warm``), until it receives None."""
    torch.set_num_threads(threads)
    if setting == BASELINE:
        net, compute = build(network, load_baseline(baseline)), Compute()  # type: ignore[arg-type]
        scope: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    else:
        net, compute = build(network, current_nn), SETTINGS[setting]
        scope = compute.scope()
    steps = {mode: step_function(net, compute, mode) for mode in ("train", "inference")}
    with scope:
        while (request := conn.recv()) is not None:
            mode, batch, n_times, warm = request
            x = windows(batch, n_times)
            if warm:
                steps[mode](x[:2])
            start_cpu, start_wall = time.process_time(), time.perf_counter()
            steps[mode](x)
            conn.send((time.process_time() - start_cpu, time.perf_counter() - start_wall))
    conn.close()


class Workers:
    """One :func:`worker` process per setting of a network, started together."""

    def __init__(
        self, network: str, settings: list[str], baseline: Path | None, threads: int
    ) -> None:
        context = multiprocessing.get_context("spawn")  # fresh processes: nothing inherited
        self.conns: dict[str, Connection] = {}
        self.processes = []
        for setting in settings:
            here, there = context.Pipe()
            process = context.Process(
                target=worker, args=(there, network, setting, baseline, threads), daemon=True
            )
            process.start()
            there.close()  # the worker's end, now in the worker
            self.conns[setting] = here
            self.processes.append(process)

    def step(self, setting: str, *request: Any) -> tuple[float, float]:
        conn = self.conns[setting]
        conn.send(request)
        result: tuple[float, float] = conn.recv()
        return result

    def close(self) -> None:
        for conn in self.conns.values():
            conn.send(None)
        for process in self.processes:
            process.join()


def time_point(
    workers: Workers, mode: str, batch: int, n_times: int, rounds: int
) -> dict[str, dict[str, Any]]:
    """Median CPU and wall seconds per step of each setting, timed alternately after one
    untimed step each."""
    for setting in workers.conns:
        workers.step(setting, mode, batch, n_times, True)
    cpu: dict[str, list[float]] = {name: [] for name in workers.conns}
    wall: dict[str, list[float]] = {name: [] for name in workers.conns}
    for _ in range(rounds):
        for name in workers.conns:
            seconds, wall_seconds = workers.step(name, mode, batch, n_times, False)
            cpu[name].append(seconds)
            wall[name].append(wall_seconds)
    return {
        name: {
            "seconds": statistics.median(cpu[name]),
            "wall_seconds": statistics.median(wall[name]),
            "windows_per_s": batch / statistics.median(cpu[name]),
        }
        for name in workers.conns
    }


def bfloat16_error(network: str, batch: int, n_times: int) -> dict[str, Any]:
    """Relative errors of one bfloat16 training step against float32, same weights and
    batch: the loss, all gradients together (norm of the difference over the norm), and the
    three parameters with the largest relative gradient errors."""
    net = build(network, current_nn)
    x = windows(batch, n_times)

    def gradients(compute: Compute) -> tuple[float, dict[str, torch.Tensor]]:
        net.zero_grad(set_to_none=True)
        with compute.autocast(x.device):
            loss = F.mse_loss(net(x).float(), x)
        loss.backward()
        return loss.item(), {n: p.grad.clone() for n, p in net.named_parameters()}

    loss32, grads32 = gradients(Compute())
    loss16, grads16 = gradients(Compute(precision="bfloat16"))
    every32, every16 = (
        torch.cat([g.flatten() for g in grads.values()]) for grads in (grads32, grads16)
    )
    per_parameter = {n: float((grads16[n] - g).norm() / g.norm()) for n, g in grads32.items()}
    worst = sorted(per_parameter.items(), key=lambda item: -item[1])[:3]
    return {
        "network": network,
        "batch": batch,
        "n_times": n_times,
        "loss": abs(loss16 - loss32) / abs(loss32),
        "gradients": float((every16 - every32).norm() / every32.norm()),
        "worst_parameters": dict(worst),
    }


def run(args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, Any]:
    baseline = load_baseline(args.baseline) if args.baseline else None
    ceilings = {name: matmul_ceiling(getattr(torch, name)) for name in ("float32", "bfloat16")}
    log(f"matmul ceiling GFLOP/s: { {k: round(v / 1e9, 1) for k, v in ceilings.items()} }")
    records = []
    for batch, n_times in args.shapes:
        for network in args.networks:
            settings = list(SETTINGS)
            if baseline is not None and network != "attention":
                settings.append(BASELINE)
            workers = Workers(network, settings, args.baseline, args.threads)
            for mode in args.modes:
                flop_step = step_function(build(network, current_nn), Compute(), mode)
                flops = count_flops(flop_step, n_times) * batch
                rounds = args.rounds if n_times * batch <= 64 * 1280 else max(1, args.rounds - 1)
                timed = time_point(workers, mode, batch, n_times, rounds)
                for name, result in timed.items():
                    dtype = "bfloat16" if name.startswith("bfloat16") else "float32"
                    rate = flops / result["seconds"]
                    record = {
                        "network": network,
                        "mode": mode,
                        "batch": batch,
                        "n_times": n_times,
                        "setting": name,
                        "gflop": flops / 1e9,
                        "gflop_per_s": rate / 1e9,
                        "ceiling_share": rate / ceilings[dtype],
                        "rounds": rounds,
                        **result,
                    }
                    records.append(record)
                    log(
                        f"{network:9s} {mode:9s} {batch:3d} x {N_CHANS} x {n_times:6d} "
                        f"{name:22s} {result['windows_per_s']:8.2f} windows/s "
                        f"({rate / 1e9:5.1f} GFLOP/s)"
                    )
            workers.close()
    batch, n_times = args.shapes[0]
    error = bfloat16_error(args.networks[0], batch, n_times)
    log(f"bfloat16 against float32: {error}")
    return {
        "ceilings_gflop_per_s": {k: v / 1e9 for k, v in ceilings.items()},
        "records": records,
        "bfloat16_error": error,
    }


def baseline_commit(path: Path) -> str:
    """The commit checked out at ``path``, as the report names the baseline."""
    head = subprocess.run(
        ["git", "-C", str(path), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return head.stdout.strip() or str(path)


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "glibc": platform.libc_ver()[1],
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def speedups(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each setting's windows/s over the baseline's, and EEGM2's over attention's."""
    index = {(r["network"], r["mode"], r["n_times"], r["setting"]): r for r in records}
    rows = []
    for r in records:
        key = (r["network"], r["mode"], r["n_times"])
        base = index.get((*key, BASELINE))
        attention = index.get(("attention", r["mode"], r["n_times"], r["setting"]))
        if r["network"] == "attention" or r["setting"] == BASELINE:
            continue
        rows.append(
            {
                **{k: r[k] for k in ("network", "mode", "n_times", "setting")},
                "over_baseline": r["windows_per_s"] / base["windows_per_s"] if base else None,
                "over_attention": (
                    r["windows_per_s"] / attention["windows_per_s"] if attention else None
                ),
            }
        )
    return rows


def settings_of(report: dict[str, Any]) -> list[str]:
    """The baseline, then this code's settings and those of older reports, as measured."""
    measured = {r["setting"] for r in report["records"]}
    order = [BASELINE, *SETTINGS, RETIRED_SETTING]
    return [BASELINE, *(s for s in order[1:] if s in measured)]


def markdown(report: dict[str, Any]) -> str:
    meta = report["machine"]
    ceilings = report["ceilings_gflop_per_s"]
    scope = (
        " (freed memory kept, but for `float32 glibc`)"
        if RETIRED_SETTING in settings_of(report)
        else ""
    )
    lines = [
        "# Throughput: windows per second",
        "",
        f"Machine: {meta['cpu']} ({meta['cpu_capability']}), {meta['cores']} cores, "
        f"{meta['threads']} torch thread(s); Python {meta['python']}, torch {meta['torch']}, "
        f"glibc {meta['glibc']}; {meta['date']}. "
        f"Load average {report['load_average_start']:.1f} at the start, "
        f"{report['load_average_end']:.1f} at the end.",
        "",
        f"Baseline: {report['baseline'] or 'none'}. "
        f"Command: `{report['command']}`. One process per setting: this code's inside "
        f"`Compute.scope()`{scope}, the baseline with "
        f"glibc's defaults. CPU time per step (median over alternating rounds); "
        f"matmul ceiling {ceilings['float32']:.1f} GFLOP/s in float32, "
        f"{ceilings['bfloat16']:.1f} in bfloat16.",
        "",
        "| network | mode | batch x 19 x T | setting | windows/s | GFLOP/step | GFLOP/s "
        "| share of matmul ceiling |",
        "|---|---|---|---|---:|---:|---:|---:|",
    ]
    for r in report["records"]:
        lines.append(
            f"| {r['network']} | {r['mode']} | {r['batch']} x 19 x {r['n_times']} "
            f"| {r['setting']} | {r['windows_per_s']:.2f} | {r['gflop']:.1f} "
            f"| {r['gflop_per_s']:.1f} | {100 * r['ceiling_share']:.0f}% |"
        )
    error = report.get("bfloat16_error")
    if error:
        worst = ", ".join(
            f"{name} {100 * value:.1f} %" for name, value in error["worst_parameters"].items()
        )
        lines += [
            "",
            f"bfloat16 against float32, one training step of {error['network']} on "
            f"{error['batch']} x 19 x {error['n_times']} (same weights and batch), relative "
            f"errors: loss {error['loss']:.1e}, all gradients {100 * error['gradients']:.2f} % "
            f"(norm of the difference over the norm); largest per parameter: {worst}.",
        ]
    lines += [
        "",
        "Speed-ups (windows/s ratios):",
        "",
        "| network | mode | T | setting | over baseline | EEGM2 over attention |",
        "|---|---|---|---|---:|---:|",
    ]

    def ratio(value: float | None) -> str:
        return "" if value is None else f"{value:.2f}x"

    for row in report["speedups"]:
        lines.append(
            f"| {row['network']} | {row['mode']} | {row['n_times']} | {row['setting']} "
            f"| {ratio(row['over_baseline'])} | {ratio(row['over_attention'])} |"
        )
    return "\n".join(lines) + "\n"


def rst_summary(report: dict[str, Any]) -> str:
    """Windows per second of each network and batch shape under each setting, training and
    inference, as reStructuredText tables: the speed-up over the baseline in parentheses,
    the share of the matmul ceiling after float32's figure."""
    index = {
        (r["network"], r["mode"], r["batch"], r["n_times"], r["setting"]): r
        for r in report["records"]
    }
    settings = settings_of(report)
    shapes = sorted({(r["batch"], r["n_times"]) for r in report["records"]}, key=lambda s: s[1])
    networks = [n for n in ("eegm2", "eegm2-cpu", "attention") if any(k[0] == n for k in index)]
    lines: list[str] = []
    for mode in ("train", "inference"):
        rows = []
        for batch, n_times in shapes:
            for network in networks:
                base = index.get((network, mode, batch, n_times, BASELINE))
                cells = [network, f"{batch} x {n_times:,}"]
                for setting in settings:
                    r = index.get((network, mode, batch, n_times, setting))
                    if r is None:
                        cells.append("")
                        continue
                    cell = f"{r['windows_per_s']:.3g}"
                    if setting == "float32":
                        cell += f" [{100 * r['ceiling_share']:.0f} %]"
                    if base is not None and setting != BASELINE:
                        cell += f" ({r['windows_per_s'] / base['windows_per_s']:.2f}x)"
                    cells.append(cell)
                rows.append(cells)
        if not rows:
            continue
        title = "Training step" if mode == "train" else "Inference (torch.no_grad)"
        baseline = report["baseline"] or "baseline"
        header = ["network", "batch x T", baseline, *settings[1:]]
        lines += [*rst_table(f"{title}, windows per second", header, rows), ""]
    return "\n".join(lines)


def write_reports(report: dict[str, Any], out: Path) -> None:
    """``throughput.md`` and ``throughput.rst`` from the report (the JSON's content)."""
    (out / "throughput.md").write_text(markdown(report))
    (out / "throughput.rst").write_text(rst_summary(report))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--shapes",
        nargs="+",
        default=["64x256", "64x1280", "2x12800"],
        help="batch x T of each point",
    )
    parser.add_argument("--networks", nargs="+", default=["eegm2", "eegm2-cpu", "attention"])
    parser.add_argument("--modes", nargs="+", default=["train", "inference"])
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per point")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--baseline", type=Path, help="checkout whose sk_eegm2/nn to compare")
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite the reports from --out's JSON"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.shapes, args.rounds = ["4x256"], 1
    args.shapes = [tuple(int(v) for v in shape.split("x")) for shape in args.shapes]
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.report_only:
        write_reports(json.loads((args.out / "throughput.json").read_text()), args.out)
        return
    torch.set_num_threads(args.threads)

    def log(text: str) -> None:
        print(text, flush=True)

    load_start = os.getloadavg()[0]
    result = run(args, log)
    report = {
        "machine": machine_info(),
        "baseline": baseline_commit(args.baseline) if args.baseline else None,
        "command": " ".join(
            ["python benchmarks/throughput.py", *(sys.argv[1:] if argv is None else argv)]
        ),
        "load_average_start": load_start,
        "load_average_end": os.getloadavg()[0],
        **result,
        "speedups": speedups(result["records"]),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "throughput.json").write_text(json.dumps(report, indent=1) + "\n")
    write_reports(report, args.out)
    log(markdown(report))


if __name__ == "__main__":
    main()
