# Two commands do everything on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export RAY_USAGE_STATS_ENABLED := 0
export AWS_EC2_METADATA_DISABLED := true
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: install demo lint test bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --upgrade --quiet pip
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/m2c demo

# the linter (with each package's banned imports: the layer rules) and the type check
# of engine/ and storage/; tests/test_layers.py checks every import completely
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 1; fi; exit $$rc

bench: $(STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/settle.py

clean:
	rm -rf $(VENV) .m2c .pytest_cache
