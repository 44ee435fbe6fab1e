"""The command line answers fast and names its own options in errors."""

from __future__ import annotations

import subprocess
import sys
import time


def _run(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    tick = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "sk_eegm2", *args], capture_output=True, text=True, timeout=120
    )
    return done, time.perf_counter() - tick


def test_importing_the_package_leaves_torch_unloaded():
    code = "import sys, sk_eegm2; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert out.strip() == "False"


def test_benchmark_help_is_fast_plain_and_shows_defaults():
    done, seconds = _run("benchmark", "--help")
    assert done.returncode == 0 and seconds < 3
    text = " ".join(done.stdout.split())
    assert "(default: 6)" in text and "(default: sk_eegm2_results)" in text
    assert "``" not in text and "(default: None)" not in text


def test_a_wrong_data_folder_ends_in_one_line_naming_the_option(tmp_path):
    for folder, state in [(tmp_path / "missing", "does not exist"), (tmp_path, "holds no")]:
        done, _ = _run("benchmark", "eegmat", "--data", str(folder))
        assert done.returncode == 2 and "Traceback" not in done.stderr
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith("python -m sk_eegm2 benchmark: error: --data") and state in last
