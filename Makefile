# Two entry points for a fresh clone: `make demo` (the main job) and `make test`.
# Both build .venv from scratch if it is missing; torch is pinned by constraints.txt.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/optfn demo

# The distributed tests run after the rest, one at a time: each spawns 2 gloo ranks, and on
# 2 cores beside another xdist worker gloo's polling collectives slow down by 10x or more.
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 -m "not distributed"
	$(BIN)/python -m pytest -q -p no:xdist -m distributed

lint: $(STAMP)
	$(BIN)/ruff check optfn tests benchmarks examples
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py --quick

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .mypy_cache .ruff_cache
