# The common loops. A newcomer needs two: `bash scripts/run.sh` and `bash scripts/test.sh`
# (what `make run` and `make test` call), which work on a fresh Debian machine without make.
.PHONY: setup run stop test unit e2e lint bench

setup:
	bash scripts/setup.sh --local-model

run:
	bash scripts/run.sh

stop:
	uv run --frozen codelab-mesh down

test:
	bash scripts/test.sh

unit:
	uv run --frozen pytest -m "not e2e"

e2e:
	uv run --frozen pytest tests/e2e

lint:
	uv run --frozen ruff check .
	uv run --frozen ruff format --check .
	uv run --frozen mypy libs/*/src services/*/src

bench:
	bash scripts/setup.sh --tests
	uv run --frozen python bench/relay_latency.py
