# The two commands of the README. Everything the project needs is installed from here.
VENV ?= .venv
BIN := $(VENV)/bin
SHARED ?= ../shared
SCHEMAS ?= $(SHARED)/fixtures/ks-no-fiks-nhn-client/msh-client/src/main/resources/xsd

.PHONY: install broker-deps run test test-fast bench

$(BIN)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/.installed

## broker-deps: Debian's rabbitmq-server with the AMQP 1.0 plugin (idempotent; needs root or sudo)
broker-deps:
	bash scripts/install-rabbitmq.sh

## run: the main job on the embedded default — the smoke scenario through the service cores, verified
run: install
	$(BIN)/digihelse simulate smoke --out build/smoke

## test: the project's tests (what .ci/run runs)
test: install broker-deps
	$(BIN)/python -m pytest -q

## test-fast: the everyday edit-test loop — every test not marked slow (no served runs, Locust, RabbitMQ or
## national-scale simulations); `make test` still runs everything
test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

bench: install broker-deps
	bash scripts/install-bench-tools.sh
	$(BIN)/python benchmarks/wire.py
	$(BIN)/python benchmarks/exchange.py
	$(BIN)/python benchmarks/citizen_api.py
	$(BIN)/python benchmarks/load.py
	$(BIN)/python benchmarks/ledger.py
