# The commands the README promises. `make test` and `make benchmark` set everything up first.
PYTHON ?= python3
SRC := sk_eegm2 tests benchmarks examples

.PHONY: install lint test test-quick benchmark docs docs-ci docs-noplot

# Install the CPU build of PyTorch first where no torch is present, so that nothing pulls
# several GB of CUDA packages; then the package with its test tools.
install:
	@$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install "torch==2.13.0"
	$(PYTHON) -m pip install -q -e ".[test]"

lint:
	$(PYTHON) -m ruff check $(SRC)
	$(PYTHON) -m ruff format --check $(SRC)
	$(PYTHON) -m mypy sk_eegm2

# pytest exits with 5 when it collects no test, so an empty run fails here too.
test: install lint
	$(PYTHON) -m pytest

# The loop while working (under a minute): no real EEG, subprocess, distributed or benchmark
# tests (those marked slow); `make test` runs them all.
test-quick:
	$(PYTHON) -m pytest -m "not slow" -q

benchmark: install
	$(PYTHON) -m sk_eegm2 benchmark eegmat --data ../shared/data/eegmat --out benchmarks/results

# The documentation; `docs` also runs the whole example gallery on the real data (several
# minutes), `docs-ci` only the examples in CI_EXAMPLES (a regular expression on their paths,
# sphinx-gallery's filename_pattern), which fit in continuous integration's time budget, and
# `docs-noplot` none. The recordings: SK_EEGM2_EEGMAT_PATH, else ../shared/data/eegmat.
EEGMAT_PATH = $${SK_EEGM2_EEGMAT_PATH:-$(abspath ../shared/data/eegmat)}
SPHINX = SK_EEGM2_EEGMAT_PATH=$(EEGMAT_PATH) OMP_NUM_THREADS=1 $(PYTHON) -m sphinx -W -b html
CI_EXAMPLES ?= /plot_(save_load|what_it_learned|moabb)\.py

docs: install
	$(PYTHON) -m pip install -q -e ".[docs]"
	$(SPHINX) docs docs/_build/html

docs-ci: install
	$(PYTHON) -m pip install -q -e ".[docs]"
	$(SPHINX) -D "sphinx_gallery_conf.filename_pattern=$(CI_EXAMPLES)" docs docs/_build/html

docs-noplot: install
	$(PYTHON) -m pip install -q -e ".[docs]"
	$(SPHINX) -D plot_gallery=0 docs docs/_build/html
