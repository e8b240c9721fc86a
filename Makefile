# kosmos - every target sets up what it needs by itself (fresh Debian/Ubuntu with Python 3.11+).
#   make plan [STACK=dev]   offline plan of a stack (mock engine: no credentials, no Pulumi CLI)
#   make diff [STACK=dev] [BASE=<git ref>] [DIFF_ARGS=--exit-code]
#                           what the working tree changes against BASE (default: merge-base with main, or HEAD
#                           when there are uncommitted changes), offline; also writes build/<stack>/diff.md
#   make test               install everything the tests need, run the suite
#   make golden             regenerate the committed golden renders under tests/golden/
#   make bench              scale benchmark (writes build/bench.json)
#   make latency STACK=...  RTT matrix from the cluster's latency probes (build/<stack>/latency.{json,png})

STACK ?= dev
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
RUNTIME_STAMP := $(VENV)/.runtime-$(shell cat requirements.txt constraints.txt | sha256sum | cut -c1-16)
TEST_STAMP := $(VENV)/.test-$(shell cat requirements.txt requirements-test.txt constraints.txt | sha256sum | cut -c1-16)
PYTEST_ARGS ?=
BASE ?=
DIFF_ARGS ?=

.PHONY: plan diff test golden bench latency system-deps clean

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "kosmos needs Python 3.11+ ($(PYTHON) is older); run make PYTHON=python3.11 ..." >&2; exit 1; }
	@$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); echo "python venv failed: on Debian/Ubuntu run 'sudo apt-get install python3-venv'" >&2; exit 1; }

$(RUNTIME_STAMP): requirements.txt constraints.txt | $(PY)
	$(PIP) install -r requirements.txt -c constraints.txt
	touch $@

$(TEST_STAMP): $(RUNTIME_STAMP) requirements-test.txt
	$(PIP) install -r requirements-test.txt -c constraints.txt
	touch $@

plan: $(RUNTIME_STAMP)
	$(PY) -m tools.plan --stack $(STACK)

diff: $(RUNTIME_STAMP)
	@$(PY) -m tools.diff --stack $(STACK) $(if $(BASE),--base $(BASE)) $(DIFF_ARGS)

system-deps:
	bash tools/install-system-deps.sh

test: $(TEST_STAMP) system-deps
	$(PY) -m pytest $(PYTEST_ARGS)

golden: $(TEST_STAMP)
	$(PY) -m tools.golden

bench: $(RUNTIME_STAMP)
	$(PY) -m tools.bench

latency: $(RUNTIME_STAMP)
	$(PY) -m tools.latency --stack $(STACK) $(LATENCY_ARGS)

clean:
	rm -rf build .pytest_cache
