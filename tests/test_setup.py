"""`make`'s set-up in a fresh directory, with a Python that refuses installs (PEP 668).

What this covers: the Makefile's own `venv` target creates the project environment with
such a Python, `make install`'s commands all go through that environment's interpreter, the
package installs there, and `make clean` removes it. What it leaves out, to stay fast:
installing PyTorch and the dependencies (a minute or more), which CI's `make test` does on
every fresh checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make"),
]


def externally_managed_copy(folder: Path) -> Path:
    """This interpreter, outside any virtual environment, with PEP 668's marker in its stdlib.

    The executable is copied and the standard library linked entry by entry (its own
    site-packages left out), so the copy finds its prefix in ``folder`` and pip, seeing
    ``EXTERNALLY-MANAGED`` in ``sysconfig.get_path("stdlib")``, refuses to install into it,
    as on Debian's or Ubuntu's system Python.
    """
    stdlib = Path(sysconfig.get_path("stdlib"))
    lib = folder / "lib" / stdlib.name
    lib.mkdir(parents=True)
    for entry in stdlib.iterdir():
        if entry.name != "site-packages":
            (lib / entry.name).symlink_to(entry)
    (lib / "site-packages").mkdir()
    (lib / "EXTERNALLY-MANAGED").write_text("[externally-managed]\nError=managed by the test\n")
    (folder / "bin").mkdir()
    python = folder / "bin" / "python3"
    shutil.copy2(os.path.realpath(sys._base_executable), python)
    return python


def _pythons() -> list[str]:
    """The copy above, and the system's Python where it carries the marker itself."""
    system = Path("/usr/bin/python3")
    found = ["copy"]
    if system.exists():
        stdlib = subprocess.run(
            [system, "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        if stdlib and (Path(stdlib) / "EXTERNALLY-MANAGED").exists():
            found.append(str(system))
    return found


def _refuses_installs(python: Path) -> bool:
    """Whether pip, or ensurepip where pip is absent, stops at PEP 668's marker."""
    has_pip = subprocess.run([python, "-m", "pip", "--version"], capture_output=True)
    install = ["pip", "install", "--no-index", "--no-deps", "pip"]
    args = install if has_pip.returncode == 0 else ["ensurepip"]
    done = subprocess.run([python, "-m", *args], capture_output=True, text=True, cwd="/")
    return done.returncode != 0 and "externally-managed-environment" in done.stdout + done.stderr


@pytest.mark.parametrize("which", _pythons())
def test_make_sets_up_a_project_environment_under_pep_668(which, tmp_path):
    python = externally_managed_copy(tmp_path / "python") if which == "copy" else Path(which)
    assert _refuses_installs(python)

    checkout = tmp_path / "checkout"
    checkout.mkdir()
    for name in ("Makefile", "pyproject.toml", "README.md"):
        shutil.copy(REPO / name, checkout / name)
    shutil.copytree(REPO / "sk_eegm2", checkout / "sk_eegm2")
    make = ["make", "-C", str(checkout), f"PYTHON={python}"]
    subprocess.run([*make, "venv"], check=True, capture_output=True)
    venv_python = checkout / ".venv" / "bin" / "python"
    in_venv = "import sys; print(sys.prefix != sys.base_prefix)"
    venv = subprocess.run([venv_python, "-c", in_venv], capture_output=True, text=True)
    assert venv.stdout.strip() == "True"

    # Every command of `make install` runs the environment's interpreter.
    planned = subprocess.run([*make, "-n", "install"], capture_output=True, text=True).stdout
    commands = [line for line in planned.splitlines() if "pip install" in line]
    assert commands and all(line.count(".venv/bin/python -m pip") for line in commands)
    installed = subprocess.run(
        [venv_python, "-m", "pip", "install", "-q", "--no-deps",
         "-e", str(checkout)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    where = "import sk_eegm2; print(sk_eegm2.__file__)"
    located = subprocess.run([venv_python, "-c", where], capture_output=True, text=True, cwd="/")
    assert located.stdout.strip() == str(checkout / "sk_eegm2" / "__init__.py")

    subprocess.run([*make, "clean"], check=True, capture_output=True)
    assert not (checkout / ".venv").exists()
