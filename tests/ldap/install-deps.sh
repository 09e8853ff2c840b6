#!/bin/sh
# Installs the binaries the private-OpenLDAP test fixture (tests/src/slapd.rs) shells out to:
#   slapd, slapadd                                          (package slapd)
#   ldapsearch, ldapadd, ldapmodify, ldapdelete, ldapwhoami (package ldap-utils)
#   openssl                                                 (package openssl)
# Idempotent: installs only the packages whose binaries are missing, and nothing when all are present.
# Never starts a system slapd (a temporary policy-rc.d forbids service starts during the install).
set -u

missing_packages() {
    pkgs=
    for bin in slapd slapadd; do
        if ! command -v "$bin" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$bin" ]; then pkgs="slapd"; fi
    done
    for bin in ldapsearch ldapadd ldapmodify ldapdelete ldapwhoami; do
        if ! command -v "$bin" >/dev/null 2>&1; then pkgs="$pkgs ldap-utils"; break; fi
    done
    if ! command -v openssl >/dev/null 2>&1; then pkgs="$pkgs openssl"; fi
    echo $pkgs
}

PKGS=$(missing_packages)
if [ -z "$PKGS" ]; then
    echo "install-deps.sh: slapd, ldap-utils and openssl already installed"
    exit 0
fi
echo "install-deps.sh: installing $PKGS"

if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "install-deps.sh: not root and sudo is missing; install '$PKGS' by hand (apt-get install -y $PKGS)" >&2
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
    # shellcheck disable=SC2086 # word splitting of the package list is intended
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $PKGS
}

if ! apt_install; then
    echo "install-deps.sh: apt-get install failed; running apt-get update and retrying" >&2
    if ! $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update; then
        echo "install-deps.sh: apt-get update failed; cannot install $PKGS" >&2
        exit 1
    fi
    if ! apt_install; then
        echo "install-deps.sh: apt-get install -y $PKGS failed" >&2
        exit 1
    fi
fi

PKGS=$(missing_packages)
if [ -n "$PKGS" ]; then
    echo "install-deps.sh: apt-get succeeded but binaries are still missing (packages: $PKGS)" >&2
    exit 1
fi
echo "install-deps.sh: slapd, ldap-utils and openssl installed"
