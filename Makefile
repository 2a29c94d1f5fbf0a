# Set-up on a fresh Debian 12 machine (as root): `make run` or `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
APT_PACKAGES := runc crun conmon skopeo umoci containernetworking-plugins docker-registry \
	busybox-static runsc containerd iproute2 iptables openssl apache2-utils curl python3 python3-venv
STAMP := $(VENV)/.installed

CONFORMANCE_DIR ?= ../shared/conformance

.PHONY: run test conformance benchmark-conformance benchmark-load demo lint schemas system-packages venv clean

run: system-packages $(STAMP)
	$(VENV)/bin/crio-py serve

test: system-packages $(STAMP) lint
	$(VENV)/bin/pytest -q

# The Kubernetes CRI validation suite (critest) against `crio-py serve` (root; about 2 minutes).
conformance: system-packages $(STAMP)
	@if [ ! -x $(CONFORMANCE_DIR)/run.sh ]; then \
		echo "make conformance: no critest suite at $(CONFORMANCE_DIR) (set CONFORMANCE_DIR to a cri-tools conformance directory with run.sh)" >&2; \
		exit 2; \
	fi
	$(CONFORMANCE_DIR)/run.sh

# critest's benchmarks against crio-py, then containerd, in one run (bench/critest.py).
benchmark-conformance: system-packages $(STAMP)
	$(PY) -m bench.critest --conformance-dir $(CONFORMANCE_DIR)

# Status and list callers while pods start, concurrent RunPodSandbox, ListContainers and image
# RPCs: crio-py against containerd 1.6 in one run (bench/load.py; root, a few minutes).
benchmark-load: system-packages $(STAMP)
	$(PY) -m bench.load

# A busybox pod end to end from a local registry, each step printed (root).
demo: system-packages $(STAMP)
	$(PY) -m tests.demo

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy --strict src
	$(VENV)/bin/lint-imports

# Regenerates the committed JSON Schemas from the models.
schemas: $(STAMP)
	for v in 1 2 3 4; do $(VENV)/bin/crio-py config schema --format containerd --version $$v > schemas/containerd-v$$v.json; done
	$(VENV)/bin/crio-py config schema --format crio > schemas/crio.json
	$(VENV)/bin/crio-py config schema --format hosts > schemas/hosts.json

# Installs only the Debian packages that are missing, so repeated runs stay fast.
system-packages:
	@missing=$$(for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "Installing: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

$(VENV)/bin/python:
	python3 -m venv $(VENV)

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
