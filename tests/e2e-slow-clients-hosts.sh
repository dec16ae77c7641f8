#!/bin/bash
# tests/e2e-slow-clients.sh through two hosts behind HAProxy, which
# buffers whole requests: the normal client's worst latency under 1 s.
E2E_HOSTS=2 exec bash "$(dirname "$0")/e2e-slow-clients.sh" "$@"
