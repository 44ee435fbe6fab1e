# The commands the README promises. Each sets up what it needs first, into a virtual
# environment of this project (VENV, default .venv, ignored by git) that PYTHON (default
# python3) creates: nothing is installed into PYTHON's own environment, so the same commands
# work with a system Python that refuses installs (PEP 668), a pyenv or a conda Python.
# `make VENV=` installs into PYTHON's environment instead (one you manage yourself).
PYTHON ?= python3
VENV ?= .venv
SRC := sk_eegm2 tests benchmarks examples

ifeq ($(strip $(VENV)),)
PY := $(PYTHON)
else
PY := $(VENV)/bin/python
endif

# PyTorch goes in first where the environment has none, so that the package's requirement
# `torch>=2.2` does not pick a build for you. TORCH_INDEX picks where it comes from, e.g.
# https://download.pytorch.org/whl/cpu for the CPU build (PyPI's Linux wheel is the CUDA one).
TORCH ?= torch==2.13.0
TORCH_INDEX ?=

.PHONY: venv install lint test test-quick test-braindecode benchmark benchmark-reference docs docs-ci docs-noplot clean

ifeq ($(strip $(VENV)),)
venv:
else
venv: $(VENV)/bin/python
$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
endif

install: venv
	@$(PY) -c "import torch" 2>/dev/null || \
		$(PY) -m pip install $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH)"
	$(PY) -m pip install -q -e ".[test]"

lint:
	$(PY) -m ruff check $(SRC)
	$(PY) -m ruff format --check $(SRC)
	$(PY) -m mypy sk_eegm2

# pytest exits with 5 when it collects no test, so an empty run fails here too.
test: install lint
	$(PY) -m pytest

# The loop while working (under a minute): no real EEG, subprocess, distributed or benchmark
# tests (those marked slow), in the environment `make install` set up; `make test` runs them all.
test-quick:
	$(PY) -m pytest -m "not slow" -q

# The main job writes into BENCHMARK_OUT, which git ignores; `benchmark-reference` rewrites
# the committed results that the documentation includes, and is meant for a release.
EEGMAT_DATA ?= ../shared/data/eegmat
BENCHMARK_OUT ?= benchmarks/out
BENCHMARK = $(PY) -m sk_eegm2 benchmark eegmat --data $(EEGMAT_DATA)

# braindecode pins torch and torchaudio (torchaudio is built for one torch only), which need
# not be the TORCH above: its interop tests and example run in an environment of their own,
# BD_VENV, made with braindecode's torch, this checkout first on its path. `make
# test-braindecode BD_VENV=path` reuses an environment that has braindecode and pytest.
BD_VENV ?= .venv-braindecode
BRAINDECODE ?= braindecode==1.8.1
BD_PY := $(BD_VENV)/bin/python
EEGBCI_PATH = $${SK_EEGM2_EEGBCI_PATH:-$(abspath ../shared/data/MNE-eegbci-data)}

$(BD_PY):
	$(PYTHON) -m venv $(BD_VENV)
	$(BD_PY) -m pip install "$(BRAINDECODE)" pytest -e .

test-braindecode: $(BD_PY)
	PYTHONPATH=$(CURDIR) OMP_NUM_THREADS=1 $(BD_PY) -m pytest -p no:cacheprovider \
		tests/test_braindecode.py
	PYTHONPATH=$(CURDIR) OMP_NUM_THREADS=1 SK_EEGM2_EEGMAT_PATH=$(EEGMAT_PATH) \
		SK_EEGM2_EEGBCI_PATH=$(EEGBCI_PATH) $(BD_PY) examples/braindecode_interop.py

benchmark: install
	$(BENCHMARK) --out $(BENCHMARK_OUT)

benchmark-reference: install
	$(BENCHMARK) --out benchmarks/results

# The documentation; `docs` also runs the whole example gallery on the real data (several
# minutes), `docs-ci` only the examples in CI_EXAMPLES (a regular expression on their paths,
# sphinx-gallery's filename_pattern), which fit in continuous integration's time budget, and
# `docs-noplot` none. The recordings: SK_EEGM2_EEGMAT_PATH, else ../shared/data/eegmat.
EEGMAT_PATH = $${SK_EEGM2_EEGMAT_PATH:-$(abspath ../shared/data/eegmat)}
SPHINX = SK_EEGM2_EEGMAT_PATH=$(EEGMAT_PATH) OMP_NUM_THREADS=1 $(PY) -m sphinx -W -b html
CI_EXAMPLES ?= /plot_(save_load|what_it_learned|moabb)\.py

docs: install
	$(PY) -m pip install -q -e ".[docs]"
	$(SPHINX) docs docs/_build/html

docs-ci: install
	$(PY) -m pip install -q -e ".[docs]"
	$(SPHINX) -D "sphinx_gallery_conf.filename_pattern=$(CI_EXAMPLES)" docs docs/_build/html

docs-noplot: install
	$(PY) -m pip install -q -e ".[docs]"
	$(SPHINX) -D plot_gallery=0 docs docs/_build/html

# The virtual environment (only the one this Makefile made) and everything built.
clean:
	$(if $(strip $(VENV)),rm -rf $(VENV))
	rm -rf build dist *.egg-info docs/_build docs/auto_examples docs/generated \
		docs/sg_execution_times.rst
