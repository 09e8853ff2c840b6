#!/bin/sh
# Installs nginx (Debian package `nginx`) for the forward-auth tests (tests/src/nginx.rs), which run
# a private nginx from a temporary directory and never use the system one.
# Idempotent: does nothing when /usr/sbin/nginx is already there.
# Never leaves a system nginx running: tests/setup/apt-install.sh forbids service starts during
# the install, and should the package have started one anyway it is stopped afterwards.
set -u

NGINX=/usr/sbin/nginx

if [ -x "$NGINX" ]; then
    echo "install-nginx.sh: nginx already installed ($NGINX)"
    exit 0
fi
sh "$(dirname "$0")/apt-install.sh" nginx || exit 1

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
