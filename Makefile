# ytocc — every target creates .venv on first use (see `setup`).
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ytocc-installed
OPENCV := opencv-python-headless==5.0.0.93
DEMO_OUT ?= out/demo

.PHONY: setup system-run system-test demo test test-fast bench lint ui clean
# Prerequisites run left to right: system packages are checked before .venv is built.
.NOTPARALLEL:

setup: system-run $(STAMP)

# System packages (apt-get as root or with sudo; else one line naming the command, and a stop).
system-run:
	@.ci/system-deps run

system-test:
	@.ci/system-deps test

# Idempotent: re-runs only when pyproject.toml changes. scenedetect pulls the GUI OpenCV;
# we keep exactly one OpenCV, the headless one. mini-dust3r is installed without its
# dependencies (it pins a GUI stack); its runtime needs are in pyproject.toml.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip wheel
	$(BIN)/pip install -q -e '.[dev,ray]'
	$(BIN)/pip install -q --no-deps mini-dust3r==0.1.2
	$(BIN)/pip uninstall -q -y opencv-python opencv-contrib-python opencv-python-headless
	$(BIN)/pip install -q --no-deps $(OPENCV)
	touch $@

demo: setup
	$(BIN)/python -m flows.demo --out $(DEMO_OUT)

test: system-test setup
	$(BIN)/python -m pytest tests

test-fast: setup
	$(BIN)/python -m pytest tests -m "not slow"

bench: setup
	$(BIN)/python -m bench --out bench/results

# Mutation testing of storage, source parsing and the model loaders on their fast tests
# (tens of minutes on 2 cores: not part of `make test`); `make bench` reports the last score.
.PHONY: mutate
mutate: setup
	$(BIN)/python -m bench.mutate

lint: setup
	$(BIN)/ruff check flows tasks storage models tests bench
	$(BIN)/ruff format --check flows tasks storage models tests bench

ui: setup
	$(BIN)/python -m flows.ui

clean:
	rm -rf out bench/results .pytest_cache
