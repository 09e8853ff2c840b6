# Latchkey — the two commands a newcomer needs are `make run` and `make test`.
#
# Builds go where cargo puts them ($CARGO_TARGET_DIR, else ./target), so `cargo run --bin
# latchkey -- …` in another terminal reuses the build of `make run`.

SHELL := /bin/bash
CARGO ?= cargo
LATCHKEY := $(CARGO) run --quiet --bin latchkey --

.PHONY: run build test test-deps unit integration bench lint fmt clean-data help

help:
	@echo "make run    - start Latchkey on http://localhost:9991 (SQLite in ./data)"
	@echo "make test   - install what the tests need, then run every test"
	@echo "make bench  - run the benchmarks and rewrite docs/benchmarks.md"
	@echo "make lint   - rustfmt --check and clippy"

build:
	$(CARGO) build --bin latchkey

## Start the service on the embedded SQLite default. First start creates ./data/secret.key
## (mode 0600), the database and a root realm; create users with `latchkey user create`.
run: build
	$(LATCHKEY) init
	@echo
	@echo "Create your first user in another terminal:"
	@echo "  $(LATCHKEY) user create --email you@example.org --full-name 'Your Name'"
	@echo
	$(LATCHKEY) serve

## Everything the tests need that a fresh machine may lack (idempotent).
test-deps:
	bash tests/setup/install-deps.sh

test: test-deps lint
	$(CARGO) build --workspace --all-targets
	bash tests/setup/run-tests.sh

unit:
	$(CARGO) test --workspace --lib

bench: build
	$(CARGO) run --release --quiet -p latchkey-tests --bin latchkey-bench -- --out docs/benchmarks.md

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean-data:
	rm -rf data
