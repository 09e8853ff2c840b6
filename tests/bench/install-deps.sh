#!/usr/bin/env bash
# Installs what `make bench` needs beyond the build, and nothing that is already there. Safe to
# run again and again.
#   wrk                      the load generator (Debian package), run in its own process
#   slapd, ldap-utils        the private slapd of the LDAP scenarios (tests/ldap/install-deps.sh)
#   a venv with django-auth-ldap (requirements.txt) for the django-auth-ldap reference:
#     ${LATCHKEY_BENCH_VENV:-$HOME/.cache/latchkey/bench-venv}, outside the clone;
#     python-ldap builds against libldap2-dev and libsasl2-dev (and Python's headers).
# PostgreSQL (127.0.0.1:5432) must be running, as for `make test`.
set -euo pipefail
cd "$(dirname "$0")/../.."

ME="bench/install-deps.sh"
pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

need_apt=()
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)
for p in libldap2-dev libsasl2-dev gcc; do pkg_installed "$p" || need_apt+=("$p"); done
if ! command -v python3 >/dev/null 2>&1; then
  need_apt+=(python3 python3-venv python3-dev)
else
  # python-ldap is a C extension: it needs the headers of the python3 that builds the venv.
  inc=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
  [ -f "$inc/Python.h" ] || need_apt+=(python3-dev)
  python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  sh tests/setup/apt-install.sh "${need_apt[@]}"
fi

bash tests/ldap/install-deps.sh

VENV="${LATCHKEY_BENCH_VENV:-${HOME:-/root}/.cache/latchkey/bench-venv}"
PY="$VENV/bin/python"
REQS=tests/bench/requirements.txt
if [ ! -x "$PY" ]; then
  echo "$ME: creating the virtualenv at $VENV"
  mkdir -p "$(dirname "$VENV")"
  python3 -m venv "$VENV"
fi
# Reinstall when a pinned version differs from what the venv has (or a package is missing).
if "$PY" - "$REQS" <<'PY' >/dev/null 2>&1
import sys
from importlib.metadata import version
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if line:
        name, pinned = line.split("==")
        assert version(name) == pinned, name
import django_auth_ldap, ldap
PY
then
  echo "$ME: django-auth-ldap reference already installed in $VENV"
else
  echo "$ME: installing $REQS into $VENV"
  "$PY" -m pip install --disable-pip-version-check --quiet -r "$REQS"
  "$PY" -c 'import django_auth_ldap, ldap'
fi
echo "$ME: bench dependencies ready"
