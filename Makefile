# Quick start: `make demo` (set up + main job on embedded engines), `make test` (set up + tests).
# Both install the exact versions of requirements/lock.txt. `make test-latest` runs the tests
# on the newest versions pyproject.toml allows (a separate .venv-latest); `make lock` records
# the newest versions in the lock.
SHELL := /bin/bash
.PHONY: setup demo test docs check-package lock test-latest bench-ingest

setup:
	bash scripts/setup.sh

demo: setup
	.venv/bin/python -m vectorbridge.demo

test: setup
	HF_HUB_OFFLINE=1 .venv/bin/python -m pytest -q -rs

docs: setup
	.venv/bin/mkdocs build --strict --quiet

check-package: setup
	bash scripts/check_package.sh

lock:
	bash scripts/lock.sh

test-latest:
	VB_LATEST=1 VB_VENV=.venv-latest bash scripts/setup.sh
	bash scripts/freeze.sh .venv-latest | diff <(grep -v '^#' requirements/lock.txt) - \
		&& echo "newest allowed versions = requirements/lock.txt" || true
	HF_HUB_OFFLINE=1 .venv-latest/bin/python -m pytest -q -rs

bench-ingest: setup
	.venv/bin/vectorbridge bench ingest
