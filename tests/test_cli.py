"""The command line answers fast and names its own options in errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sk_eegm2", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
    )


def test_importing_the_package_leaves_torch_unloaded():
    code = "import sys, sk_eegm2; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0 and done.stdout.strip() == "False", done.stderr


def test_benchmark_help_is_plain_shows_defaults_and_imports_nothing_heavy():
    # What makes --help fast: neither PyTorch nor MNE is imported to answer it (timings of
    # the command live in the measurements, not in tests).
    code = (
        "import sys\nfrom sk_eegm2.__main__ import main\n"
        "try:\n    main(['benchmark', '--help'])\nexcept SystemExit:\n    pass\n"
        "print([m for m in ('torch', 'mne') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0 and done.stdout.strip().splitlines()[-1] == "[]"
    text = " ".join(done.stdout.split())
    assert "(default: 6)" in text and "(default: sk_eegm2_results)" in text
    assert "``" not in text and "(default: None)" not in text


def test_a_wrong_data_folder_ends_in_one_line_naming_the_option(tmp_path):
    for folder, state in [(tmp_path / "missing", "does not exist"), (tmp_path, "holds no")]:
        done = _run("benchmark", "eegmat", "--data", str(folder))
        assert done.returncode == 2 and "Traceback" not in done.stderr
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith("python -m sk_eegm2 benchmark: error: --data") and state in last
    done = _run("benchmark", "eegmat", SK_EEGM2_EEGMAT_PATH=str(tmp_path / "missing"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].endswith("does not exist")
    assert "error: SK_EEGM2_EEGMAT_PATH" in done.stderr
