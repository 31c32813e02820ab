#!/bin/bash
# bench/smtpd.sh - smtp-source -> sluice-smtpd -> one pass-through stage (counted), in the
# same run as the loopback SMTP ceiling and Postfix relaying the same load.
#
# For 5 KB and 100 KB messages over 20 sessions (smtp-source, new connection per message):
#  (a) smtp-source -> smtp-sink: the ceiling      /work/shared/peers/01_smtp_ceiling.sh, in place
#  (b) smtp-source -> Postfix (fsync'd queue) -> smtp-sink, end to end
#                                                 /work/shared/peers/02_postfix_relay.sh, in place
#  (c) smtp-source -> build/bin/sluice-smtpd, started by `sluice start -c CFG` with a temporary
#      config: broker + one `sluice-stage-example --record FILE` (pass-through, records each
#      queue id), spool in a temporary folder (fsync of file and folder before every 250, as
#      always). End to end: from the first connection until every accepted message is in the
#      record file (or DRAIN_TIMEOUT passes). During the load one extra session
#      (bench/smtpd_latency.py) sends PROBE messages of the same size back to back and times
#      end of DATA -> 250 reply: p50/p99 in ms. Probe messages are counted in (c)'s total.
#  (d) the latency baseline: the same load and the same probe against a bare smtp-sink on a
#      free port (it answers 250 without storing anything), under load and idle, so that
#      "added" = sluice's p99 - smtp-sink's p99, measured minutes apart on the same machine.
#  (e) paced: the question the target asks ("at least as fast as Postfix, at a p99 added
#      latency under 10 ms") is the latency at Postfix's own rate, not flat out. So, per size and
#      rate, bench/smtpd_paced.py offers a fixed aggregate rate over SESSIONS sessions (open loop,
#      new connection per message, PACED_SECONDS long) and times every message's end of DATA ->
#      250; first against the same bare smtp-sink (baseline), then against a fresh gateway (as in
#      (c), drained and checked: every accepted message recorded once). The rate: Postfix's from
#      (b) by default, times each factor of PACE_SWEEP; added_p99 = sluice p99 - sink p99 at the
#      same rate; "sustained" = achieved >= 97% of offered.
# Prints each system's lines on stderr and the tables on stdout; the load average before and
# after. Loopback only: the peers' fixed ports (12525/12526), sluice on a free port chosen at
# run time. Everything started is stopped by PID (SIGTERM, KILL after 15 s), also on Ctrl-C.
# Usage: bench/smtpd.sh               (about 5-7 minutes on 2 cores; 2 more per extra PACE_SWEEP factor)
# Knobs (environment, defaults in brackets): SLUICE_BUILD [build], MSGS [5000, per size and
#   system], SESSIONS [20], SIZES ["5120 102400"], RUNS [1; the peers report the median of
#   RUNS, sluice too], PROBE [500], IDLE_PROBE [200, the probe alone after the load], DRAIN_TIMEOUT [120 s], SEND_TIMEOUT [600 s],
#   SKIP_PEERS [unset; 1 runs sluice only], PEERS [/work/shared/peers], SYNC_THREADS [16: spool.sync_threads].
#   Paced phase (e): PACE [postfix: Postfix's rate from (b) per size; N: N msgs/s for every size;
#   off: no paced phase], PACE_SWEEP ["1": factors of PACE, e.g. "1 2 3" for the curve up to
#   saturation], PACED_SECONDS [20 per rate], PACE_FALLBACK [200 msgs/s, when PACE=postfix but (b)
#   gave no rate, e.g. with SKIP_PEERS=1], SATURATION [1; 0 skips the flat-out (c)/(d) phases].
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${SLUICE_BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
BIN=$BUILD/bin
PEERS=${PEERS:-/work/shared/peers}
PY=/usr/bin/python3
export RUNS=${RUNS:-1}
MSGS=${MSGS:-5000}
SESSIONS=${SESSIONS:-20}
SIZES=${SIZES:-"5120 102400"}
PROBE=${PROBE:-500}
IDLE_PROBE=${IDLE_PROBE:-200}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-120}
SEND_TIMEOUT=${SEND_TIMEOUT:-600}
PACE=${PACE:-postfix}
PACE_SWEEP=${PACE_SWEEP:-1}
PACED_SECONDS=${PACED_SECONDS:-20}
PACE_FALLBACK=${PACE_FALLBACK:-200}
SATURATION=${SATURATION:-1}
case $PACE in postfix|off) ;; *[!0-9.]*|"") echo "smtpd.sh: PACE=$PACE: postfix, off or msgs/s" >&2; exit 2 ;; esac

