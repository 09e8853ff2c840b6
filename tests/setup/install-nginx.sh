#!/bin/sh
# Installs nginx (Debian package `nginx`) for the forward-auth tests (tests/src/nginx.rs), which run
# a private nginx from a temporary directory and never use the system one.
# Idempotent: does nothing when /usr/sbin/nginx is already there.
# Never leaves a system nginx running: a temporary policy-rc.d forbids service starts during the
# install, and should the package have started one anyway it is stopped afterwards.
set -u

NGINX=/usr/sbin/nginx

if [ -x "$NGINX" ]; then
    echo "install-nginx.sh: nginx already installed ($NGINX)"
    exit 0
fi
echo "install-nginx.sh: installing nginx"

if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "install-nginx.sh: not root and sudo is missing; install nginx by hand (apt-get install -y nginx)" >&2
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
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx
}

if ! apt_install; then
    echo "install-nginx.sh: apt-get install failed; running apt-get update and retrying" >&2
    if ! $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update; then
        echo "install-nginx.sh: apt-get update failed; cannot install nginx" >&2
        exit 1
    fi
    if ! apt_install; then
        echo "install-nginx.sh: apt-get install -y nginx failed" >&2
        exit 1
    fi
fi

# Should the package have started the system nginx anyway (a pre-existing policy-rc.d that allows
# starts, or a systemd that ignores it), stop it: the tests run their own.
if [ -s /run/nginx.pid ]; then
    echo "install-nginx.sh: the package started a system nginx; stopping it" >&2
    $SUDO "$NGINX" -s stop 2>/dev/null || {
        pid=$(cat /run/nginx.pid 2>/dev/null)
        if [ -n "$pid" ]; then $SUDO kill "$pid" 2>/dev/null || true; fi
    }
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        $SUDO systemctl stop nginx 2>/dev/null || true
    fi
fi

if [ ! -x "$NGINX" ]; then
    echo "install-nginx.sh: apt-get succeeded but $NGINX is still missing" >&2
    exit 1
fi
echo "install-nginx.sh: nginx installed ($("$NGINX" -v 2>&1))"
