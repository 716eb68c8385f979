# The two commands of the README:  `make reproduce`  and  `make test`.
# Both create .venv and install everything on a fresh machine (CPU PyTorch from the local wheel).
VENV ?= .venv
PY := $(VENV)/bin/python
RUN_DIR ?= runs/default

.PHONY: setup test reproduce bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install -q --disable-pip-version-check -e ".[test,dask]"
	touch $@

test: setup
	$(PY) -m pytest -q

reproduce: setup
	$(VENV)/bin/musicneurons reproduce -o $(RUN_DIR)

bench: setup
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) runs
