# Glioma lakehouse — every command a user or CI needs. Python 3.11 is the only prerequisite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME := $(CURDIR)/.dagster_home

.PHONY: install lint format test test-fast reliability demo ui ui-live next-release standin bench-ingest bench-models bench-rescoring bench-real-release bench-refresh bench-expression clean dagster-home

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or make PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(BIN)/uv: | $(BIN)/python
	$(BIN)/python -m pip install --quiet uv==0.13.9

# uv installs the pinned set into the venv, in parallel: 8 s with empty caches against pip's 172 s on this 2-core
# machine (2026-12-05), and CI installs from scratch every time. Same versions, same venv; `pip` works in it too.
# --native-tls: trust the system's certificates, as pip does.
# --compile-bytecode: write every library's .pyc now, as pip does and uv does not. Without it, and with
# PYTHONDONTWRITEBYTECODE set (as on the CI machines), every process compiles Dagster, GX, pandas, scikit-learn ...
# from source again: importing the pipeline's libraries costs ~14 CPU-s instead of ~7 (this 2-core machine,
# 2026-12-06), in each test worker, `dagster dev`, step process and CLI call. Compiling costs ~30 s once.
$(VENV)/.installed: pyproject.toml | $(BIN)/uv
	$(BIN)/uv pip install --quiet --native-tls --compile-bytecode --python $(BIN)/python -e ".[dev]"
	@touch $@

install: $(VENV)/.installed

# A local Dagster instance for the demo runs and the UI (orchestration/dagster.yaml: no telemetry,
# the gdc_api pool limit, run monitoring).
dagster-home:
	@mkdir -p $(DAGSTER_HOME)
	@cp orchestration/dagster.yaml $(DAGSTER_HOME)/dagster.yaml

# Offline end to end: synthetic cohort -> GDC stand-in -> every asset for its release.
demo: install dagster-home
	$(BIN)/python -m orchestration.offline --cases 1100 --seed 7

# Lint and format check (ruff, configured in pyproject.toml); `make format` rewrites.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# What CI runs: lint, then the whole suite in 4 workers on the 2 cores (pytest-xdist; many tests wait on servers,
# browsers and subprocesses, so the extra workers fill the idle time; a test file stays on one worker so its module
# fixtures are built once, the pipeline worlds are built once for all workers, and the files start longest first,
# tests/conftest.py). Prints the 15 slowest tests at the end.
# One BLAS/OpenMP thread per process: workers with a thread pool each oversubscribe the 2 cores, and OpenMP's
# waiting threads spin (LightGBM training: 28 % less CPU for the same wall time with one thread). Likewise no
# joblib worker processes (pydeseq2's differential expression): on a busy 2-core machine they only add their start-up
# and the copying of the counts (building the real expression world: 76 CPU-s without them, 83 with two; 2026-12-06).
# PYTHONDONTWRITEBYTECODE emptied: the tests start hundreds of Python processes (workers, Dagster servers and step
# processes, forked refreshes, CLI calls), and each compiled the project's and the tests' sources again when the
# environment forbids writing bytecode (as on the CI machines): collecting the suite costs ~16 CPU-s instead of ~10
# in each worker. The .pyc files go to __pycache__/ (git-ignored).
TEST_THREADS := OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 LOKY_MAX_CPU_COUNT=1
TEST_ENV := $(TEST_THREADS) PYTHONDONTWRITEBYTECODE=
test: lint
	$(TEST_ENV) $(BIN)/python -m pytest -n 4 --dist loadfile --no-loadscope-reorder

# The quick loop while developing: no slow, browser or real-data tests.
test-fast: install
	$(TEST_ENV) $(BIN)/python -m pytest -n 3 --dist loadfile -m "not slow and not browser and not realdata"

# Every reliability scenario: each stand-in fault kind, kill -9 at 20 random moments and at the named crash
# points, 1,000 fuzzed documents, changed GDC answers (`make test` runs a bounded subset). Prints the counts.
reliability: install
	RELIABILITY_FULL=1 $(BIN)/python -m pytest tests/reliability

# The Dagster UI against the demo's GDC stand-in (offline): assets, partitions, checks, sensor, schedules.
ui: install dagster-home
	$(BIN)/python -m orchestration.ui

# The Dagster UI against the LIVE GDC API: the release sensor starts a full download of TCGA-GBM/LGG.
ui-live: install dagster-home
	$(BIN)/python -m orchestration.ui --live

# Publish release N+1 (changed, new and removed cases) into the demo bundle root; a running `make ui` picks it up.
next-release: install
	$(BIN)/python -m sandbox.synthetic.next_release --root data/bundles/synthetic-1100-seed7

# Serve a bundle on http://127.0.0.1:8765 (BUNDLE=path to a bundle root).
standin: install
	$(BIN)/python -m sandbox.gdc_standin --bundle-root $(BUNDLE) --port 8765

bench-ingest: install
	$(BIN)/python bench/ingest.py

bench-models: install
	$(BIN)/python bench/model_quality.py

# Score-first latency, identical and 5%-changed releases (synthetic; CASES=100000 for the large cohort).
bench-rescoring: install
	$(BIN)/python bench/rescoring.py --cases $(or $(CASES),1100)

# End to end per layer (wall time, peak RSS): full, no-op and 5% refreshes (CASES="1100 10000 100000").
bench-refresh: install
	$(BIN)/python bench/refresh.py --cases $(or $(CASES),1100 10000)

# RNA-seq ingest + harmonise + checks against a bare download-and-parse loop (SAMPLES="700 10000" for both sizes).
bench-expression: install
	$(BIN)/python bench/expression.py --samples $(or $(SAMPLES),700)

# Prospective validation and the champion/challenger decision on the real two-release root.
bench-real-release: install
	$(BIN)/python bench/real_two_release.py

clean:
	rm -rf data .dagster_home
