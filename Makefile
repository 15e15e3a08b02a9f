# Set-up and everyday commands. `make demo` and `make test` each do all the set-up
# on a fresh machine: a virtual environment in .venv with the pinned requirements.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_OUT ?= runs/quickstart
# DDS stays on this machine; tests pick their own domain ids.
export ROS_AUTOMATIC_DISCOVERY_RANGE := LOCALHOST

.PHONY: install demo test lint bench reproduce clean

install: $(STAMP)

$(STAMP): requirements.txt setup.py setup.cfg package.xml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

## The main job on a small default: the working recipe (record demonstrations and
## self-observation, train the embedding, read the held-out demonstrations, train PPO on the
## TCN reward, evaluate beside the baselines), $(DEMO_OUT)/report.md (~20 min, 2 cores).
demo: $(STAMP)
	$(VENV)/bin/tcn quickstart --out $(DEMO_OUT)

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks experiments
	$(VENV)/bin/ruff format --check src tests benchmarks experiments

bench: $(STAMP)
	$(PY) benchmarks/bench_sim.py

## Every number of the README's results table, each from its script (hours on 2 cores).
reproduce: $(STAMP)
	benchmarks/reproduce/demo.sh
	benchmarks/reproduce/graph.sh
	benchmarks/reproduce/embedding.sh
	benchmarks/reproduce/smak.sh
	benchmarks/reproduce/headline.sh
	benchmarks/reproduce/read_targets.sh

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
