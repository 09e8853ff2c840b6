#!/usr/bin/env bash
# Runs the whole suite: unit tests of every crate and the integration tests (real servers over
# HTTP on SQLite and PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/../.."
if command -v cargo-nextest >/dev/null 2>&1; then
  # Doc tests first, so that the last lines printed are nextest's summary of the real tests.
  cargo test --workspace --doc --quiet
  cargo nextest run --workspace --no-fail-fast --failure-output final
else
  cargo test --workspace --no-fail-fast
fi
