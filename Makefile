# kosmos - every target sets up what it needs by itself (fresh Debian/Ubuntu with Python 3.11+). `make help` lists
# the targets: each is documented by its `##` comment.

STACK ?= baremetal
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
RUNTIME_STAMP := $(VENV)/.runtime-$(shell cat requirements.txt constraints.txt | sha256sum | cut -c1-16)
TEST_STAMP := $(VENV)/.test-$(shell cat requirements.txt requirements-test.txt constraints.txt | sha256sum | cut -c1-16)
PYTEST_ARGS ?=
BASE ?=
DIFF_ARGS ?=
BENCH_ARGS ?=
LATENCY_ARGS ?=
STATUS_ARGS ?=

.PHONY: help plan diff test golden schema wheel bench latency status system-deps clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /  make \1\t/' | expand -t 24

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "kosmos needs Python 3.11+ ($(PYTHON) is older); run make PYTHON=python3.11 ..." >&2; exit 1; }
	@$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); echo "python venv failed: on Debian/Ubuntu run 'sudo apt-get install python3-venv'" >&2; exit 1; }

$(RUNTIME_STAMP): requirements.txt constraints.txt | $(PY)
	$(PIP) install -r requirements.txt -c constraints.txt
	touch $@

$(TEST_STAMP): $(RUNTIME_STAMP) requirements-test.txt
	$(PIP) install -r requirements-test.txt -c constraints.txt
	touch $@

plan: $(RUNTIME_STAMP) ## offline plan of a stack, STACK=dev|blog|baremetal (mock engine: no credentials, no Pulumi CLI)
	$(PY) -m tools.plan --stack $(STACK)

diff: $(RUNTIME_STAMP) ## what the working tree changes against BASE (default: merge-base with main, or HEAD when dirty), offline; build/<stack>/diff.md
	@$(PY) -m tools.diff --stack $(STACK) $(if $(BASE),--base $(BASE)) $(DIFF_ARGS)

system-deps: ## install the Debian packages the tests use (openssh-server, cloud-init, Node.js, faketime, jq)
	bash tools/install-system-deps.sh

test: $(TEST_STAMP) system-deps ## install everything the tests need, run the suite
	$(PY) -m pytest $(PYTEST_ARGS)

golden: $(TEST_STAMP) ## regenerate the committed golden renders under tests/golden/
	$(PY) -m tools.golden

schema: $(RUNTIME_STAMP) ## components/args.py from the config model, the package schema the SDK infers from it: build/schema.json (+ provider/schema.json), and the stack-file JSON Schema stacks/kosmos-config.schema.json
	$(PY) -m tools.argsgen
	$(PY) -m tools.schema

wheel: $(PY) ## build the kosmos wheel into build/dist/ (pip install build/dist/kosmos-*.whl anywhere)
	$(PIP) wheel --no-deps -w build/dist .
	rm -rf kosmos.egg-info

bench: $(RUNTIME_STAMP) ## scale benchmark, BENCH_ARGS="--nodes 10 100 --runs 3" (writes build/bench.json)
	$(PY) -m tools.bench $(BENCH_ARGS)

latency: $(RUNTIME_STAMP) ## RTT matrix from the cluster's latency probes, STACK=... [LATENCY_ARGS="--timeout 600"] (build/<stack>/latency.{json,png})
	$(PY) -m tools.latency --stack $(STACK) $(LATENCY_ARGS)

status: $(RUNTIME_STAMP) ## declared vs running: machines, Scaleway and Kubernetes nodes, versions, orphans, STACK=... [STATUS_ARGS="--json --exit-code --reap --yes"]
	@$(PY) -m tools.status --stack $(STACK) $(STATUS_ARGS)

clean: ## remove build outputs
	rm -rf build .pytest_cache
