#!/bin/sh
# bench/bench_rbl.sh - rbl verdicts/s with 10 DNS lists, cached and uncached.
#
# Runs bench/bench_rbl.py against a real gateway (sluice start, connect phase
# with sluice-stage-rbl) and tests/dns/dnsserver.py on loopback. Everything it
# starts is stopped by PID. Usage:
#   bench/bench_rbl.sh [BUILD_DIR] [-- bench_rbl.py options: --seconds N --window N --workers N --capacity N]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
export SLUICE_BIN="${SLUICE_BIN:-$build/bin}"
export SLUICE_SOURCE="${SLUICE_SOURCE:-$here/..}"
if [ ! -x "$SLUICE_BIN/sluice-stage-rbl" ]; then
    echo "bench_rbl: $SLUICE_BIN/sluice-stage-rbl not built" >&2
    exit 1
fi
exec /usr/bin/python3 "$here/bench_rbl.py" "$@"
