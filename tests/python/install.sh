#!/bin/sh
# Installs the real Python Zulip client (requirements.txt: zulip==0.9.1) into a virtualenv OUTSIDE
# the repository, for the client smoke tests (tests/src/python.rs runs scripts with its interpreter).
#
#   venv: ${LATCHKEY_PY_VENV:-$HOME/.cache/latchkey/py-venv}   (tests/src/python.rs looks there too)
#
# Idempotent: creates the venv only if it has no python, installs Debian's python3-venv only if
# `python3 -m venv` fails, and runs pip only if `import zulip` fails in the venv.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
REQS="$HERE/requirements.txt"
VENV="${LATCHKEY_PY_VENV:-${HOME:-/root}/.cache/latchkey/py-venv}"
PY="$VENV/bin/python"

say() { echo "python/install.sh: $*"; }
die() { echo "python/install.sh: $*" >&2; exit 1; }

if ! command -v python3 >/dev/null 2>&1; then
    die "python3 not found; install it (apt-get install -y python3 python3-venv)"
fi

if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; else SUDO=; fi

install_python3_venv() {
    # Debian splits venv/ensurepip out of python3 into python3-venv (python3.X-venv).
    say "python3 -m venv failed; installing Debian's python3-venv"
    if [ "$(id -u)" -ne 0 ] && [ -z "$SUDO" ]; then
        die "not root and sudo is missing; install python3-venv by hand (apt-get install -y python3-venv)"
    fi
    if ! $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-venv; then
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update || die "apt-get update failed"
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-venv \
            || die "apt-get install -y python3-venv failed"
    fi
}

if [ ! -x "$PY" ]; then
    say "creating the virtualenv at $VENV"
    mkdir -p "$(dirname "$VENV")" || die "cannot create $(dirname "$VENV")"
    if ! python3 -m venv "$VENV"; then
        # A failed attempt leaves a venv without pip behind; start over once python3-venv is in.
        rm -rf "$VENV"
        install_python3_venv
        python3 -m venv "$VENV" || die "python3 -m venv $VENV failed even with python3-venv installed"
    fi
fi

if "$PY" -c 'import zulip' >/dev/null 2>&1; then
    say "zulip $("$PY" -c 'import zulip; print(zulip.__version__)') already installed in $VENV"
    exit 0
fi

say "installing $(grep -E '^zulip==' "$REQS") and its dependencies into $VENV"
"$PY" -m pip install --disable-pip-version-check --quiet -r "$REQS" \
    || die "pip install -r $REQS failed (is PyPI reachable?)"
"$PY" -c 'import zulip' || die "pip succeeded but 'import zulip' still fails in $VENV"
say "zulip $("$PY" -c 'import zulip; print(zulip.__version__)') installed in $VENV"
