"""The README's first example runs as written, without a warning."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_readme_first_example_runs_without_warnings(eegmat_path, tmp_path):
    readme = (REPO / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", readme, re.DOTALL).group(1)
    assert '"../shared/data/eegmat"' in code
    code = code.replace('"../shared/data/eegmat"', repr(str(eegmat_path)))
    tick = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    minutes = (time.perf_counter() - tick) / 60
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert re.fullmatch(r"EEGM2 \(Linear\), ROC AUC on unseen subjects: \S+ ± \S+\n", done.stdout)
    assert (tmp_path / "eegm2-eegmat").is_dir()
    print(f"README example: {minutes:.1f} min")  # shown with pytest -s
