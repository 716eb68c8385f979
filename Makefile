# The two commands of the README:  `make reproduce`  and  `make test`.
# Both create .venv and install everything on a fresh machine (CPU PyTorch from the local wheel).
VENV ?= .venv
PY := $(VENV)/bin/python
RUN_DIR ?= runs/default

.PHONY: setup test reproduce bench clean browser

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install -q --disable-pip-version-check -e ".[test,dask]"
	touch $@

# the report test opens the HTML report in headless Chromium (Debian's package)
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
	  || echo "could not install chromium (apt-get install chromium): the report's browser test will fail"

test: setup browser
	$(PY) -m pytest -q

reproduce: setup
	$(VENV)/bin/musicneurons reproduce -o $(RUN_DIR)

bench: setup
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) runs