for b in sluice sluice-broker sluice-smtpd sluice-stage-example; do
    [ -x "$BIN/$b" ] || { echo "smtpd.sh: $BIN/$b missing; build first" >&2; exit 2; }
done
for b in smtp-source smtp-sink postfix; do
    command -v "$b" >/dev/null || { echo "smtpd.sh: $b missing (apt-get install postfix)" >&2; exit 2; }
done

# Private scratch for this run (the peers' queue and results too); world-traversable so that
# Postfix's own users reach their queue. The shared generated corpus is linked, not rebuilt
# (02_postfix_relay.sh checks for it even when it sends no corpus).
T=$(mktemp -d /var/tmp/sluice-bench-smtpd.XXXXXX)
chmod 755 "$T"
export ANCHORS_WORK=$T/anchors
mkdir -p "$ANCHORS_WORK"
[ -f /var/tmp/sluice-anchors/corpus/.done ] && ln -s /var/tmp/sluice-anchors/corpus "$ANCHORS_WORK/corpus"

# common.sh: stop_pid, wait_port, bg_in_cg (CPU accounting per cgroup), median, machine_facts,
# and its EXIT trap that stops every remembered PID. It sets -euo pipefail.
source "$PEERS/common.sh"
PEER_PID=""
bench_cleanup() {
    trap - EXIT INT TERM
    set +e
    [ -n "$PEER_PID" ] && stop_pid "$PEER_PID"
    cleanup_all
    rm -rf "$T"
}
trap bench_cleanup EXIT
trap 'echo "smtpd.sh: interrupted" >&2; exit 130' INT TERM

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
LOAD_BEFORE=$(loadavg)
log "load average before: $LOAD_BEFORE; $(machine_facts)"

# run_peer SCRIPT: one of the numbered peer scripts, in place, as a child (stopped by PID).
run_peer() {
    local rc=0
    MSGS=$MSGS SESSIONS=$SESSIONS SIZES=$SIZES CORPORA="" bash "$PEERS/$1" > "$T/$1.out" 2>&1 &
    PEER_PID=$!
    wait "$PEER_PID" || rc=$?
    PEER_PID=""
    sed 's/^/  /' "$T/$1.out" >&2
    [ "$rc" = 0 ] || log "$1 exited $rc"
}

declare -A PSUS PADD POFF CEIL PFX SL SLA SLP50 SLP99 SLI50 SLI99 SLPN SLCPU SLN BP99 BI99
if [ -z "${SKIP_PEERS:-}" ]; then
    log "(a) ceiling: 01_smtp_ceiling.sh RUNS=$RUNS MSGS=$MSGS SESSIONS=$SESSIONS"
    run_peer 01_smtp_ceiling.sh
    log "(b) Postfix relay: 02_postfix_relay.sh RUNS=$RUNS MSGS=$MSGS SESSIONS=$SESSIONS"
    run_peer 02_postfix_relay.sh
    for size in $SIZES; do
        CEIL[$size]=$(sed -nE "s/^size=$size mode=newconn .*median_msgs_per_s=([0-9.]+).*/\1/p" \
                      "$RESULTS_DIR/01_smtp_ceiling.summary" 2>/dev/null | head -1)
        PFX[$size]=$(sed -nE "s/^workload=smtp-source-$size .*median_e2e_msgs_per_s=([0-9.]+).*/\1/p" \
                     "$RESULTS_DIR/02_postfix_relay.summary" 2>/dev/null | head -1)
    done
fi

