#!/usr/bin/env bash
# bench/bench_delivery.sh - delivery throughput: a full queue drained to smtp-sink over
# 20 connections, sluice-delivery beside Postfix's qmgr + smtp client.
#
# Both sides start from the same state: MSGS messages of SIZE bytes already in the queue
# (sluice: queue files as the action stage writes them; Postfix: injected with smtp-source
# while defer_transports=smtp holds them), one Postfix smtp-sink on loopback that exits
# after MSGS messages (-M). Time runs from the start of sluice-delivery / `postqueue -f`
# until the sink has taken the last message. Postfix is run with the peers' own scripts,
# sourced in place from /work/shared/peers (postfix_lib.sh: pf_configure, pf_start, ...),
# on ports chosen at run time in 26000-26999.
# Usage: bench/bench_delivery.sh   (env: MSGS=10000 SIZE=5120 CONC=20 RUNS=3
#                                   SLUICE_BIN=build/bin PEERS=/work/shared/peers
#                                   RESULTS=bench/RESULTS.md (appended), POSTFIX=1)
PEERS=${PEERS:-/work/shared/peers}
export ANCHORS_WORK=${ANCHORS_WORK:-/var/tmp/sluice-bench-delivery}
RUNS=${RUNS:-3}
source "$PEERS/common.sh"
source "$PEERS/postfix_lib.sh"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${SLUICE_BIN:-$ROOT/build/bin}
MSGS=${MSGS:-10000}
SIZE=${SIZE:-5120}
CONC=${CONC:-20}
POSTFIX=${POSTFIX:-1}
RESULTS=${RESULTS:-$ROOT/bench/RESULTS.md}
OUT="$RESULTS_DIR/bench_delivery.tsv"
[ -x "$BIN/sluice-delivery" ] || { log "no $BIN/sluice-delivery: build first"; exit 1; }

pick_port() {
  python3 - <<'EOF'
import random, socket
ports = list(range(26000, 27000)); random.shuffle(ports)
for p in ports:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
    finally:
        s.close()
EOF
}
P_SINK=$(pick_port)
P_SMTPD=$(pick_port)
while [ "$P_SMTPD" = "$P_SINK" ]; do P_SMTPD=$(pick_port); done
cg_new sluice; cg_new postfix; cg_new sink

# fill_sluice_queue DIR: MSGS queue files (SLQ1 header + a SIZE-byte message), as the
# action stage writes them, into DIR/active.
fill_sluice_queue() {
  python3 - "$1" "$MSGS" "$SIZE" <<'EOF'
import os, sys, time
qdir, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(qdir + "/active", exist_ok=True); os.makedirs(qdir + "/tmp", exist_ok=True)
now = int(time.time() * 1000)
for i in range(n):
    qid = "BENCH%021d" % i
    head = ("From: <sender@example.net>\r\nTo: <rcpt@example.com>\r\nSubject: bench %d\r\n"
            "Message-ID: <%s@bench.sluice.test>\r\nDate: Mon, 23 Nov 2026 12:00:00 +0000\r\n\r\n"
            % (i, qid))
    body, line = "", "La la la la la la la la la la la la la la la la la la la la la la.\r\n"
    while len(head) + len(body) + len(line) <= size:
        body += line
    msg = (head + body).encode()
    with open("%s/active/%s-0" % (qdir, qid), "wb") as f:
        f.write(("SLQ1\nid %s\nfrom sender@example.net\ncreated %d\nkind mail\n"
                 "rcpt rcpt@example.com\n\n" % (qid, now)).encode() + msg)
EOF
}

start_sink() {
  bg_in_cg sink timeout 900 smtp-sink -u nobody -M "$MSGS" 127.0.0.1:"$P_SINK" 1024
  SINK_PID=$BG_PID
  wait_port "$P_SINK" 10
}

echo -e "system\trun\tmsgs\tsize\tseconds\tmsgs_per_s\tcpu_s\tleft_in_queue" > "$OUT"

sluice_run() {
  local run=$1 d="$WORK/sluice"
  rm -rf "$d"; mkdir -p "$d/data" "$d/run"
  cat > "$d/sluice.yaml" <<EOF
data_dir: $d/data
run_dir: $d/run
log: {level: warn}
stages:
  - name: example
    command: [sluice-stage-example]
graphs:
  default:
    content: [example]
delivery:
  default_route: "smtp:[127.0.0.1]:$P_SINK"
  concurrency: $CONC
  connections: $CONC
  hostname: bench.sluice.test
EOF
  fill_sluice_queue "$d/data/delivery"
  sync
  start_sink
  local c0 t0 t1 c1 left
  c0=$(cg_ns sluice); t0=$(now_ns)
  bg_in_cg sluice "$BIN/sluice-delivery" -c "$d/sluice.yaml"
  local dpid=$BG_PID
  wait "$SINK_PID" || true
  t1=$(now_ns)
  c1=$(cg_ns sluice)
  local cpu_s
  cpu_s=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14+$15)/hz}' "/proc/$dpid/stat" 2>/dev/null || echo nan)
  [ "$c1" != 0 ] && cpu_s=$(awk -v a="$c0" -v b="$c1" 'BEGIN{printf "%.2f", (b-a)/1e9}')
  sleep 0.5
  stop_pid "$dpid"
  left=$(find "$d/data/delivery/active" -type f | wc -l)
  awk -v run="$run" -v n="$MSGS" -v sz="$SIZE" -v t0="$t0" -v t1="$t1" -v c="$cpu_s" -v left="$left" \
    'BEGIN{e=(t1-t0)/1e9; printf "sluice-delivery\t%s\t%d\t%d\t%.3f\t%.1f\t%s\t%d\n", run, n, sz, e, n/e, c, left}' | tee -a "$OUT"
}

