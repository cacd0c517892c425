# TradeStream: the two commands of the README, and the steps they are made of.
#
#   make demo   set up everything, then run the main job locally
#   make test   set up everything, then run the whole test suite
#
# Prerequisites: Python 3.11, Java 17 and Maven on PATH (and Go 1.24+ for `make test`,
# which builds helm and actionlint). Everything else is installed by these targets: a
# virtualenv in .venv/, the generated protobuf modules, and the JVM toolchain (Kafka,
# Beam's Flink runner) in .local/jvm/.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
PROTOS := $(wildcard protos/tradestream/v1/*.proto)
GENERATED := tradestream/v1/__init__.py
PYTEST_ARGS ?=

.PHONY: demo test install protos jvm lint format clean

# Local Kafka + the realtime pipeline on embedded Flink over the bundled sample day;
# signals are printed as they arrive. Pass options with DEMO_ARGS="--hours 6".
DEMO_ARGS ?=
demo: install jvm
	$(BIN)/tradestream demo $(DEMO_ARGS)

test: install jvm
	$(BIN)/python -m pytest $(PYTEST_ARGS)

install: $(INSTALLED) $(GENERATED)

$(INSTALLED): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; TradeStream needs Python 3.11 (set PYTHON=/path/to/python3.11)"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { echo "error: $(PYTHON) is not Python 3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

# Generated protobuf modules: rebuilt whenever a .proto changes.
$(GENERATED): $(PROTOS) scripts/gen_protos.py $(INSTALLED)
	$(BIN)/python scripts/gen_protos.py

protos: $(INSTALLED)
	$(BIN)/python scripts/gen_protos.py

# Kafka broker and Beam's Flink job server, resolved by Maven (cached; re-fetched when a pom changes).
jvm: $(INSTALLED)
	$(BIN)/tradestream local fetch

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	-$(BIN)/tradestream local down
	rm -rf $(VENV) .local tradestream/v1 .pytest_cache .hypothesis

# A real single-node Kubernetes on this machine (root, Debian 12; see README, "Deploy on
# Kubernetes"): binaries, images and state under .local/k8s. k8s-e2e installs the chart on
# it and checks signals against `tradestream backtest`, with faults; k8s-down stops it all.
.PHONY: k8s-up k8s-down k8s-e2e
k8s-up:
	bash scripts/k8s/up.sh

k8s-down:
	bash scripts/k8s/down.sh

k8s-e2e: install
	bash scripts/k8s/e2e.sh $(K8S_E2E_ARGS)
