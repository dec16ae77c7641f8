#!/bin/bash
# The end-to-end guestbook test (tests/e2e-guestbook.sh) through two
# hosts behind a round-robin balancer, with the sessions in a private
# Redis and the entries in a private PostgreSQL (scripts/hosts.sh
# --store redis).  FastCGI mode only (E2E_MODES=fcgi): the CGI mode
# would add as much time again to "make check" while testing no more of
# the Redis store than the FastCGI one, and the CGI mode through two
# hosts runs with PostgreSQL (tests/e2e-guestbook-hosts.sh).  Run by
# "make check" when built with libpq and hiredis.
E2E_STORE=redis E2E_HOSTS=2 E2E_MODES=fcgi \
    exec bash "$(dirname "$0")/e2e-guestbook.sh" "$@"
