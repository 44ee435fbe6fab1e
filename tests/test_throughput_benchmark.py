"""The throughput benchmark runs, compares with a baseline checkout, and its reports come
from its JSON alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "throughput.py"


def run(*args: str) -> None:
    subprocess.run([sys.executable, str(SCRIPT), *args], check=True, timeout=600, cwd=ROOT)


@pytest.mark.slow
def test_quick_run_with_a_baseline_and_reports_from_the_json(tmp_path):
    run("--quick", "--networks", "eegm2-cpu", "--modes", "train", "--baseline", str(ROOT),
        "--out", str(tmp_path))  # fmt: skip
    report = json.loads((tmp_path / "throughput.json").read_text())
    settings = {r["setting"] for r in report["records"]}
    assert settings == {"float32", "bfloat16", "baseline float32"}
    assert all(r["windows_per_s"] > 0 and r["gflop"] > 0 for r in report["records"])
    (speedup,) = [s for s in report["speedups"] if s["setting"] == "float32"]
    rates = {r["setting"]: r["windows_per_s"] for r in report["records"]}
    assert speedup["over_baseline"] == pytest.approx(rates["float32"] / rates["baseline float32"])
    error = report["bfloat16_error"]  # one bfloat16 step against float32: close, not equal
    assert 0 < error["loss"] < 0.01 and 0 < error["gradients"] < 0.1
    assert "bfloat16 against float32" in (tmp_path / "throughput.md").read_text()
    rst = (tmp_path / "throughput.rst").read_text()
    assert "Training step, windows per second" in rst and "eegm2-cpu" in rst
    written = {name: (tmp_path / name).read_text() for name in ("throughput.md", "throughput.rst")}
    for name in written:
        (tmp_path / name).unlink()
    run("--report-only", "--out", str(tmp_path))
    for name, text in written.items():
        assert (tmp_path / name).read_text() == text
