# Latchkey — the two commands a newcomer needs are `make run` and `make test`.
#
# Builds go where cargo puts them ($CARGO_TARGET_DIR, else ./target), so `cargo run --bin
# latchkey -- …` in another terminal reuses the build of `make run`.

SHELL := /bin/bash
CARGO ?= cargo
LATCHKEY := $(CARGO) run --quiet --bin latchkey --

.PHONY: run build test test-deps unit integration bench bench-deps lint fmt clean-data help screenshots soak

help:
	@echo "make run    - start Latchkey on http://localhost:9991 (SQLite in ./data)"
	@echo "make test   - install what the tests need, then run every test"
	@echo "make bench  - run the benchmarks and rewrite docs/benchmarks.md"
	@echo "make soak   - 60 s of mixed traffic on two instances"
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

## 60 s of mixed traffic on two instances (PostgreSQL, Redis, slapd): no 5xx, no lost write,
## RSS steady. `make test` runs the same test for 8 s.
soak: test-deps
	$(CARGO) build --bin latchkey
	LATCHKEY_SOAK_SECS=60 $(CARGO) nextest run -p latchkey-tests -E 'test(/^soak::/)' --no-capture

## Benchmarks against their references, in one run (< 15 min on 2 cores, plus the release
## build): the release `latchkey` in its own process, load from wrk, a constant actix handler,
## raw bcrypt and ldap3, django-auth-ldap. Installs what is missing (tests/bench/install-deps.sh).
bench-deps:
	bash tests/bench/install-deps.sh

bench: bench-deps
	$(CARGO) build --release --quiet -p latchkey --bin latchkey
	$(CARGO) build --release --quiet -p latchkey-tests --bin latchkey-bench --bin bench-constant
	$(CARGO) run --release --quiet -p latchkey-tests --bin latchkey-bench -- --out docs/benchmarks.md

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean-data:
	rm -rf data

## Copy the screenshots docs/user-guide.md and docs/admin-guide.md use from the last browser-test run.
GUIDE_SHOTS := login-desktop login-phone login-failed-desktop settings-account-desktop \
	settings-reauth-desktop settings-api-key-desktop settings-regenerate-key-desktop \
	settings-account-directory-desktop settings-your-bots-desktop settings-your-bots-keys-phone \
	settings-bot-regenerate-desktop reset-form-desktop reset-done-desktop \
	reset-set-password-phone reset-complete-desktop portal-login-desktop \
	admin-index-desktop admin-users-desktop admin-user-desktop admin-user-phone \
	admin-auth-methods-desktop admin-audit-desktop admin-limits-desktop admin-denied-desktop \
	admin-directory-tls-failed-desktop admin-directory-connection-desktop \
	admin-directory-person-desktop admin-directory-sync-preview-desktop \
	admin-directory-sync-preview-phone
screenshots:
	@dir="$${CARGO_TARGET_DIR:-target}/screenshots"; \
	for s in $(GUIDE_SHOTS); do cp "$$dir/$$s.png" docs/images/ || exit 1; done; \
	echo "copied $(words $(GUIDE_SHOTS)) screenshots from $$dir to docs/images/"