postfix_run() {
  local run=$1
  pf_configure >/dev/null
  pf_fresh_spool >/dev/null
  postconf -c "$PF_ETC" -e "defer_transports = smtp" "default_destination_concurrency_limit = $CONC"
  pf_start
  sleep 1
  timeout 600 smtp-source -s "$CONC" -m "$MSGS" -l "$SIZE" -f sender@example.net \
    -t rcpt@example.com 127.0.0.1:"$P_SMTPD"
  local i n=0
  for i in $(seq 1 600); do   # until every message sits in the deferred queue
    n=$(find "$PF/spool/deferred" -type f 2>/dev/null | wc -l)
    [ "$n" -ge "$MSGS" ] && break
    sleep 0.5
  done
  [ "$n" -ge "$MSGS" ] || { log "postfix queued only $n of $MSGS"; pf_stop; return 1; }
  start_sink
  postconf -c "$PF_ETC" -e "defer_transports ="
  postfix -c "$PF_ETC" reload >/dev/null 2>&1
  sleep 2   # qmgr restarts with the new setting
  local c0 t0 t1 c1 left
  c0=$(cg_ns postfix); t0=$(now_ns)
  postqueue -c "$PF_ETC" -f
  wait "$SINK_PID" || true
  t1=$(now_ns); c1=$(cg_ns postfix)
  pf_stop
  left=$(pf_queue_count)
  awk -v run="$run" -v n="$MSGS" -v sz="$SIZE" -v t0="$t0" -v t1="$t1" -v a="$c0" -v b="$c1" -v left="$left" \
    'BEGIN{e=(t1-t0)/1e9; c=(b>0)?sprintf("%.2f",(b-a)/1e9):"nan";
           printf "postfix\t%s\t%d\t%d\t%.3f\t%.1f\t%s\t%d\n", run, n, sz, e, n/e, c, left}' | tee -a "$OUT"
}

for run in $(seq 1 "$RUNS"); do
  sluice_run "$run"
  [ "$POSTFIX" = 1 ] && postfix_run "$run"
done

med() { awk -v s="$1" -v c="$2" -F'\t' 'NR>1 && $1==s {print $c}' "$OUT" | median; }
S_RATE=$(med sluice-delivery 6); S_CPU=$(med sluice-delivery 7)
P_RATE=$(med postfix 6); P_CPU=$(med postfix 7)
RATIO=$(awk -v s="$S_RATE" -v p="$P_RATE" 'BEGIN{ if (p+0 > 0) printf "%.2f", s/p; else print "n/a" }')
echo "== medians: sluice-delivery ${S_RATE} msg/s (cpu ${S_CPU} s), postfix ${P_RATE} msg/s (cpu ${P_CPU} s), sluice/postfix ${RATIO}"

{
  [ -s "$RESULTS" ] || printf '# Sluice benchmark results\n'
  printf '\n## Delivery: queue -> smtp-sink, %s connections (bench/bench_delivery.sh, %s)\n\n' \
    "$CONC" "$(date -u +%Y-%m-%dT%H:%MZ)"
  printf '%s msgs of %s bytes, %s runs, medians. Both start with the whole batch queued;\n' "$MSGS" "$SIZE" "$RUNS"
  printf 'time from starting sluice-delivery / `postqueue -f` until smtp-sink took the last one.\n'
  printf 'Machine: %s\n\n' "$(machine_facts)"
  printf '| system | msg/s | CPU s (whole batch) |\n|---|---:|---:|\n'
  printf '| sluice-delivery (thread per connection, pipelined, reused connections) | %s | %s |\n' "$S_RATE" "$S_CPU"
  [ "$POSTFIX" = 1 ] && printf '| Postfix 3.7 qmgr + smtp (connection cache on demand) | %s | %s |\n' "$P_RATE" "$P_CPU"
  printf '\nsluice/postfix: %s (target: >= 0.83, i.e. within 1.2x of Postfix or faster).\n' "$RATIO"
  printf 'Raw runs:\n\n```\n'; cat "$OUT"; printf '```\n'
} >> "$RESULTS"
log "appended to $RESULTS"
