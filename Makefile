# Two entry points for a fresh clone: `make demo` (the main job) and `make test`.
# Both build .venv from scratch if it is missing; torch is pinned by constraints.txt.
# `make demo` installs only the package and its plot extra; `make test`, `make lint`,
# `make docs` and `make bench` install the dev extra. Either order works from a fresh clone.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo

.PHONY: demo test lint docs bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

$(DEMO_STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[plot]'
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/optfn demo

# The distributed tests run after the rest, one at a time: each spawns 2 gloo ranks, and on
# 2 cores beside another xdist worker gloo's polling collectives slow down by 10x or more.
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 -m "not distributed"
	$(BIN)/python -m pytest -q -p no:xdist -m distributed

lint: $(STAMP)
	$(BIN)/ruff check optfn tests benchmarks examples
	$(BIN)/mypy

# The docs site (mkdocs.yml, docs/): every warning is an error. The gallery's curves are drawn
# at build time into site/ only (docs/hooks.py).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -d site

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py --quick

clean:
	rm -rf $(VENV) site .pytest_cache .hypothesis .mypy_cache .ruff_cache
