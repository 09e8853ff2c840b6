"""make bench's django-auth-ldap reference: Django's ``authenticate()`` with django-auth-ldap's
``LDAPBackend`` (search as the service account, bind as the person, user row saved), as Zulip's
LDAP login uses it, against the bench's private slapd.

Runs ``--processes`` processes (fork) that start together and log in ``--username`` in a loop
for ``--seconds`` (at most 100,000 logins each), then prints one line
``DJANGO_JSON {...}`` with the count, errors, the window and latency percentiles (ms).
The service account's password and the person's are read from standard input, one a line.
Django is configured here, in-script: an in-memory SQLite database per process.
"""

import argparse
import json
import math
import multiprocessing
import sys
import time
from importlib.metadata import version


def configure(args, service_password):
    import django
    import ldap
    from django.conf import settings
    from django_auth_ldap.config import LDAPSearch

    settings.configure(
        DATABASES={
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
        },
        INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes"],
        AUTHENTICATION_BACKENDS=["django_auth_ldap.backend.LDAPBackend"],
        AUTH_LDAP_SERVER_URI=args.uri,
        AUTH_LDAP_BIND_DN=args.bind_dn,
        AUTH_LDAP_BIND_PASSWORD=service_password,
        AUTH_LDAP_USER_SEARCH=LDAPSearch(
            args.search_base, ldap.SCOPE_SUBTREE, "(uid=%(user)s)"
        ),
        AUTH_LDAP_USER_ATTR_MAP={
            "first_name": "givenName",
            "last_name": "sn",
            "email": "mail",
        },
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        USE_TZ=True,
        LOGGING_CONFIG=None,
    )
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def worker(args, service_password, password, barrier, results):
    configure(args, service_password)
    from django.contrib.auth import authenticate

    # One login first: it creates the user row, as a first login does.
    if authenticate(None, username=args.username, password=password) is None:
        results.put({"error": "the warm-up login failed"})
        barrier.abort()
        return
    barrier.wait(timeout=60)
    start = time.perf_counter()
    deadline = start + args.seconds
    latencies = []
    errors = 0
    for _ in range(100_000):
        if time.perf_counter() >= deadline:
            break
        t = time.perf_counter()
        user = authenticate(None, username=args.username, password=password)
        latencies.append(time.perf_counter() - t)
        if user is None:
            errors += 1
    results.put(
        {"latencies": latencies, "errors": errors, "seconds": time.perf_counter() - start}
    )


def percentile(sorted_values, p):
    if not sorted_values:
        return 0.0
    rank = math.ceil(p / 100.0 * len(sorted_values))
    return sorted_values[min(max(rank, 1), len(sorted_values)) - 1] * 1000.0


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--uri", required=True)
    parser.add_argument("--bind-dn", required=True)
    parser.add_argument("--search-base", required=True)
    parser.add_argument("--username", required=True)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()
    args.seconds = min(max(args.seconds, 1.0), 120.0)
    service_password = sys.stdin.readline().rstrip("\n")
    password = sys.stdin.readline().rstrip("\n")

    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(args.processes)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=worker, args=(args, service_password, password, barrier, results))
        for _ in range(args.processes)
    ]
    for p in procs:
        p.start()
    collected = []
    for _ in procs:
        collected.append(results.get(timeout=args.seconds + 90))
    for p in procs:
        p.join(timeout=10)
    failed = [r["error"] for r in collected if "error" in r]
    if failed:
        print("django_ldap.py: " + "; ".join(failed), file=sys.stderr)
        sys.exit(1)
    latencies = sorted(x for r in collected for x in r["latencies"])
    window = max(r["seconds"] for r in collected)
    summary = {
        "requests": len(latencies),
        "errors": sum(r["errors"] for r in collected),
        "seconds": window,
        "p50_ms": percentile(latencies, 50),
        "p90_ms": percentile(latencies, 90),
        "p99_ms": percentile(latencies, 99),
        "versions": "Django {}, django-auth-ldap {}, python-ldap {}, Python {}".format(
            version("django"),
            version("django-auth-ldap"),
            version("python-ldap"),
            sys.version.split()[0],
        ),
    }
    print("DJANGO_JSON " + json.dumps(summary))


if __name__ == "__main__":
    main()
