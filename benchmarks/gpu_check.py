"""Everything that needs a GPU, as one command of under ten minutes on one H100/H200.

    python benchmarks/gpu_check.py                  # writes benchmarks/results/gpu_check.json
    python benchmarks/gpu_check.py --skip-eegmat    # without the EEGMAT run

1. The CUDA-marked tests (``pytest -m cuda``).
2. Parity of the PyTorch and mamba-ssm backends on the paper network (19 channels, batch 4,
   T = 1,280, same weights): output and every parameter gradient, with TF32 off and on.
   Tolerances (relative, max-abs of the difference over max-abs of the PyTorch result):
   TF32 off 1e-4 for the output and 1e-3 for gradients; TF32 on 1e-2 and 5e-2.
3. Training-step time and peak memory over T (batch 2) of EEGM2 with each backend, in
   float32 and bfloat16 autocast, and of the fused attention variant.
4. A few epochs of the ``full`` EEGMAT configuration (the paper's network and recipe): the
   wall time of 2 pretraining epochs and 1 fine-tuning epoch per fold, extrapolated to the
   configuration's 100 and 30 epochs (an upper bound: early stopping ends sooner).

Without CUDA it says so and exits with status 2. Each part records its error instead of
stopping the others.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

N_CHANS = 19
TOLERANCES = {False: {"output": 1e-4, "grad": 1e-3}, True: {"output": 1e-2, "grad": 5e-2}}


def relative(ours: torch.Tensor, reference: torch.Tensor) -> float:
    return float((ours - reference).abs().max() / reference.abs().max().clamp_min(1e-30))


def cuda_tests() -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    summary = (done.stdout.strip().splitlines() or [""])[-1]
    return {"returncode": done.returncode, "summary": summary}


def paper_network(backend: str) -> nn.Module:
    from sk_eegm2.nn import EEGM2

    torch.manual_seed(0)
    return EEGM2(N_CHANS, backend=backend).cuda()  # type: ignore[arg-type]


def backend_parity() -> dict[str, Any]:
    reference, fused = paper_network("torch"), paper_network("mamba_ssm")
    fused.load_state_dict(reference.state_dict())
    x = torch.randn(4, N_CHANS, 1280, device="cuda", generator=torch.Generator("cuda"))
    results = {}
    for tf32 in (False, True):
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        outputs, grads = [], []
        for net in (reference, fused):
            net.zero_grad(set_to_none=True)
            out = net(x)
            out.square().mean().backward()
            outputs.append(out.detach())
            grads.append({n: p.grad.clone() for n, p in net.named_parameters()})
        grad_errors = {n: relative(grads[1][n], grads[0][n]) for n in grads[0]}
        worst = max(grad_errors, key=grad_errors.__getitem__)
        output_error = relative(outputs[1], outputs[0])
        tolerance = TOLERANCES[tf32]
        results[f"tf32_{'on' if tf32 else 'off'}"] = {
            "output_relative_error": output_error,
            "worst_grad_relative_error": grad_errors[worst],
            "worst_grad_parameter": worst,
            "tolerances": tolerance,
            "passed": output_error <= tolerance["output"]
            and grad_errors[worst] <= tolerance["grad"],
        }
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    return results


def time_training_step(net: nn.Module, n_times: int, precision: str) -> dict[str, float]:
    x = torch.randn(2, N_CHANS, n_times, device="cuda")
    dtype = torch.bfloat16 if precision == "bfloat16" else torch.float32

    def step() -> None:
        net.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=dtype, enabled=precision != "float32"):
            loss = F.mse_loss(net(x).float(), x)
        loss.backward()

    step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(5):
        start = time.perf_counter()
        step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return {
        "seconds": statistics.median(times),
        "peak_gb": torch.cuda.max_memory_allocated() / 1e9,
    }


def timings(lengths: list[int]) -> list[dict[str, Any]]:
    from attention_variant import eegm2_s5

    models: dict[str, Callable[[], nn.Module]] = {
        "eegm2-torch": lambda: paper_network("torch"),
        "eegm2-mamba_ssm": lambda: paper_network("mamba_ssm"),
        "attention-fused": lambda: eegm2_s5(N_CHANS, fused=True).cuda(),
    }
    records = []
    for name, make in models.items():
        net = make()
        for precision in ("float32", "bfloat16"):
            for n_times in lengths:
                record: dict[str, Any] = {"model": name, "precision": precision, "T": n_times}
                try:
                    record |= time_training_step(net, n_times, precision)
                except (RuntimeError, torch.cuda.OutOfMemoryError) as error:
                    record["error"] = str(error).splitlines()[0][:200]
                    torch.cuda.empty_cache()
                records.append(record)
                print(json.dumps(record), flush=True)
        del net
        torch.cuda.empty_cache()
    return records


def eegmat_full(data: Path) -> dict[str, Any]:
    from sk_eegm2.benchmark import CONFIGS, run_eegmat

    epochs = {"pretrain": 2, "finetune": 1}
    config = {
        "network": dict(CONFIGS["full"]["network"]),
        "pretrain": CONFIGS["full"]["pretrain"] | {"max_epochs": epochs["pretrain"]},
        "finetune": CONFIGS["full"]["finetune"] | {"max_epochs": epochs["finetune"]},
    }
    pretrain_seconds: list[float] = []

    def log(line: str) -> None:
        print(line, flush=True)
        found = re.search(r"pretrained on .* in (\d+) s", line)
        if found:
            pretrain_seconds.append(float(found.group(1)))

    start = time.perf_counter()
    results = run_eegmat(data, config=config, log=log)
    wall = time.perf_counter() - start
    scale = {
        "pretrain": CONFIGS["full"]["pretrain"]["max_epochs"] / epochs["pretrain"],
        "finetune": CONFIGS["full"]["finetune"]["max_epochs"] / epochs["finetune"],
    }
    fine_tuned = sum(
        sum(fold["fit_seconds"] for fold in folds)
        for name, folds in results.get("folds", {}).items()
        if name in ("EEGM2 (Light)", "EEGM2 (Fine)", "EEGM2 (Scratch)")
    )
    rest = wall - sum(pretrain_seconds) - fine_tuned
    return {
        "epochs_run": epochs,
        "wall_seconds": wall,
        "pretrain_seconds": sum(pretrain_seconds),
        "finetune_seconds": fine_tuned,
        "extrapolated_full_seconds": sum(pretrain_seconds) * scale["pretrain"]
        + fine_tuned * scale["finetune"]
        + rest,
    }


def part(results: dict[str, Any], name: str, run: Callable[[], Any]) -> None:
    """Run one part, keeping its result or its error, and its wall time."""
    start = time.perf_counter()
    try:
        results[name] = run()
    except Exception as error:  # a failed part must not hide the others' figures
        results[name] = {"error": f"{type(error).__name__}: {error}"[:500]}
    results.setdefault("seconds", {})[name] = time.perf_counter() - start
    print(f"{name}: {json.dumps(results[name], default=str)[:2000]}", flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[1280, 6400, 12800, 51200])
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(os.environ.get("SK_EEGM2_EEGMAT_PATH", ROOT.parent / "shared/data/eegmat")),
    )
    parser.add_argument("--skip-eegmat", action="store_true")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "gpu_check.json")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not torch.cuda.is_available():
        print(
            "benchmarks/gpu_check.py needs a CUDA GPU (torch.cuda.is_available() is False); "
            "nothing was run.",
            file=sys.stderr,
        )
        return 2
    from sk_eegm2.nn.mamba2 import _import_mamba_ssm

    results: dict[str, Any] = {
        "gpu": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "mamba_ssm": _import_mamba_ssm() is not None,
    }
    part(results, "cuda_tests", cuda_tests)
    if results["mamba_ssm"]:
        part(results, "backend_parity", backend_parity)
    part(results, "timings", lambda: timings(args.lengths))
    if not args.skip_eegmat:
        part(results, "eegmat_full", lambda: eegmat_full(args.data))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, default=str) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
