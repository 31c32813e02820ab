#!/bin/bash
# bench/pipeline.sh - the core pipeline benchmark: Sluice graphs next to raw ZeroMQ.
#
# Builds nothing: expects $SLUICE_BUILD/bin (default "build", relative to the
# source tree, or an absolute path) with sluice, sluice-broker,
# sluice-stage-example, sluice-bench-pipeline and sluice-bench-zmq-rtt.
# For each graph (1 stage; 9 stages in a row; each envelope-only and with
# --needs body on every stage; N-file: --needs body with the body handed over
# as a file, as smtpd does on one host for bodies of 16 KB and more,
# broker/README.md "Body by file") it writes a config in a temporary folder (ipc
# sockets, data_dir and run_dir there), runs `sluice start -c`, waits for the
# workers, measures 5 KB and 1 MB messages at window 1 (latency) and at a
# throughput window, and stops the gateway by PID (SIGTERM, KILL after 15 s).
# Each measurement is ROUNDS rounds of (raw ZeroMQ round trip, pipeline) run
# back to back with the same size, window and count; the table shows the
# median round of each, so a ratio compares runs made seconds apart on the
# same machine even when its load drifts. Everything started is stopped by
# PID, on Ctrl-C too.
# Usage: bench/pipeline.sh        (about 3-4 minutes on 2 cores)
# Knobs (environment, defaults in brackets): SLUICE_BUILD [build], BENCH_ROUNDS [3],
#   BENCH_SECONDS [8, cap per run], BENCH_SMALL_COUNT [10000], BENCH_SMALL_LAT_COUNT [1000],
#   BENCH_LARGE_COUNT [500], BENCH_LARGE_LAT_COUNT [300], BENCH_SMALL_WINDOW [64],
#   BENCH_LARGE_WINDOW [8], BENCH_GRAPHS ["1-env 9-env 1-body 9-body 1-file"],
#   BENCH_BATCH [16; every stage's batch: (jobs per JOBS message), 1 = one JOB at a time],
#   BENCH_PERF [0; 1 = also count syscalls and context switches per message with
#   `perf stat` on the broker and on all stage workers over BENCH_PERF_COUNT [2000]
#   window-1 5 KB messages, and on one raw round trip: counts barely move with load].
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${SLUICE_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
BIN=$BUILD/bin
SECONDS_MAX=${BENCH_SECONDS:-8}
ROUNDS=${BENCH_ROUNDS:-3}
SMALL=5000
LARGE=1M
LARGE_BYTES=1048576
SMALL_COUNT=${BENCH_SMALL_COUNT:-10000}
SMALL_LAT_COUNT=${BENCH_SMALL_LAT_COUNT:-1000}
LARGE_COUNT=${BENCH_LARGE_COUNT:-500}
LARGE_LAT_COUNT=${BENCH_LARGE_LAT_COUNT:-300}
SMALL_WINDOW=${BENCH_SMALL_WINDOW:-64}
LARGE_WINDOW=${BENCH_LARGE_WINDOW:-8}
GRAPHS=${BENCH_GRAPHS:-"1-env 9-env 1-body 9-body 1-file"}
BATCH=${BENCH_BATCH:-16}
PERF=${BENCH_PERF:-0}
PERF_COUNT=${BENCH_PERF_COUNT:-2000}
if [ "$PERF" = 1 ] && ! perf stat -e raw_syscalls:sys_enter true >/dev/null 2>&1; then
    echo "pipeline.sh: BENCH_PERF=1 but perf cannot count raw_syscalls here; skipping counts" >&2
    PERF=0
fi

for b in sluice sluice-broker sluice-stage-example sluice-bench-pipeline sluice-bench-zmq-rtt; do
    if [ ! -x "$BIN/$b" ]; then
        echo "pipeline.sh: $BIN/$b missing; build first (cmake --build $BUILD)" >&2
        exit 2
    fi
done

DIR=$(mktemp -d /tmp/sluice-bench.XXXXXX)
GATEWAY_PID=""
LOAD_PID=""

# s_stop_pid PID - SIGTERM, then SIGKILL after 15 s; reaps it.
s_stop_pid() {
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 150; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "pipeline.sh: pid $pid ignored SIGTERM for 15 s; killing" >&2
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
}

s_cleanup() {
    trap - EXIT INT TERM
    [ -n "$LOAD_PID" ] && s_stop_pid "$LOAD_PID"
    [ -n "$GATEWAY_PID" ] && s_stop_pid "$GATEWAY_PID"
    rm -rf "$DIR"
}
trap s_cleanup EXIT
trap 'echo "pipeline.sh: interrupted" >&2; exit 130' INT TERM

# s_load OUTVAR PROGRAM ARGS... - runs one load generator (by PID, so Ctrl-C
# stops it too); sets OUTVAR to its result line.
s_load() {
    local _var=$1 _res
    shift
    "$@" > "$DIR/load.out" 2> "$DIR/load.err" &
    LOAD_PID=$!
    wait "$LOAD_PID"
    LOAD_PID=""
    _res=$(grep '^msgs=' "$DIR/load.out" | tail -1)
    if [ -z "$_res" ]; then
        echo "pipeline.sh: no result from $*:" >&2
        cat "$DIR/load.err" >&2
        _res="msgs=0 seconds=0 msgs_per_s=0 MB_per_s=0 p50_us=0 p99_us=0 errors=1"
    fi
    echo "  $_res    <- ${*##*/}" | sed "s|$BIN/||g" >&2
    printf -v "$_var" '%s' "$_res"
}

# s_field LINE KEY - the value of KEY=... in a result line.
s_field() {
    local kv
    for kv in $1; do
        [ "${kv%%=*}" = "$2" ] && { echo "${kv#*=}"; return; }
    done
    echo 0
}

# s_config GRAPH - writes $DIR/GRAPH/sluice.yaml; GRAPH is STAGES-env, STAGES-body or STAGES-file.
s_config() {
    local g=$1 n=${1%%-*} kind=${1#*-} d=$DIR/$1 i names="" cmd
    mkdir -p "$d"
    if [ "$kind" = body ] || [ "$kind" = file ]; then
        cmd="[sluice-stage-example, --needs, body]"
    else
        cmd="[sluice-stage-example]"
    fi
    {
        echo "data_dir: $d/data"
        echo "run_dir: $d/run"
        echo "log:"
        echo "  level: warn"
        echo "broker:"
        echo "  frontend: ipc://$d/front.sock"
        echo "  backend: ipc://$d/back.sock"
        [ "$kind" = file ] && echo "  body_file_dirs: [$d]"
        echo "stages:"
        for ((i = 1; i <= n; i++)); do
            echo "  - name: s$i"
            echo "    command: $cmd"
            echo "    batch: $BATCH"
            names="$names${names:+, }s$i"
        done
        echo "graphs:"
        echo "  default:"
        echo "    content: [$names]"
    } > "$d/sluice.yaml"
    echo "$d/sluice.yaml"
}

# s_start CONFIG STAGES - sluice start in the background; waits (30 s at most)
# until STAGES stages report a worker.
s_start() {
    local cfg=$1 want=$2 i have
    "$BIN/sluice" start -c "$cfg" > "${cfg%/*}/sluice.log" 2>&1 &
    GATEWAY_PID=$!
    for ((i = 0; i < 300; i++)); do
        if ! kill -0 "$GATEWAY_PID" 2>/dev/null; then
            echo "pipeline.sh: sluice start exited:" >&2
            tail -20 "${cfg%/*}/sluice.log" >&2
            return 1
        fi
        have=$("$BIN/sluice" status -c "$cfg" --json 2>/dev/null |
               grep -o '"workers":[1-9][0-9]*' | wc -l)
        [ "$have" -ge "$want" ] && return 0
        sleep 0.1
    done
    echo "pipeline.sh: workers not ready in 30 s" >&2
    tail -20 "${cfg%/*}/sluice.log" >&2
    return 1
}

declare -A R # results: R[graph:size:window] = result line (the median round)
declare -A P # perf counts: P[graph] = "sys_broker cs_broker sys_stages cs_stages" per message

# s_perf_read FILE - "syscalls context-switches" per message from a perf stat -x, file.
s_perf_read() {
    awk -F, -v n="$PERF_COUNT" '$3 ~ /sys_enter/ { s = $1 } $3 ~ /context-switches/ { c = $1 }
        END { printf "%.1f %.1f", s / n, c / n }' "$1"
}

# s_perf GRAPH FRONT - perf stat on the broker and on every stage worker (children of
# `sluice start`) while PERF_COUNT window-1 5 KB messages go through.
s_perf() {
    local g=$1 front=$2 bp sp p1 p2
    bp=$(pgrep -P "$GATEWAY_PID" -f sluice-broker | head -1)
    sp=$(pgrep -P "$GATEWAY_PID" -f sluice-stage- | paste -sd,)
    if [ -z "$bp" ] || [ -z "$sp" ]; then
        echo "pipeline.sh: broker or stage pids not found; no counts for $g" >&2
        return 0
    fi
    perf stat -x, -e raw_syscalls:sys_enter,context-switches -p "$bp" -o "$DIR/perf.broker" &
    p1=$!
    perf stat -x, -e raw_syscalls:sys_enter,context-switches -p "$sp" -o "$DIR/perf.stages" &
    p2=$!
    sleep 0.5
    "$BIN/sluice-bench-pipeline" --endpoint "$front" --size $SMALL --count "$PERF_COUNT" \
        --window 1 > /dev/null 2>&1
    kill -INT "$p1" "$p2" 2>/dev/null
    wait "$p1" "$p2" 2>/dev/null
    P[$g]="$(s_perf_read "$DIR/perf.broker") $(s_perf_read "$DIR/perf.stages")"
}

# s_median KEY LINES... - the line whose KEY is the median (the middle of an odd count).
s_median() {
    local key=$1 l
    shift
    for l in "$@"; do
        printf '%s\t%s\n' "$(s_field "$l" "$key")" "$l"
    done | sort -g | sed -n "$(( ($# + 1) / 2 ))p" | cut -f2-
}

# s_pair GRAPH SIZE WINDOW COUNT WARMUP FRONT - ROUNDS rounds of (raw, pipeline) with
# the same size, window and count, back to back; keeps the median of each
# (by p50 at window 1, by msgs/s otherwise) in R[GRAPH:...] and R[raw-GRAPH:...].
s_pair() {
    local g=$1 size=$2 win=$3 count=$4 warm=$5 front=$6 r raw pipe key=msgs_per_s w=W
    local -a raws=() pipes=() byfile=()
    [ "${g#*-}" = file ] && byfile=(--body-file "$DIR/$g/body.eml")
    [ "$win" = 1 ] && { key=p50_us; w=1; }
    for ((r = 1; r <= ROUNDS; r++)); do
        s_load raw "$BIN/sluice-bench-zmq-rtt" --endpoint "ipc://$DIR/rtt.sock" --size "$size" \
            --count "$count" --window "$win" --warmup "$warm" --seconds "$SECONDS_MAX"
        s_load pipe "$BIN/sluice-bench-pipeline" --endpoint "$front" --size "$size" \
            --count "$count" --window "$win" --warmup "$warm" --seconds "$SECONDS_MAX" \
            "${byfile[@]}"
        raws+=("$raw")
        pipes+=("$pipe")
    done
    local tag=5K
    [ "$size" = $LARGE ] && tag=1M
    R[raw-$g:$tag:$w]=$(s_median $key "${raws[@]}")
    R[$g:$tag:$w]=$(s_median $key "${pipes[@]}")
}

s_graph() {
    local g=$1 n=${1%%-*} cfg front line
    cfg=$(s_config "$g")
    front="ipc://${cfg%/*}/front.sock"
    echo "# graph $g: $ROUNDS rounds of raw ZeroMQ then pipeline, per size and window" >&2
    s_start "$cfg" "$n" || return 1
    s_load line "$BIN/sluice-bench-zmq-rtt" --endpoint "ipc://$DIR/rtt.sock" --hop \
        --count "$SMALL_LAT_COUNT" --warmup 200 --seconds "$SECONDS_MAX"
    R[raw-$g:hop:1]=$line
    s_pair "$g" $SMALL 1 "$SMALL_LAT_COUNT" 200 "$front"
    s_pair "$g" $SMALL "$SMALL_WINDOW" "$SMALL_COUNT" 200 "$front"
    s_pair "$g" $LARGE 1 "$LARGE_LAT_COUNT" 10 "$front"
    s_pair "$g" $LARGE "$LARGE_WINDOW" "$LARGE_COUNT" 10 "$front"
    [ "$PERF" = 1 ] && s_perf "$g" "$front"
    s_stop_pid "$GATEWAY_PID"
    GATEWAY_PID=""
}

echo "# sluice pipeline benchmark: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(uname -r)" >&2
echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
T0=$(date +%s)
for g in $GRAPHS; do
    s_graph "$g" || exit 1
done

# --- the table ---
f() { s_field "$1" "$2"; }
calc() { awk "BEGIN { v = $1; printf \"%.${2:-1}f\", v }"; }

echo
echo "Sluice pipeline vs raw ZeroMQ ($(nproc) CPUs; $(date -u +%Y-%m-%dT%H:%MZ); $(( $(date +%s) - T0 )) s; batch $BATCH)"
echo "5K = $SMALL bytes, 1M = $LARGE_BYTES bytes; window 1 = latency, window $SMALL_WINDOW (5K) / $LARGE_WINDOW (1M) = throughput."
echo "raw = sluice-bench-zmq-rtt: one DEALER -> ROUTER round trip over ipc, same size, window and count,"
echo "      run back to back with the pipeline; each row is the median of $ROUNDS rounds."
printf '%-7s %-4s %4s %9s %8s %9s %9s %9s %9s %7s %8s %5s\n' \
    graph size win msgs/s MB/s p50_us p99_us raw_p50 raw_msg/s x_raw hop_us body
for g in $GRAPHS; do
    n=${g%%-*}
    for s in 5K 1M; do
        for w in 1 W; do
            p=${R[$g:$s:$w]}
            r=${R[raw-$g:$s:$w]}
            win=1
            [ "$w" = W ] && { [ "$s" = 5K ] && win=$SMALL_WINDOW || win=$LARGE_WINDOW; }
            if [ "$w" = 1 ]; then
                x=$(calc "$(f "$p" p50_us) / $(f "$r" p50_us)" 2)
                hop=$(calc "($(f "$p" p50_us) - $(f "$r" p50_us)) / $n" 0)
            else
                x=$(calc "$(f "$r" msgs_per_s) / $(f "$p" msgs_per_s)" 2)
                hop=-
            fi
            printf '%-7s %-4s %4s %9s %8s %9s %9s %9s %9s %7s %8s %5s\n' "$g" "$s" "$win" \
                "$(f "$p" msgs_per_s)" "$(f "$p" MB_per_s)" "$(f "$p" p50_us)" "$(f "$p" p99_us)" \
                "$(f "$r" p50_us)" "$(f "$r" msgs_per_s)" "$x" "$hop" "$(f "$p" body_hops)"
        done
    done
done
echo
echo "Definitions:"
echo "  x_raw   window 1: p50 latency of the pipeline / p50 of the raw round trip (same size);"
echo "          throughput window: raw msgs/s / pipeline msgs/s. 1.00 = as fast as raw ZeroMQ."
echo "  hop_us  per-hop overhead = (p50 pipeline(K stages, window 1) - p50 raw round trip(same"
echo "          size, window 1)) / K: all the pipeline adds over one raw round trip of the same"
echo "          message (client->broker->client included), spread over its K stage hops."
echo "  body    mean number of stages per message whose verdict says it received the body."
if [[ " $GRAPHS " == *" 1-env "* && " $GRAPHS " == *" 9-env "* ]]; then
    m5=$(calc "($(f "${R[9-env:5K:1]}" p50_us) - $(f "${R[1-env:5K:1]}" p50_us)) / 8" 0)
    m1=$(calc "($(f "${R[9-env:1M:1]}" p50_us) - $(f "${R[1-env:1M:1]}" p50_us)) / 8" 0)
    hop=$(f "${R[raw-9-env:hop:1]}" p50_us)
    echo "  marginal stage hop = (p50 9 stages - p50 1 stage) / 8, envelope-only: 5K ${m5} us, 1M ${m1} us;"
    echo "          raw hop floor (sluice-bench-zmq-rtt --hop: 512-byte frame, window 1): ${hop} us,"
    echo "          so one added stage costs $(calc "$m5 - $hop" 0) us over the raw round trip it needs."
    echo
    echo "Body travels only to stages that asked (9 envelope-only stages, window 1, p50):"
    d_pipe=$(calc "$(f "${R[9-env:1M:1]}" p50_us) - $(f "${R[9-env:5K:1]}" p50_us)" 0)
    d_raw=$(calc "$(f "${R[raw-9-env:1M:1]}" p50_us) - $(f "${R[raw-9-env:5K:1]}" p50_us)" 0)
    echo "  1M - 5K through 9 envelope-only stages: ${d_pipe} us ($(f "${R[9-env:5K:1]}" p50_us) -> $(f "${R[9-env:1M:1]}" p50_us));"
    echo "  1M - 5K over one raw round trip:        ${d_raw} us: the body crossed one socket (client->broker), not ten."
    if [[ " $GRAPHS " == *" 9-body "* ]]; then
        d_body=$(calc "$(f "${R[9-body:1M:1]}" p50_us) - $(f "${R[9-body:5K:1]}" p50_us)" 0)
        echo "  1M - 5K through 9 --needs body stages:  ${d_body} us (the body crossed 10 sockets: $(calc "$d_body / $d_raw" 1) x raw)."
    fi
fi
if [ "$PERF" = 1 ]; then
    perf stat -x, -e raw_syscalls:sys_enter,context-switches -o "$DIR/perf.raw" \
        "$BIN/sluice-bench-zmq-rtt" --endpoint "ipc://$DIR/rtt.sock" --hop --count "$PERF_COUNT" \
        > /dev/null 2>&1
    echo
    echo "Per message, 5 KB at window 1, $PERF_COUNT messages (perf stat; cs = context switches):"
    printf '%-7s %12s %10s %12s %10s\n' graph broker_sys broker_cs stages_sys stages_cs
    for g in $GRAPHS; do
        [ -n "${P[$g]:-}" ] && printf '%-7s %12s %10s %12s %10s\n' "$g" ${P[$g]}
    done
    echo "  raw round trip (sluice-bench-zmq-rtt --hop, client and server): $(s_perf_read "$DIR/perf.raw" |
        awk '{ print $1 " syscalls, " $2 " cs" }')"
    if [ -n "${P[1-env]:-}" ] && [ -n "${P[9-env]:-}" ]; then
        echo "  each added envelope-only stage: $(echo "${P[1-env]} ${P[9-env]}" | awk '{
            printf "%.1f syscalls, %.1f cs", ($5 + $7 - $1 - $3) / 8, ($6 + $8 - $2 - $4) / 8 }')"
    fi
fi
echo
echo "Targets (5 KB hop under 50 us over raw; 1 MB within 1.5x of raw): see bench/RESULTS.md."
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