free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# sluice_config DIR PORT: broker, one recording pass-through stage, smtpd on PORT.
sluice_config() {
    local d=$1 port=$2
    mkdir -p "$d/data" "$d/run"
    cat > "$d/sluice.yaml" <<EOF
data_dir: $d/data
run_dir: $d/run
log:
  level: info
broker:
  frontend: ipc://$d/run/front.sock
  backend: ipc://$d/run/back.sock
stages:
  - name: pass
    command: [sluice-stage-example, --record, $d/record]
    capacity: 8
graphs:
  default:
    content: [pass]
smtpd:
  listen: ["127.0.0.1:$port"]
  hostname: mx.bench.test
  relay_domains: [example.com]
  per_ip_connections: 1000
  per_ip_rate: 10000000
  user: root
spool:
  dir: $d/spool
  sync_threads: ${SYNC_THREADS:-16}
EOF
}

record_count() { [ -f "$1" ] && wc -l < "$1" || echo 0; }

# gw_start DIR: fresh config, spool and gateway (cgroup "sluice") on a free port; waits until
# smtpd listens and a stage worker is up. Sets GW (PID) and GW_PORT.
gw_start() {
    local d=$1 i
    GW_PORT=$(free_port)
    sluice_config "$d" "$GW_PORT"
    cg_new sluice; cg_new src
    bg_in_cg sluice "$BIN/sluice" start -c "$d/sluice.yaml" > "$d/sluice.log" 2>&1
    GW=$BG_PID
    for ((i = 0; i < 300; i++)); do
        kill -0 "$GW" 2>/dev/null || { log "sluice start exited:"; tail -20 "$d/sluice.log" >&2; return 1; }
        if ss -Hltn "sport = :$GW_PORT" | grep -q LISTEN &&
           "$BIN/sluice" status -c "$d/sluice.yaml" --json 2>/dev/null | grep -q '"workers":[1-9]'; then
            return 0
        fi
        sleep 0.1
    done
    log "sluice not ready in 30 s"; tail -20 "$d/sluice.log" >&2; stop_pid "$GW"; return 1
}

# gw_drain DIR: wait (DRAIN_TIMEOUT) until every message smtpd logged as queued (one
# "ID: queued client=..." line per 250) is in the record file. Sets ACC REC UNIQ LEFT.
gw_drain() {
    local d=$1 deadline=$(( $(date +%s) + DRAIN_TIMEOUT ))
    ACC=$(grep -c ': queued client=' "$d/sluice.log" || true)
    while :; do
        REC=$(record_count "$d/record")
        [ "$REC" -ge "$ACC" ] && break
        [ "$(date +%s)" -lt "$deadline" ] || { log "drain timeout: $REC of $ACC recorded"; break; }
        sleep 0.05
    done
    # recount: a log line written after the first count
    ACC=$(grep -c ': queued client=' "$d/sluice.log" || true)
    REC=$(record_count "$d/record")
    UNIQ=$(sort -u "$d/record" 2>/dev/null | wc -l)
    LEFT=$(find "$d/spool" -maxdepth 1 -type f 2>/dev/null | wc -l)
}

