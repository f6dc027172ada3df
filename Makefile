# The two commands: `make run` (the main job) and `make test`. Each installs first when .venv is
# missing or stale, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# CPU wheel by default; on a CUDA machine: make install TORCH=torch
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.installed
COMPILED := $(VENV)/.compiled
ARGS   ?=

export MUJOCO_GL ?= egl

# Where PYTHONDONTWRITEBYTECODE is set (as on this project's CI machines), every process would compile
# each module it imports, every time: a Ray worker then takes ~9 s instead of ~4 s to import torch and
# the envs. `moto` here unsets it, so the first process to import a module leaves its bytecode in .venv for
# the rest (the driver's imports took 20.5 s without bytecode and 7.0 s with it; compiling the whole
# venv takes 50 s).
MOTO   := env -u PYTHONDONTWRITEBYTECODE $(BIN)/moto

.PHONY: install run test test-fast bench study lint clean

# torch comes through pip, which finds a machine's local wheels (pip.conf's find-links); the ~170 other
# packages through uv, which fetches and unpacks in parallel: 6 s against pip's 32 s on 2 cores (the
# same versions; uv reads no pip.conf: set UV_INDEX_URL for a private index). pip byte-compiles every
# module it installs, on one core (fresh venv: 115 s as pip alone did it, 45 s without compiling). The
# install compiles nothing: `make run` lets its own processes write the bytecode of the ~2,800 modules
# they import (below), and `make test`, whose suite imports far more, compiles the whole venv on every
# core first ($(COMPILED), about 50 s).
UV_VERSION := 0.13.8

$(STAMP): pyproject.toml requirements.txt requirements-test.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --no-compile --upgrade pip "uv==$(UV_VERSION)"
	$(BIN)/pip install -q --no-compile "$(TORCH)"
	$(BIN)/uv pip install -q --python $(BIN)/python -r requirements.txt -r requirements-test.txt
	$(BIN)/pip install -q --no-compile --no-deps -e .
	@echo "$(TORCH)" > $(STAMP)

# With the project's own packages (an editable install: they stay in the checkout, where pip compiles
# nothing), since each of the suite's Ray processes imports them: ~0.7 s each uncompiled. Python
# checks each .pyc against its source's mtime, so an edit later only costs that module's compile.
# compileall's exit status is 1 because a few test files in the wheels are newer Python (pip skips those
# too): the list is kept in .venv/compileall.log.
PACKAGES := moto_rl common storage learner actors deploy

$(COMPILED): $(STAMP)
	@echo "byte-compiling .venv and the project on every core"
	@$(BIN)/python -m compileall -q -j 0 $(VENV)/lib $(PACKAGES) > $(VENV)/compileall.log 2>&1 || true
	@touch $(COMPILED)

# Re-installs when the requested torch differs from the one installed.
install: $(STAMP)
	@grep -qxF "$(TORCH)" $(STAMP) || { $(BIN)/pip install -q --force-reinstall --no-deps "$(TORCH)" && echo "$(TORCH)" > $(STAMP); }

run: install
	$(MOTO) train $(ARGS)

# Two workers: the tests that start Ray, one after another, beside all the others (tests/conftest.py).
# The Ray lane is the longest, so it is handed out first (collection order, not xdist's by-size order).
# TEST_WORKERS=0 runs everything in this one process.
TEST_WORKERS ?= 2

test: lint $(COMPILED)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder --durations=20 tests $(ARGS)

# The edit-test loop: every test but those that start Ray (marked `ray`) or run end to end (`slow`),
# on the same two workers, each module whole.
test-fast: install $(COMPILED)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup -m "not ray and not slow" --durations=10 tests $(ARGS)

bench: install
	@mkdir -p bench/results
	@for b in env storage learner actors; do \
	  echo "== moto bench $$b"; \
	  extra=""; [ $$b = learner ] && extra="--switches"; \
	  $(MOTO) bench $$b $$extra --json | tee bench/results/$$b.log | tail -n 1 > bench/results/$$b.json || exit 1; \
	  cat bench/results/$$b.json; \
	done

# The CPU study (docs/results/cpu-study): runs what docs/results/cpu-study/runs/ does not hold yet
# (about 8 minutes a run on 2 cores), then redraws its report from the committed files.
study: install
	$(MOTO) campaign configs/campaigns/cpu-study.yaml
	$(MOTO) report docs/results/cpu-study --out docs/results/cpu-study/report

# `make test` runs it first: a lint error or an unformatted file fails the suite before it starts.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) bench/results .pytest_cache
