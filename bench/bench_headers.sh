#!/bin/sh
# bench/bench_headers.sh - headers-stage messages/s on DKIM-signed mail, beside
# python3-dkim verifying the same messages in the same run.
#
# Runs bench/bench_headers.py: signs N messages with python3-dkim (rsa-sha256
# and ed25519-sha256), serves keys, SPF and DMARC records from
# tests/dns/dnsserver.py on loopback, then times (1) the stage's checks
# in-process (sluice-headers-check --repeat), (2) sluice-stage-headers behind
# the broker (sluice start, client protocol, WINDOW in flight) and
# (3) python3-dkim's dkim.verify on the same bytes. Everything it starts is
# stopped by PID. Usage:
#   bench/bench_headers.sh [BUILD_DIR] [-- bench_headers.py options: --messages N --seconds N
#                                        --window N --capacity N]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
export SLUICE_BIN="${SLUICE_BIN:-$build/bin}"
export SLUICE_SOURCE="${SLUICE_SOURCE:-$here/..}"
for prog in sluice-stage-headers sluice-headers-check; do
    if [ ! -x "$SLUICE_BIN/$prog" ]; then
        echo "bench_headers: $SLUICE_BIN/$prog not built" >&2
        exit 1
    fi
done
exec /usr/bin/python3 "$here/bench_headers.py" "$@"
