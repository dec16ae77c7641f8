#!/bin/bash
# The end-to-end guestbook test (tests/e2e-guestbook.sh, both modes)
# against a guestbook whose sessions and entries live in a private
# PostgreSQL server.  Run by "make check" when built with libpq.
E2E_STORE=postgresql exec bash "$(dirname "$0")/e2e-guestbook.sh" "$@"
