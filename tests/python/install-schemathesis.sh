#!/bin/sh
# Installs schemathesis (schemathesis-requirements.txt, pinned) into its own virtualenv OUTSIDE the
# repository, for the OpenAPI test (tests/it/openapi.rs runs its CLI against a live server). Its own
# venv, not the zulip bindings' one: the two pinned stacks must not constrain each other.
#
#   venv: ${LATCHKEY_SCHEMATHESIS_VENV:-$HOME/.cache/latchkey/schemathesis-venv}
#
# Idempotent: creates the venv only if it has no python, and runs pip only if the installed
# schemathesis is not the pinned version. python3-venv is installed by install.sh if missing.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
REQS="$HERE/schemathesis-requirements.txt"
VENV="${LATCHKEY_SCHEMATHESIS_VENV:-${HOME:-/root}/.cache/latchkey/schemathesis-venv}"
PY="$VENV/bin/python"
WANT=$(sed -n 's/^schemathesis==//p' "$REQS")

say() { echo "python/install-schemathesis.sh: $*"; }
die() { echo "python/install-schemathesis.sh: $*" >&2; exit 1; }

command -v python3 >/dev/null 2>&1 || die "python3 not found; install it (apt-get install -y python3 python3-venv)"

if [ ! -x "$PY" ]; then
    say "creating the virtualenv at $VENV"
    mkdir -p "$(dirname "$VENV")" || die "cannot create $(dirname "$VENV")"
    if ! python3 -m venv "$VENV"; then
        rm -rf "$VENV"
        die "python3 -m venv failed (run tests/python/install.sh first: it installs python3-venv)"
    fi
fi

have=$("$VENV/bin/schemathesis" --version 2>/dev/null | sed -n 's/.*version //p')
if [ "$have" = "$WANT" ]; then
    say "schemathesis $have already installed in $VENV"
    exit 0
fi

say "installing schemathesis==$WANT and its dependencies into $VENV"
"$PY" -m pip install --disable-pip-version-check --quiet -r "$REQS" \
    || die "pip install -r $REQS failed (is PyPI reachable?)"
have=$("$VENV/bin/schemathesis" --version 2>/dev/null | sed -n 's/.*version //p')
[ "$have" = "$WANT" ] || die "pip succeeded but schemathesis --version says '$have', not $WANT"
say "schemathesis $have installed in $VENV"
