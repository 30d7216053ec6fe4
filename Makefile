# Visual-SDPO. Every target depends on `setup`, so the first `make test` on a fresh machine
# builds the venv and installs the renderers' system packages itself.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CONFIG ?= chart_tiny
ARGS ?=
# Tests run in parallel processes (pytest-xdist), a whole file per process (--dist loadfile), so a
# module's fixtures (a trained run, a render pool) are built once; PYTEST_ARGS="-n 0 -x" for a
# serial run.
PYTEST_ARGS ?= -n auto --dist loadfile

.PHONY: setup system test test-fast lint format train warmstart feedback-gap feedback-reading export tensorboard bench bench-learning eval eval-compare

# The JAX build `make setup` installs: cpu, tpu, cuda12 or cuda13; detected when not given
# (`make setup ACCEL=cuda13` on a host whose driver supports CUDA 13).
ACCEL ?= $(shell bash scripts/accelerator.sh)
INSTALLED := $(VENV)/.installed-$(ACCEL)
# torch and the other references of the parity tests and benchmarks: only for the targets
# that compare against them (test, bench, export's check), never on an accelerator host's run.
REFERENCES := $(VENV)/.references

setup: system $(INSTALLED)

# Re-installs only when pyproject.toml or ACCEL changes, so a second `make setup` takes seconds.
$(INSTALLED): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "setup: $(PYTHON) not found; install Python 3.11+ or run make PYTHON=/path/to/python3"; exit 1; }
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV) || { echo "setup: could not create $(VENV); install the venv module (apt-get install python3-venv)"; exit 1; }
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e .
	@bash scripts/install_jax.sh $(PY) $(ACCEL)
	@rm -f $(VENV)/.installed*
	@touch $@
	@echo "setup: python environment ready in $(VENV) (JAX for $(ACCEL))"

$(REFERENCES): $(INSTALLED)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	@touch $@

system:
	@bash scripts/setup_system.sh

test: setup $(REFERENCES)
	$(PY) -m pytest $(PYTEST_ARGS)

# The suite without the tests marked slow (each over ~20 s: training runs, multi-process runs,
# compiling whole steps); CI runs `make test`, all of them.
test-fast: setup $(REFERENCES)
	$(PY) -m pytest $(PYTEST_ARGS) -m "not slow"

lint: setup $(REFERENCES)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup $(REFERENCES)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The main job: `make train` (chart_tiny), `make train CONFIG=chart ARGS="model.path=/models/Qwen3-VL-8B-Instruct"`.
train: setup
	$(PY) -m sdpo_jax train $(CONFIG) $(ARGS)

# `make warmstart CONFIG=chart_tiny [ARGS="warmstart.out=weights/chart_tiny"]`: the supervised
# warm start the tiny recipes begin from (on 2 CPU cores: 1 h 41 min for chart_tiny; 44 min for
# slide_tiny with ARGS="warmstart.steps=700 warmstart.warmup_steps=50").
warmstart: setup
	$(PY) -m sdpo_jax warmstart $(CONFIG) $(ARGS)

# `make feedback-gap CONFIG=chart_tiny [ARGS="model.path=exports/chart_tiny eval.quick_items=16"]`:
# how much better the policy writes from the teacher's context than without (validation split).
feedback-gap: setup
	$(PY) -m sdpo_jax feedback-gap $(CONFIG) eval.quick_split=validation $(ARGS)

# `make feedback-reading CONFIG=chart_tiny [ARGS="model.path=runs/chart_tiny-departures"]`: whether
# the policy reads its feedback: the cost of the gold tokens a content edit changed, teacher-forced.
feedback-reading: setup
	$(PY) -m sdpo_jax feedback-reading $(CONFIG) eval.quick_split=validation $(ARGS)

# `make export CKPT=runs/chart_tiny OUT=exports/chart_tiny` (CKPT: a run dir or one of its checkpoints/<step>).
export: setup $(REFERENCES)
	@[ -n "$(CKPT)" ] && [ -n "$(OUT)" ] || { echo "usage: make export CKPT=runs/<run>[/checkpoints/<step>] OUT=<folder>"; exit 2; }
	$(PY) -m sdpo_jax export $(CKPT) $(OUT)
	$(PY) -m models.qwen3_vl.verify --hf $(OUT)

LOGDIR ?= runs
tensorboard: setup
	$(VENV)/bin/tensorboard --logdir $(LOGDIR)

# Each benchmark prints one table against a reference measured in the same run.
BENCHMARKS ?= $(filter-out benchmarks/learning.py,$(wildcard benchmarks/*.py))
bench: setup $(REFERENCES)
	@for b in $(BENCHMARKS); do echo "== $$b"; $(PY) $$b || exit 1; done

# The learning benchmark (arms x seeds, resumable) -> docs/results.md: at most 120 min on
# 2 CPU cores; `make bench-learning ARGS=--quick` (one task, the core arms) at most 20.
bench-learning: setup
	$(PY) benchmarks/learning.py $(ARGS)

# `make eval CONFIG=chart_tiny [CKPT=runs/chart_tiny] [MODEL=/models/base] [DATA=/data/ChartMimic] [ARGS="eval.limit=8"]`
eval: setup
	$(PY) -m sdpo_jax evaluate $(CONFIG) $(ARGS) $(if $(CKPT),--ckpt $(CKPT)) $(if $(MODEL),--model $(MODEL)) $(if $(DATA),--data $(DATA))

# `make eval-compare A=runs/base/eval B=runs/chart_tiny/eval/step20`
eval-compare: setup
	@[ -n "$(A)" ] && [ -n "$(B)" ] || { echo "usage: make eval-compare A=<report dir or report.json> B=<...>"; exit 2; }
	$(PY) -m sdpo_jax eval-compare $(A) $(B)