# sluice_run SIZE RUN: fresh gateway and spool, smtp-source + latency probe, wait for the record.
sluice_run() {
    local size=$1 run=$2 d=$T/sluice-$1-$2 t0 t1 t2 c0 c1 src_rc=0 src_pid probe_pid probe_ok
    gw_start "$d" || return 1
    c0=$(cg_ns sluice)
    t0=$(now_ns)
    # clients in cgroup "src" (as the peers' smtp-source), so the CPU monitor counts them as ours
    bg_in_cg src timeout "$SEND_TIMEOUT" smtp-source -s "$SESSIONS" -m "$MSGS" -l "$size" \
        -f sender@example.net -t rcpt@example.com 127.0.0.1:"$GW_PORT" > "$d/source.out" 2>&1
    src_pid=$BG_PID
    sleep 0.3   # the probe runs while the 20 sessions are busy
    bg_in_cg src $PY "$ROOT/bench/smtpd_latency.py" --port "$GW_PORT" --count "$PROBE" --size "$size" \
        --deadline "$SEND_TIMEOUT" > "$d/probe.out" 2> "$d/probe.err"
    probe_pid=$BG_PID
    wait "$src_pid" || src_rc=$?
    t1=$(now_ns)
    wait "$probe_pid" || true
    [ "$src_rc" = 0 ] || { log "smtp-source exited $src_rc:"; tail -5 "$d/source.out" >&2; }
    cat "$d/probe.err" >&2
    probe_ok=$(sed -nE 's/.*accepted=([0-9]+).*/\1/p' "$d/probe.out"); probe_ok=${probe_ok:-0}
    gw_drain "$d"
    t2=$(now_ns)
    c1=$(cg_ns sluice)
    # for reference: the same probe with no other load (IDLE_PROBE messages, one session)
    $PY "$ROOT/bench/smtpd_latency.py" --port "$GW_PORT" --count "$IDLE_PROBE" --size "$size" \
        --deadline 60 > "$d/idle.out" 2>> "$d/probe.err" || true
    stop_pid "$GW"
    awk -v s="$size" -v r="$run" -v n="$MSGS" -v pk="$probe_ok" -v acc="$ACC" -v rec="$REC" \
        -v u="$UNIQ" -v t0="$t0" -v t1="$t1" -v t2="$t2" -v c="$(( c1 - c0 ))" -v left="$LEFT" \
        -v probe="$(cat "$d/probe.out")" -v idle="$(sed -E 's/([a-z0-9_]+)=/idle_\1=/g' "$d/idle.out")" \
        'BEGIN{e=(t2-t0)/1e9; printf "size=%s run=%s source_msgs=%d probe_accepted=%d accepted=%d recorded=%d unique_recorded=%d spool_left=%d accept_s=%.3f e2e_s=%.3f e2e_msgs_per_s=%.1f sluice_cpu_s=%.2f probe: %s idle probe: %s\n",
               s, r, n, pk, acc, rec, u, left, (t1-t0)/1e9, e, rec/e, c/1e9, probe, idle}' | tee -a "$T/sluice.tsv" >&2
}

# paced PORT SIZE RATE OUT: (e)'s load, RATE msgs/s for PACED_SECONDS over SESSIONS sessions.
paced() {
    local n
    n=$(awk -v r="$3" -v s="$PACED_SECONDS" 'BEGIN{n=int(r*s+0.5); print (n < 1) ? 1 : n}')
    bg_in_cg src $PY "$ROOT/bench/smtpd_paced.py" --port "$1" --size "$2" --rate "$3" --count "$n" \
        --sessions "$SESSIONS" --deadline "$(( PACED_SECONDS * 3 + 30 ))" > "$4" 2> "$4.err"
    wait "$BG_PID" || log "smtpd_paced.py exited $?: $(tail -3 "$4.err")"
}

# sluice_paced SIZE FACTOR RATE: (e) against a fresh gateway; drained and checked as in (c).
sluice_paced() {
    local size=$1 x=$2 rate=$3 d=$T/paced-$1-$2 t0 t2 c0 c1
    gw_start "$d" || return 1
    c0=$(cg_ns sluice)
    t0=$(now_ns)
    paced "$GW_PORT" "$size" "$rate" "$d/paced.out"
    local t1; t1=$(now_ns)
    gw_drain "$d"
    t2=$(now_ns)
    c1=$(cg_ns sluice)
    stop_pid "$GW"
    echo "size=$size x=$x sluice accepted_log=$ACC recorded=$REC unique_recorded=$UNIQ spool_left=$LEFT" \
         "drain_s=$(awk -v a="$t1" -v b="$t2" 'BEGIN{printf "%.2f", (b-a)/1e9}')" \
         "sluice_cpu_s=$(awk -v c="$(( c1 - c0 ))" 'BEGIN{printf "%.2f", c/1e9}') paced: $(cat "$d/paced.out")" |
        tee -a "$T/paced.tsv" >&2
}

# pace_rates SIZE: sets RATES, (e)'s rates for SIZE as "FACTOR:RATE" words, and PACE_SRC[SIZE].
declare -A PACE_SRC
pace_rates() {
    local size=$1 base x
    RATES=""
    case $PACE in
        off) return 0 ;;
        postfix) base=${PFX[$size]:-}; PACE_SRC[$size]="Postfix's rate from (b)"
                 if [ -z "$base" ] || [ "$base" = nan ]; then
                     base=$PACE_FALLBACK; PACE_SRC[$size]="PACE_FALLBACK (no Postfix rate)"
                 fi ;;
        *) base=$PACE; PACE_SRC[$size]="PACE=$PACE" ;;
    esac
    for x in $PACE_SWEEP; do
        RATES+="$(awk -v x="$x" -v b="$base" 'BEGIN{printf "%s:%.1f", x, x*b}') "
    done
}

