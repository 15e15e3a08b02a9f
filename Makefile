# Set-up and everyday commands. `make demo` and `make test` each do all the set-up
# on a fresh machine: a virtual environment in .venv with the pinned requirements.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_OUT ?= runs/quickstart
# DDS stays on this machine; tests pick their own domain ids.
export ROS_AUTOMATIC_DISCOVERY_RANGE := LOCALHOST

.PHONY: install demo test lint bench clean

install: $(STAMP)

$(STAMP): requirements.txt setup.py setup.cfg package.xml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

## The main job on a small default: record demonstrations, train the embedding, train the
## agent, evaluate on held-out demonstrations, write $(DEMO_OUT)/report.md (~10 min, 2 cores).
demo: $(STAMP)
	$(VENV)/bin/tcn quickstart --out $(DEMO_OUT)

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/bench_sim.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
