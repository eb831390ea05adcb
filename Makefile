# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Both create .venv from requirements.lock when it is missing (Python 3.10 required).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
UV_VERSION := 0.13.9
# The demo configs (pipeline/configs/demo*.yaml) read their data from here.
DEMO_DIR := out/demo
DEMO_SEED ?= 7
# python3.10 on PATH, else a pyenv-installed 3.10 (pyenv shims fail when 3.10 is not selected).
PYTHON310 ?= $(shell for p in python3.10 $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.10*/bin/python3.10 2>/dev/null); do \
	$$p -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null && { echo $$p; break; }; done)

.PHONY: setup demo demo-pretrain demo-random demo-tracks test test-fast mutate bench lock clean-venv

$(VENV)/.installed: requirements.lock setup.py
	@test -n "$(PYTHON310)" || { echo "Python 3.10 not found: install it (see README, 'Python 3.10')"; exit 1; }
	@echo "installing $(VENV) from requirements.lock (first run, or after the lock changed; ~1 min)"
	@test -x $(PY) || $(PYTHON310) -m venv $(VENV)
	@$(PY) -m pip install -qq "uv==$(UV_VERSION)"
	@$(UV) pip sync --quiet --python $(PY) requirements.lock
	@$(UV) pip install --quiet --python $(PY) --no-deps -e .
	@touch $@

setup: $(VENV)/.installed

# Synthetic data, written once per seed and generator version (the stamp), so a rerun keeps the
# input files' fingerprints and the data components come from the TFX cache.
DEMO_DATA := $(DEMO_DIR)/data/.written-seed-$(DEMO_SEED)
$(DEMO_DATA): pipeline/demo_data.py components/genome.py | $(VENV)/.installed
	rm -rf $(DEMO_DIR)/data
	$(VENV)/bin/enformer-tfx demo-data $(DEMO_DIR)/data --seed $(DEMO_SEED)
	touch $@

# Stage 1: pretrain the trunk on demo tracks DEMO00-02 and push it to out/demo-pretrain/serving.
# Run every time: after the first run the TFX cache serves every component (nothing retrains)
# until the data or the config change.
demo-pretrain: setup $(DEMO_DATA)
	@echo "stage 1 of 2: pretrain the trunk on the demo tracks (cached after the first run)"
	$(VENV)/bin/enformer-tfx run --config pipeline/configs/demo_pretrain.yaml

# Stage 2: the payload pipeline, fine-tuned from stage 1's trunk (model.baseline); a rerun is the
# loop's next round (warm start from the blessed model).
demo: demo-pretrain
	@echo "stage 2 of 2: fine-tune the pretrained trunk on the payload assay"
	$(VENV)/bin/enformer-tfx run --config pipeline/configs/demo.yaml

# The payload pipeline from a random trunk, for comparison (no stage 1).
demo-random: setup $(DEMO_DATA)
	$(VENV)/bin/enformer-tfx run --config pipeline/configs/demo_random.yaml

# A new track head on the frozen pretrained trunk for DEMO03, the track held out of pretraining;
# blessed when its held-out r reaches 0.5.
demo-tracks: demo-pretrain
	$(VENV)/bin/enformer-tfx run --config pipeline/configs/demo_tracks.yaml

test: setup
	$(PY) -m pytest tests

# Inner loop: everything but the tests marked slow (pipeline runs, training/export runs,
# multi-worker Beam runs, the full-size model).
test-fast: setup
	$(PY) -m pytest tests -m "not slow"

# Mutation testing of the NumPy/Beam rules (setup.cfg [mutmut]: modules and fast tests), then the
# score and every mutant that was not killed. Sources are copied into ./mutants; a rerun only
# retests mutants of changed functions.
mutate: setup
	$(VENV)/bin/mutmut run --max-children 2
	$(VENV)/bin/mutmut export-cicd-stats
	$(PY) -m tests.mutation_score mutants/mutmut-cicd-stats.json
	$(VENV)/bin/mutmut results

bench: setup
	$(PY) -m benchmarks.run_all

# Regenerate the lock from requirements.in (needs the package index).
lock: setup
	$(UV) pip compile requirements.in --python-version 3.10 --python-platform x86_64-manylinux_2_36 -o requirements.lock

clean-venv:
	rm -rf $(VENV)
