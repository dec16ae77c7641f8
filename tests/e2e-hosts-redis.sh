#!/bin/bash
# The two-host test (tests/e2e-hosts.sh: cross-host sign-in and logout,
# the concurrent counter, a tampered cookie, key rotation under load, the
# store stopped under load) with the sessions in a private Redis
# (appendonly yes) and the entries in PostgreSQL (scripts/hosts.sh
# --store redis); the store stopped is then Redis.  Run by "make check"
# when built with libpq and hiredis; skipped (77) otherwise.
E2E_STORE=redis exec bash "$(dirname "$0")/e2e-hosts.sh" "$@"
