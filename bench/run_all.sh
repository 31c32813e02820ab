#!/usr/bin/env bash
# bench/run_all.sh - every benchmark, one after another, on a Release build (`make bench`).
#
# Builds build-bench (CMake Release) unless SLUICE_BUILD names a built tree, then runs
# each benchmark with the settings bench/RESULTS.md records, writing its whole output to
# bench/out/NAME.txt. One benchmark failing does not stop the others; the summary at the
# end says which failed, and the exit status is non-zero then. About 40 minutes on two
# idle cores. Run it on a quiet machine: neighbours move the figures more than Sluice does.
# Knobs: SLUICE_BUILD [build-bench], ONLY="pipeline smtpd content rbl headers delivery
# quarantine accuracy" (a subset, in this order), BENCH_OUT [bench/out].
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BUILD=${SLUICE_BUILD:-build-bench}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
BENCH_OUT=${BENCH_OUT:-$HERE/out}
ONLY=${ONLY:-"pipeline smtpd content rbl headers delivery quarantine accuracy"}
PY=/usr/bin/python3 # Debian's, with python3-zmq and python3-msgpack

if [ ! -x "$BUILD/bin/sluice" ]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null || exit 1
    cmake --build "$BUILD" -j"$(nproc)" >/dev/null || exit 1
fi
mkdir -p "$BENCH_OUT"
export SLUICE_BUILD=$BUILD SLUICE_BIN=$BUILD/bin

# one NAME COMMAND...: runs COMMAND from the source root, output to $BENCH_OUT/NAME.txt
failed=()
one() {
    local name=$1 t0=$SECONDS
    shift
    case " $ONLY " in *" $name "*) ;; *) return 0 ;; esac
    echo "[$(date -u +%H:%M:%S)] $name: $* (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    if (cd "$ROOT" && "$@") > "$BENCH_OUT/$name.txt" 2>&1; then
        echo "    done in $((SECONDS - t0)) s -> $BENCH_OUT/$name.txt"
    else
        echo "    FAILED after $((SECONDS - t0)) s: see $BENCH_OUT/$name.txt"
        failed+=("$name")
    fi
}

one pipeline bash bench/pipeline.sh
one smtpd bash bench/smtpd.sh
# content: every row on both corpora; yara and av-b again on longer runs; then each
# scanning stage against its engine on one CPU each (PIN=1)
one content bash -c "DRIVER=c REPEAT=2 ROUNDS=3 WINDOW=256 BATCH=64 CORPORA='sapc gen' \
bash bench/content.sh '$BUILD' && DRIVER=c REPEAT=10 ROUNDS=3 WINDOW=256 BATCH=64 CORPORA=gen \
ROWS='yara av-b' bash bench/content.sh '$BUILD' && PIN=1 CAPACITY=1 DRIVER=c REPEAT=3 ROUNDS=3 \
WINDOW=256 BATCH=64 CORPORA='sapc gen' ROWS='clamd av-a yara av-b' bash bench/content.sh '$BUILD'"
one rbl bash bench/bench_rbl.sh "$BUILD"
one headers bash bench/bench_headers.sh "$BUILD"
one delivery bash bench/bench_delivery.sh
one quarantine "$PY" bench/bench_quarantine.py
one accuracy "$PY" bench/bench_accuracy.py --seed 7 --out "$BENCH_OUT/accuracy"

if [ ${#failed[@]} -gt 0 ]; then
    echo "run_all: failed: ${failed[*]}"
    exit 1
fi
echo "run_all: every benchmark ran; figures in $BENCH_OUT/*.txt (record them in bench/RESULTS.md)"
