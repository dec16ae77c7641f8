#!/bin/bash
# The end-to-end guestbook test (tests/e2e-guestbook.sh, both modes),
# unchanged, through two hosts behind a round-robin balancer sharing one
# private PostgreSQL (scripts/hosts.sh).  Run by "make check" when built
# with libpq.
E2E_HOSTS=2 exec bash "$(dirname "$0")/e2e-guestbook.sh" "$@"
