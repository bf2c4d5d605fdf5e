# The two commands a newcomer runs: `make demo` and `make test`. Both bootstrap themselves.
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.bootstrapped

.PHONY: bootstrap demo test lint format check-crds unit schema docs

$(STAMP): pyproject.toml scripts/bootstrap.sh
	VENV=$(VENV) bash scripts/bootstrap.sh
	touch $(STAMP)

bootstrap: $(STAMP)

demo: $(STAMP)
	$(BIN)/homeport demo

lint: $(STAMP)
	$(BIN)/ruff check homeport tests bench testkit
	$(BIN)/ruff format --check homeport tests bench testkit
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/homeport schema --check --out crds/
	$(BIN)/homeport docs --check --out docs/manifests.md
	$(BIN)/homeport validate manifests/

format: $(STAMP)
	$(BIN)/ruff format homeport tests bench testkit
	$(BIN)/ruff check --fix homeport tests bench testkit

schema: $(STAMP)
	$(BIN)/homeport schema --out crds/
	$(BIN)/homeport docs --out docs/manifests.md

unit: $(STAMP)
	$(BIN)/pytest -q tests -m "not integration and not scenario"

test: lint
	$(BIN)/pytest -q -n 2 --dist worksteal --durations=15 tests
