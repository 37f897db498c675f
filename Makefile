# Quick start: `make demo` (set up + main job on embedded engines), `make test` (set up + tests).
.PHONY: setup demo test bench-ingest bench-encode

setup:
	bash scripts/setup.sh

demo: setup
	.venv/bin/python -m vectorbridge.demo

test: setup
	HF_HUB_OFFLINE=1 .venv/bin/python -m pytest -q -rs

bench-ingest: setup
	.venv/bin/python benchmarks/ingest.py

bench-encode: setup
	.venv/bin/python benchmarks/encode.py