# sink_run SIZE: (d) the same smtp-source load and probe against a bare smtp-sink, then (e)'s
# paced loads against it.
sink_run() {
    local size=$1 d=$T/sink-$1 port src_pid probe_pid x xr rate
    mkdir -p "$d"
    port=$(free_port)
    cg_new sink2; cg_new src
    bg_in_cg sink2 timeout 1800 smtp-sink -u nobody 127.0.0.1:"$port" 1024 > /dev/null 2>&1
    local sink=$BG_PID
    wait_port "$port" 10
    if [ "$SATURATION" = 1 ]; then
        bg_in_cg src timeout "$SEND_TIMEOUT" smtp-source -s "$SESSIONS" -m "$MSGS" -l "$size" \
            -f sender@example.net -t rcpt@example.com 127.0.0.1:"$port" > "$d/source.out" 2>&1
        src_pid=$BG_PID
        sleep 0.3
        bg_in_cg src $PY "$ROOT/bench/smtpd_latency.py" --port "$port" --count "$PROBE" --size "$size" \
            --deadline "$SEND_TIMEOUT" > "$d/probe.out" 2> "$d/probe.err"
        probe_pid=$BG_PID
        wait "$src_pid" || true
        wait "$probe_pid" || true
        $PY "$ROOT/bench/smtpd_latency.py" --port "$port" --count "$IDLE_PROBE" --size "$size" \
            --deadline 60 > "$d/idle.out" 2>> "$d/probe.err" || true
        echo "size=$size sink probe: $(cat "$d/probe.out") idle probe: $(sed -E 's/([a-z0-9_]+)=/idle_\1=/g' "$d/idle.out")" |
            tee -a "$T/sink.tsv" >&2
    fi
    for xr in $RATES; do
        x=${xr%%:*}; rate=${xr#*:}
        log "(e) paced baseline: smtp-sink, size=$size ${x}x = $rate msgs/s for ${PACED_SECONDS}s"
        paced "$port" "$size" "$rate" "$d/paced-$x.out"
        echo "size=$size x=$x sink paced: $(cat "$d/paced-$x.out")" | tee -a "$T/paced.tsv" >&2
    done
    stop_pid "$sink"
}

start_cpu_monitor smtpd_sluice
for size in $SIZES; do
    pace_rates "$size"
    log "(d) baseline: smtp-sink with the same load and probe, size=$size"
    sink_run "$size" || log "sink baseline size=$size failed"
    if [ "$SATURATION" = 1 ]; then
        BP99[$size]=$(grep "^size=$size " "$T/sink.tsv" 2>/dev/null | sed -nE 's/.* p99_ms=([0-9.]+).*/\1/p' | head -1)
        BI99[$size]=$(grep "^size=$size " "$T/sink.tsv" 2>/dev/null | sed -nE 's/.* idle_p99_ms=([0-9.]+).*/\1/p' | head -1)
        log "(c) sluice: size=$size msgs=$MSGS sessions=$SESSIONS probe=$PROBE runs=$RUNS"
        for run in $(seq 1 "$RUNS"); do
            sluice_run "$size" "$run" || log "sluice run size=$size run=$run failed"
        done
        f() { grep "^size=$size " "$T/sluice.tsv" 2>/dev/null | sed -nE "s/.* $1=([0-9.]+).*/\1/p" | median; }
        SL[$size]=$(f e2e_msgs_per_s); SLA[$size]=$(f accept_s); SLP50[$size]=$(f p50_ms)
        SLP99[$size]=$(f p99_ms); SLI50[$size]=$(f idle_p50_ms); SLI99[$size]=$(f idle_p99_ms); SLPN[$size]=$(f accepted); SLCPU[$size]=$(f sluice_cpu_s)
        SLN[$size]=$(grep "^size=$size " "$T/sluice.tsv" 2>/dev/null |
                     awk '{for(i=1;i<=NF;i++){split($i,a,"="); v[a[1]]=a[2]} if (v["recorded"]+0 < v["accepted"]+0 || v["unique_recorded"]+0 < v["accepted"]+0) bad++} END{print bad ? "MISSING" : "all"}')
    fi
    for xr in $RATES; do
        x=${xr%%:*}; rate=${xr#*:}
        log "(e) paced: sluice, size=$size ${x}x = $rate msgs/s for ${PACED_SECONDS}s"
        sluice_paced "$size" "$x" "$rate" || log "paced sluice run size=$size x=$x failed"
    done
done

LOAD_AFTER=$(loadavg)
FOREIGN_PEERS=$(cat "$RESULTS_DIR"/0[12]_*.summary 2>/dev/null | grep -o 'foreign_cpu_cores.*' | tr '\n' ';' || true)
FOREIGN_SLUICE=$(foreign_summary smtpd_sluice 2>/dev/null || true)
log "load average after: $LOAD_AFTER"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a+0 > 0 && b+0 > 0) printf "%.2f", a/b; else printf "n/a" }'; }
echo "# bench/smtpd.sh: msgs/s end to end, $MSGS msgs per size per system, $SESSIONS sessions (smtp-source, new connection per message), RUNS=$RUNS (median)"
echo "# $(machine_facts)"
echo "# load average before: $LOAD_BEFORE   after: $LOAD_AFTER"
echo "# other work on the machine (cores busy outside the benchmark): peers (01;02): ${FOREIGN_PEERS:-n/a}  sluice: ${FOREIGN_SLUICE:-n/a}"
minus() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a != "" && b != "") printf "%.2f", a-b; else printf "n/a" }'; }
if [ "$SATURATION" = 1 ]; then
printf '%-7s %10s %10s %10s %9s %9s %9s %9s %12s %13s %11s %9s %8s\n' size ceiling postfix sluice sl/pfx sl/ceil p50_ms p99_ms idle_p50/p99 sink_p99/idle added_p99 sl_cpu_s recorded
for size in $SIZES; do
    printf '%-7s %10s %10s %10s %9s %9s %9s %9s %12s %13s %11s %9s %8s\n' "$((size / 1024))KB" "${CEIL[$size]:-n/a}" \
        "${PFX[$size]:-n/a}" "${SL[$size]:-n/a}" "$(ratio "${SL[$size]}" "${PFX[$size]:-}")" \
        "$(ratio "${SL[$size]}" "${CEIL[$size]:-}")" "${SLP50[$size]:-n/a}" "${SLP99[$size]:-n/a}" \
        "${SLI50[$size]:-n/a}/${SLI99[$size]:-n/a}" "${BP99[$size]:-n/a}/${BI99[$size]:-n/a}" \
        "$(minus "${SLP99[$size]:-}" "${BP99[$size]:-}")/$(minus "${SLI99[$size]:-}" "${BI99[$size]:-}")" \
        "${SLCPU[$size]:-n/a}" "${SLN[$size]:-n/a}"
