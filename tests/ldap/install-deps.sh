#!/bin/sh
# Installs the binaries the private-OpenLDAP test fixture (tests/src/slapd.rs) shells out to:
#   slapd, slapadd                                          (package slapd)
#   ldapsearch, ldapadd, ldapmodify, ldapdelete, ldapwhoami (package ldap-utils)
#   openssl                                                 (package openssl)
# Idempotent: installs only the packages whose binaries are missing, and nothing when all are present.
# Never starts a system slapd (tests/setup/apt-install.sh forbids service starts during the install).
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
# shellcheck disable=SC2086 # word splitting of the package list is intended
sh "$(dirname "$0")/../setup/apt-install.sh" $PKGS || exit 1

PKGS=$(missing_packages)
if [ -n "$PKGS" ]; then
    echo "install-deps.sh: apt-get succeeded but binaries are still missing (packages: $PKGS)" >&2
    exit 1
fi
echo "install-deps.sh: slapd, ldap-utils and openssl installed"
