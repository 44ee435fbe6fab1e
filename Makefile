# The commands the README promises. `make test` and `make benchmark` set everything up first.
PYTHON ?= python3
SRC := sk_eegm2 tests benchmarks examples

.PHONY: install lint test benchmark docs docs-noplot

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

benchmark: install
	$(PYTHON) -m sk_eegm2 benchmark eegmat --data ../shared/data/eegmat --out benchmarks/results

# The documentation; `docs` also runs the example gallery on the real data (a few minutes).
docs: install
	$(PYTHON) -m pip install -q -e ".[docs]"
	SK_EEGM2_EEGMAT_PATH=$${SK_EEGM2_EEGMAT_PATH:-../shared/data/eegmat} OMP_NUM_THREADS=1 \
		$(PYTHON) -m sphinx -W -b html docs docs/_build/html

docs-noplot: install
	$(PYTHON) -m pip install -q -e ".[docs]"
	$(PYTHON) -m sphinx -W -D plot_gallery=0 -b html docs docs/_build/html
