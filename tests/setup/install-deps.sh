#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine, and nothing that is already
# there. Safe to run again and again.
set -euo pipefail
cd "$(dirname "$0")/../.."

need_apt=()
have() { command -v "$1" >/dev/null 2>&1; }
pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# Build: libpq (diesel's PostgreSQL driver; SQLite is bundled), OpenSSL (LDAP TLS), pkg-config, gcc.
for p in libpq-dev libssl-dev pkg-config gcc; do pkg_installed "$p" || need_apt+=("$p"); done
# Multi-instance tests start their own private redis-server.
have redis-server || need_apt+=(redis-server)
# Database-outage tests start (and stop) their own private PostgreSQL: initdb and postgres from
# /usr/lib/postgresql/<version>/bin (the `postgresql` package; no cluster is started here).
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || have initdb || need_apt+=(postgresql)
# Password-reset tests run a private SMTP server on loopback: Debian's aiosmtpd, run by
# /usr/bin/python3 (whatever python3 comes first on PATH).
/usr/bin/python3 -c "import aiosmtpd" >/dev/null 2>&1 || need_apt+=(python3-aiosmtpd)

# The systemd unit in deploy/systemd is checked with systemd-analyze verify.
have systemd-analyze || need_apt+=(systemd)

# Browser tests of the pages: Debian's Chromium and its WebDriver (/usr/bin/chromium, /usr/bin/chromedriver).
for p in chromium chromium-driver; do pkg_installed "$p" || need_apt+=("$p"); done

if [ ${#need_apt[@]} -gt 0 ]; then
  sh tests/setup/apt-install.sh "${need_apt[@]}"
fi

# LDAP tests: a private slapd, the ldap utilities and openssl for its certificates.
bash tests/ldap/install-deps.sh
# Forward-auth tests: a private nginx (the package, never a running system nginx).
bash tests/setup/install-nginx.sh
# Real-client tests: the zulip Python bindings in a venv outside the clone.
sh tests/python/install.sh
# The OpenAPI test: schemathesis in its own venv outside the clone.
sh tests/python/install-schemathesis.sh

if ! have cargo-nextest; then
  echo "cargo-nextest not found: the tests will run with cargo test"
fi

# PostgreSQL must answer for the PostgreSQL half of the suite; in CI its absence is an error.
pg_url="${LATCHKEY_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
if have pg_isready; then
  if ! pg_isready -q -d "$pg_url"; then
    if [ -n "${CI:-}" ]; then
      echo "PostgreSQL at $pg_url is not answering and CI is set" >&2
      exit 1
    fi
    echo "warning: PostgreSQL at $pg_url is not answering; PostgreSQL tests will be skipped" >&2
  fi
fi
echo "test dependencies ready"
