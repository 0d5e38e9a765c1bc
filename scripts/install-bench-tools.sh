#!/usr/bin/env bash
# wrk (Debian's package) drives the HTTP benchmarks: a C load generator, so the
# client is never what limits the servers we measure. Idempotent; needs root or sudo.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
command -v wrk >/dev/null 2>&1 && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends wrk
