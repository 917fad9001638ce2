# tonearm: `make demo` installs and serves the demo catalog; `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA ?= data/demo
PORT ?= 8000

.PHONY: install demo test lint typecheck fmt bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,models,bench]'
	$(BIN)/python -m pip install --quiet --no-deps 'aisfx==0.1.2'
# BeatNet: CRNN beat activation (CC BY 4.0 weights in the wheel); --no-deps: it pins an
# ancient numba and wants madmom and pyaudio, none of which tonearm uses
	$(BIN)/python -m pip install --quiet --no-deps 'BeatNet==1.1.3'
# musicnn: music taggers (ISC, checkpoints in the wheel); --no-deps: it pins TensorFlow 1
# and numpy<1.17, and tonearm reads the checkpoints without either
	$(BIN)/python -m pip install --quiet --no-deps 'musicnn==0.1.0'
	touch $@

demo: install
	$(BIN)/tonearm demo --data $(DATA) --port $(PORT)

test: install
	$(BIN)/python -m pytest -q -ra

lint:
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

typecheck:
	$(BIN)/mypy src/tonearm

fmt:
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

clean:
	rm -rf $(VENV) data
