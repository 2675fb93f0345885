# tfvae: every target does its own set-up (a virtualenv in .venv) first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup train test tensorboard benchmark clean

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

# The main job: the default preset on the offline `digits` data (a few minutes
# on 2 CPU cores); TensorBoard logs under runs/.
train: $(STAMP)
	$(PY) scripts/train.py --flagfile=scripts/flags/default.flags $(ARGS)

# Two pytest workers, one test file each at a time (--dist loadfile): most
# tests wait on subprocesses or start TensorFlow, so two overlap on 2 cores.
test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadfile tests $(ARGS)

tensorboard: $(STAMP)
	$(VENV)/bin/tensorboard --logdir runs/

benchmark: $(STAMP)
	$(PY) benchmarks/throughput.py
	$(PY) benchmarks/memory.py

clean:
	rm -rf $(VENV) runs .pytest_cache