done
echo "# added_p99 = sluice p99 - smtp-sink p99 with the same load and probe (loaded/idle)"
echo "# targets: sluice >= postfix (sl/pfx >= 1.00) and added p99 end-of-DATA -> 250 < 10 ms"
for size in $SIZES; do
    echo "#   $((size / 1024))KB: throughput $(awk -v r="$(ratio "${SL[$size]}" "${PFX[$size]:-}")" 'BEGIN{print (r=="n/a") ? "n/a" : (r+0 >= 1 ? "met" : "NOT met")}'), added p99 loaded $(awk -v p="$(minus "${SLP99[$size]:-}" "${BP99[$size]:-}")" 'BEGIN{print (p=="n/a") ? "n/a" : (p+0 < 10 ? "met" : "NOT met")}'), idle $(awk -v p="$(minus "${SLI99[$size]:-}" "${BI99[$size]:-}")" 'BEGIN{print (p=="n/a") ? "n/a" : (p+0 < 10 ? "met" : "NOT met")}')"
done
fi

# (e) the paced table: one row per size and rate
pget() {  # pget SIZE FACTOR sink|sluice KEY: a value from (e)'s lines
    grep "^size=$1 x=$2 $3 " "$T/paced.tsv" 2>/dev/null | head -1 | tr ' ' '\n' | sed -n "s/^$4=//p" | head -1
}
if [ "$PACE" != off ]; then
    echo "# (e) paced: $SESSIONS sessions, open loop (message k due at k/rate), new connection per message, ${PACED_SECONDS} s per rate; every message timed end of DATA -> 250"
    printf '%-7s %5s %8s %9s %13s %8s %8s %8s %10s %9s %7s %8s %7s %9s %9s\n' size x offered sink_ach sink_p50/p99 \
        sl_ach sl_p50 sl_p99 added_p99 late_p99 ref/err sl_cpu_s drain_s recorded sustained
    for size in $SIZES; do
        pace_rates "$size"
        for xr in $RATES; do
            x=${xr%%:*}
            off=$(pget "$size" "$x" sluice offered); off=${off:-$(pget "$size" "$x" sink offered)}
            acc=$(pget "$size" "$x" sluice accepted); alog=$(pget "$size" "$x" sluice accepted_log)
            rec=$(pget "$size" "$x" sluice recorded); uq=$(pget "$size" "$x" sluice unique_recorded)
            ach=$(pget "$size" "$x" sluice achieved); sent=$(pget "$size" "$x" sluice sent)
            ref=$(pget "$size" "$x" sluice refused); err=$(pget "$size" "$x" sluice errors)
            recd=$(awk -v a="$acc" -v l="$alog" -v r="$rec" -v u="$uq" 'BEGIN{ if (a == "" || l == "") {print "n/a"; exit}
                    s = (u+0 >= l+0 && l+0 >= a+0) ? "all" : "MISSING"; if (r+0 > u+0) s = s "+dup" (r-u); print s }')
            sus=$(awk -v o="$off" -v a="$ach" -v r="$ref" -v e="$err" -v n="$sent" -v c="$acc" 'BEGIN{ if (a == "") {print "n/a"; exit}
                    print (a+0 >= 0.97*o && r+0 == 0 && e+0 == 0 && c+0 == n+0) ? "yes" : "NO" }')
            printf '%-7s %5s %8s %9s %13s %8s %8s %8s %10s %9s %7s %8s %7s %9s %9s\n' "$((size / 1024))KB" "$x" "${off:-n/a}" \
                "$(pget "$size" "$x" sink achieved)" "$(pget "$size" "$x" sink p50_ms)/$(pget "$size" "$x" sink p99_ms)" \
                "${ach:-n/a}" "$(pget "$size" "$x" sluice p50_ms)" "$(pget "$size" "$x" sluice p99_ms)" \
                "$(minus "$(pget "$size" "$x" sluice p99_ms)" "$(pget "$size" "$x" sink p99_ms)")" \
                "$(pget "$size" "$x" sluice late_p99_ms)" "${ref:-?}/${err:-?}" "$(pget "$size" "$x" sluice sluice_cpu_s)" \
                "$(pget "$size" "$x" sluice drain_s)" "$recd" "$sus"
            PSUS[$size:$x]=$sus
            PADD[$size:$x]=$(minus "$(pget "$size" "$x" sluice p99_ms)" "$(pget "$size" "$x" sink p99_ms)")
            POFF[$size:$x]=${off:-n/a}
        done
    done
    echo "# x = factor of the base rate; achieved = 250s / (last 250 - start); late_p99 = p99 of (start - due) for sluice's"
    echo "#   messages (> 0 when all $SESSIONS sessions were busy); sustained = achieved >= 97% offered, no refusal, no error;"
    echo "#   added_p99 = sluice p99 - smtp-sink p99 at the same rate (both measured by smtpd_paced.py, minutes apart)"
    for size in $SIZES; do
        pace_rates "$size"
        x1=${RATES%%:*}
        echo "#   $((size / 1024))KB at ${x1}x ${PACE_SRC[$size]} = ${POFF[$size:$x1]:-n/a} msgs/s: sustained ${PSUS[$size:$x1]:-n/a}," \
             "added p99 ${PADD[$size:$x1]:-n/a} ms: $(awk -v p="${PADD[$size:$x1]:-n/a}" -v s="${PSUS[$size:$x1]:-}" \
             'BEGIN{print (p=="n/a") ? "n/a" : ((p+0 < 10 && s == "yes") ? "met" : "NOT met")}')"
    done
fi
