#!/bin/sh
# apt-install.sh PACKAGE...: installs Debian packages for the test set-up scripts, the one place
# that knows how: through sudo when not root, never starting a service (a temporary policy-rc.d
# forbids starts during the install), and with one `apt-get update` and retry should the package
# lists be stale. Callers decide what is missing; this script installs what it is given.
set -u

if [ "$#" -eq 0 ]; then
    exit 0
fi
ME="apt-install.sh"

if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "$ME: not root and sudo is missing; install by hand: apt-get install -y $*" >&2
        exit 1
    fi
    SUDO=sudo
else
    SUDO=
fi

# Forbid service starts (exit 101) for the duration of the install, unless a policy already exists.
POLICY=/usr/sbin/policy-rc.d
CREATED_POLICY=
if [ ! -e "$POLICY" ]; then
    if printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null && $SUDO chmod 755 "$POLICY"; then
        CREATED_POLICY=1
    fi
fi
cleanup() {
    if [ -n "$CREATED_POLICY" ]; then $SUDO rm -f "$POLICY"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

apt_install() {
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
}

echo "$ME: installing $*"
if ! apt_install "$@"; then
    echo "$ME: apt-get install failed; running apt-get update and retrying" >&2
    if ! $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update; then
        echo "$ME: apt-get update failed; cannot install $*" >&2
        exit 1
    fi
    if ! apt_install "$@"; then
        echo "$ME: apt-get install -y $* failed" >&2
        exit 1
    fi
fi
