#!/usr/bin/env bash
# bench/content.sh - throughput of the mime, av-a and av-b stages beside clamd and yara.
#
# Same bytes for everyone: the peers' corpora (shared/peers/common.sh: "sapc" = the
# SpamAssassin public corpus, "gen" = generated mail with 10-200 KB attachments, EICAR in
# some). Same signatures: stages/av-a/sigs for libclamav and clamd, stages/av-b/rules for
# libyara and the yara command. Sluice runs `sluice start` with one graph per row and a
# Python client keeping WINDOW messages in flight (the broker's client protocol); clamd
# is fed by the peers' loadgen.py over INSTREAM with CONC connections; yara scans the
# directory with -p 2 threads. Everything on this host's 2 cores, one row at a time.
# Usage: bench/content.sh [BUILD_DIR]   (env: CORPORA="sapc gen", WINDOW=16, CONC=4,
#        LIMIT=0 = all messages; REPEAT=1 = each message that many times (longer runs
#        on small corpora: the SpamAssassin corpus once is 0.3 s of yara); ROWS="clamd av-a yara av-b mime content" = which rows;
#        WORKERS=1 and CAPACITY=2 per Sluice stage (two lanes in one process, each
#        scanning on its own thread, no hand-off); BATCH=16 jobs per JOBS message per lane
#        (the stage's batch:, broker/README.md "Batches"; 1 = one JOB at a time);
#        DRIVER=python (default) or c: sluice-bench-pipeline
#        --files, the C client smtpd uses, so the client is not what is measured;
#        with DRIVER=c, BYFILE=1 (default) submits each message of at least
#        BYFILE_MIN=16384 bytes as a file reference, as smtpd hands over its
#        spool file on one host (broker.body_file_min; the stages read the
#        bytes there: broker/README.md "Body by file"), BYFILE=0 sends every
#        body through the sockets;
#        ROUNDS=1: run the rows that many times, alternating, and print each
#        row's median and the stage/engine ratios of the medians (a quiet
#        machine still varies 10-20% from run to run: compare medians);
#        PIN=0: 1 = the stage against its engine on one CPU each: the Sluice
#        stages on CPU 1, broker, supervisor and client on CPU 0; yara -p 1 and
#        clamd on CPU 1, clamd's client on CPU 0 (use with CAPACITY=1);
#        results appended by hand to bench/RESULTS.md)
# Every row also says the CPU it cost per message (cpu_us_per_msg, user +
# system time of every thread over the measured run, from /proc and `times`, in
# 10 ms clock ticks: meaningful on runs of seconds, not on LIMIT=100):
# stage:, broker: (with the supervisor) and client: for Sluice, engine: for
# clamd and yara. Unpinned, the whole gateway (client, broker, stage) shares
# the two CPUs the engine has to itself; the CPU figures and PIN=1 compare
# the stage's own work with the engine's on the same bytes.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
BUILD=${1:-$SRC/build-content}
PEERS=${PEERS:-$SRC/../shared/peers}
source "$PEERS/common.sh"
WINDOW=${WINDOW:-16}
CONC=${CONC:-4}
LIMIT=${LIMIT:-0}
REPEAT=${REPEAT:-1}
ROUNDS=${ROUNDS:-1}
ROWS=${ROWS:-"clamd av-a yara av-b mime content"}
export WORKERS=${WORKERS:-1} CAPACITY=${CAPACITY:-2} BATCH=${BATCH:-16}
PIN_ENGINE="" PIN_CLIENT="" # PIN=1: the engine (or stage) on CPU 1, its client on CPU 0
if [ "${PIN:-0}" = 1 ]; then PIN_ENGINE="taskset -c 1"; PIN_CLIENT="taskset -c 0"; fi
P_CLAMD=${P_CLAMD:-3311}
OUT=${OUT:-$WORK/content-bench.tsv}
export SLUICE_BIN=$BUILD/bin SLUICE_SOURCE=$SRC

ensure_corpus
CORPORA=${CORPORA:-$(default_corpora)}
echo -e "corpus\tengine\tmsgs\tMB\tseconds\tmsgs_per_s\tMB_per_s\tdetections\textra" > "$OUT"

# sluice_row CORPUS LABEL GRAPH_STAGES: one gateway, every message of the corpus once.
sluice_row() {
  local corpus=$1 label=$2 list=$3
  /usr/bin/python3 - "$corpus" "$label" "$list" "$WINDOW" 0 "$SRC" <<'EOF' | tee -a "$OUT"
import os, shutil, sys, time
corpus, label, listfile, window, limit, src = sys.argv[1:7]
sys.path.insert(0, os.path.join(src, "tests", "e2e"))
from sluice_e2e import Client, Gateway, envelope
stages = {"mime": "[sluice-stage-mime]", "av-a": "[sluice-stage-av-a]",
          "av-b": "[sluice-stage-av-b]"}
graph = {"mime": "[mime]", "av-a": "[av-a]", "av-b": "[av-b]",
         "content": "[mime, [av-a, av-b]]"}[label]
used = [s for s in stages if s in graph]
body = "stages:\n"
for s in used:
    body += ("  - name: %s\n    command: %s\n    workers: %s\n    capacity: %s\n    batch: %s\n"
             "    timeout: 60s\n") % (s, stages[s], os.environ["WORKERS"], os.environ["CAPACITY"],
                                     os.environ["BATCH"])
    if s == "av-a":
        # no clean-file cache, as the clamd row (DisableCache yes): REPEAT would measure it
        body += "    options: {sigs: %s/stages/av-a/sigs, reload_check: 0, cache: false}\n" % src
    if s == "av-b":
        body += "    options: {rules: %s/stages/av-b/rules, reload_check: 0}\n" % src
body += "graphs:\n  default:\n    content: %s\n" % graph
# the corpus files may be handed over by file (DRIVER=c, BYFILE=1)
corpus_dir = os.path.commonpath([os.path.dirname(os.path.realpath(l.rstrip("\n")))
                                 for l in open(listfile)])
gw = Gateway(body, name="bench-" + label, broker="body_file_dirs: [%s]" % corpus_dir)
try:
    gw.start({s: int(os.environ["WORKERS"]) for s in used}, timeout=60)
    files = [l.rstrip("\n") for l in open(listfile)]
    if int(limit) > 0:
        files = files[:int(limit)]
    if os.environ.get("DRIVER") == "c":
        # the C load generator (lib/sl_client, as smtpd submits): the same files, once each
        import resource, subprocess
        byfile = (["--by-file", "--by-file-min", os.environ.get("BYFILE_MIN", "16384")]
                  if os.environ.get("BYFILE", "1") == "1" else [])
        pids = gw.pids()
        pids["supervisor"] = gw.proc.pid
        pin = []
        if os.environ.get("PIN") == "1":
            # the stages on CPU 1, the rest of the gateway and the client on CPU 0
            for who, pid in pids.items():
                subprocess.run(["taskset", "-a", "-cp", "1" if who.startswith("stage ")
                                else "0", str(pid)], check=True, capture_output=True)
            pin = ["taskset", "-c", "0"]
        tick = os.sysconf("SC_CLK_TCK")
        def cpu(pid):  # utime + stime of every thread, in seconds
            with open("/proc/%d/stat" % pid) as f:
                v = f.read().rsplit(")", 1)[1].split()
            return (int(v[11]) + int(v[12])) / tick
        before = {who: cpu(pid) for who, pid in pids.items()}
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        r = subprocess.run(pin + [os.path.join(os.environ["SLUICE_BIN"], "sluice-bench-pipeline"),
                            "--endpoint", gw.front, "--files", listfile, "--count", str(len(files)),
                            "--window", window, "--seconds", "600"] + byfile,
                           capture_output=True, text=True, timeout=700)
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        spent = {"stage": 0.0, "broker": 0.0}
        for who, pid in pids.items():
            role = "stage" if who.startswith("stage ") else "broker"  # supervisor: broker's share
            spent[role] += cpu(pid) - before[who]
        spent["client"] = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        kv = dict(x.split("=", 1) for x in r.stdout.split() if "=" in x)
        if r.returncode != 0 or "msgs_per_s" not in kv:
            raise SystemExit("sluice-bench-pipeline failed: %s %s" % (r.stdout, r.stderr[-500:]))
        mb = sum(os.path.getsize(f) for f in files) / 1e6
        secs = float(kv["seconds"])
        n = int(kv["msgs"])
        print("%s\tsluice-%s\t%s\t%.1f\t%.2f\t%s\t%.2f\t-\tdriver=c%s%s p50_us=%s p99_us=%s "
              "cpu_us_per_msg=stage:%.0f,broker:%.0f,client:%.0f" % (
            corpus, label, kv["msgs"], mb, secs, kv["msgs_per_s"], mb / secs,
            " by-file" if byfile else "", " pinned" if pin else "", kv.get("p50_us"),
            kv.get("p99_us"), spent["stage"] * 1e6 / n, spent["broker"] * 1e6 / n,
            spent["client"] * 1e6 / n))
        raise SystemExit(0)
    data = [open(f, "rb").read() for f in files]
    c = Client(gw.front)
    sent = got = hits = 0
    stage_ms = {s: 0.0 for s in used}
    t0 = time.monotonic()
    while got < len(data):
        while sent < len(data) and sent - got < int(window):
            c.submit(envelope("b%07d" % sent), data[sent])
            sent += 1
        r = c.recv(60000)
        if r is None:
            raise SystemExit("no answer in 60s")
        got += 1
        if r[1] == "ok":
            for s in used:
                v = r[2]["verdicts"].get(s, {})
                stage_ms[s] += v.get("ms", 0)
                hits += v.get("fields", {}).get("detections", 0) or 0
    secs = time.monotonic() - t0
    mb = sum(map(len, data)) / 1e6
    extra = " ".join("%s_ms_per_msg=%.2f" % (s, stage_ms[s] / len(data)) for s in used)
    print("%s\tsluice-%s\t%d\t%.1f\t%.2f\t%.1f\t%.2f\t%d\t%s" % (
        corpus, label, len(data), mb, secs, len(data) / secs, mb / secs, hits, extra))
    c.close()
finally:
    gw.cleanup()
EOF
}

clamd_row() {
  local corpus=$1 list=$2 cd="$WORK/content-clamd"
  rm -rf "$cd"; mkdir -p "$cd"
  cat > "$cd/clamd.conf" <<EOF
Foreground yes
TCPSocket $P_CLAMD
TCPAddr 127.0.0.1
DatabaseDirectory $SRC/stages/av-a/sigs
LogFile $cd/clamd.log
PidFile $cd/clamd.pid
MaxThreads 2
StreamMaxLength 100M
DisableCache yes
ScanMail yes
ScanArchive yes
ScanPDF yes
ScanOLE2 yes
ScanHTML yes
Bytecode no
EOF
  require_free_port "$P_CLAMD"
  $PIN_ENGINE clamd -c "$cd/clamd.conf" > "$cd/stdout.log" 2>&1 &
  local pid=$!
  remember_pid "$pid"
  wait_port "$P_CLAMD" 120
  local j c0 c1
  c0=$(cpu_ticks "$pid")
  j=$($PIN_CLIENT python3 "$PEERS/loadgen.py" clamd --port "$P_CLAMD" --list "$list" \
        --concurrency "$CONC" --deadline 900 --label clamd)
  c1=$(cpu_ticks "$pid")
  stop_pid "$pid"
  python3 - "$j" "$corpus" "$(list_bytes "$list")" "$((c1 - c0))" "$(getconf CLK_TCK)" \
      "${PIN_ENGINE:+ pinned}" <<'EOF' | tee -a "$OUT"
import json, sys
j = json.loads(sys.argv[1])
cpu_us = int(sys.argv[4]) / int(sys.argv[5]) * 1e6 / max(j["count"], 1)
print("%s\tclamd-instream\t%d\t%.1f\t%.2f\t%.1f\t%.2f\t%d\tconc=%s%s p50_ms=%s "
      "cpu_us_per_msg=engine:%.0f" % (
    sys.argv[2], j["count"], int(sys.argv[3]) / 1e6, j["seconds"], j["msgs_per_s"], j["MB_per_s"],
    j["verdicts"].get("FOUND", 0), j.get("concurrency", "-"), sys.argv[6], j.get("p50_ms", "-"),
    cpu_us))
EOF
}

# cpu_ticks PID - user + system CPU of every thread of PID so far, in clock ticks
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

yara_row() {  # the yara command takes one target: hard links of the list in one directory
  local corpus=$1 list=$2 n mb t0 t1 found set="$WORK/content-yara-set" threads=2
  if [ -n "$PIN_ENGINE" ]; then threads=1; fi
  n=$(wc -l < "$list"); mb=$(list_bytes "$list")
  rm -rf "$set"; mkdir -p "$set"
  python3 -c 'import os,sys; [os.link(l.rstrip("\n"), "%s/%06d.eml" % (sys.argv[2], i))
    for i, l in enumerate(open(sys.argv[1]))]' "$list" "$set"
  t0=$(now_ns)
  # `times` in the subshell: the user and system CPU of its one child, yara
  ( $PIN_ENGINE yara -p $threads -r "$SRC"/stages/av-b/rules/*.yar "$set" > "$WORK/content-yara.out" \
      2>/dev/null || true; times > "$WORK/content-yara.times" )
  t1=$(now_ns)
  found=$(awk '{print $2}' "$WORK/content-yara.out" | sort -u | wc -l)
  rm -rf "$set"
  awk -v c="$corpus" -v n="$n" -v b="$mb" -v t0="$t0" -v t1="$t1" -v f="$found" -v th="$threads" \
      -v pin="${PIN_ENGINE:+ pinned}" -v cpu="$(sed -n 2p "$WORK/content-yara.times")" 'BEGIN{
    split(cpu, t, /[ms ]+/); sec = t[1]*60 + t[2] + t[3]*60 + t[4]
    s=(t1-t0)/1e9; printf "%s\tyara-cmd\t%d\t%.1f\t%.2f\t%.1f\t%.2f\t%d\tthreads=%d%s cpu_us_per_msg=engine:%.0f\n",
    c, n, b/1e6, s, n/s, b/1e6/s, f, th, pin, sec*1e6/n}' | tee -a "$OUT"
}

for corpus in $CORPORA; do
  L=$(corpus_list "$corpus")
  if [ "$LIMIT" -gt 0 ]; then head -n "$LIMIT" "$L" > "$L.cut"; L="$L.cut"; fi
  if [ "$REPEAT" -gt 1 ]; then
    for _ in $(seq "$REPEAT"); do cat "$L"; done > "$L.rep"; L="$L.rep"
  fi
  log "corpus=$corpus msgs=$(wc -l < "$L") MB=$(list_bytes "$L" | awk '{printf "%.1f", $1/1e6}')"
  for _ in $(seq "$ROUNDS"); do
    for row in $ROWS; do
      case $row in
        clamd) clamd_row "$corpus" "$L" ;;
        yara) yara_row "$corpus" "$L" ;;
        av-a|av-b|mime|content) sluice_row "$corpus" "$row" "$L" ;;
        *) log "unknown row $row" ;;
      esac
    done
  done
done
if [ "$ROUNDS" -gt 1 ]; then
  echo "== medians of $ROUNDS rounds (msgs/s), and each stage against its engine"
  python3 - "$OUT" <<'EOF'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])][1:]
med, cpu = {}, {}
for r in rows:
    med.setdefault((r[0], r[1]), []).append(float(r[5]))
    # cpu_us_per_msg=stage:455,broker:58,client:49 (Sluice) or =engine:502 (yara)
    for word in r[8].split():
        if word.startswith("cpu_us_per_msg="):
            parts = dict(x.split(":") for x in word.split("=", 1)[1].split(","))
            who = "stage" if "stage" in parts else "engine"
            cpu.setdefault((r[0], r[1]), []).append(float(parts[who]))
for (corpus, engine), v in med.items():
    print("%s\t%s\tmedian %.1f msgs/s\truns %s" % (corpus, engine, statistics.median(v),
                                                  " ".join("%.0f" % x for x in v)))
for corpus in sorted({c for c, _ in med}):
    for stage, peer in (("sluice-av-b", "yara-cmd"), ("sluice-av-a", "clamd-instream")):
        if (corpus, stage) in med and (corpus, peer) in med:
            a, b = statistics.median(med[(corpus, stage)]), statistics.median(med[(corpus, peer)])
            print("%s\t%s / %s = %.2fx" % (corpus, stage, peer, a / b))
        if (corpus, stage) in cpu and (corpus, peer) in cpu:
            a, b = statistics.median(cpu[(corpus, stage)]), statistics.median(cpu[(corpus, peer)])
            print("%s\tCPU per message: %s's own process %.0f us, %s %.0f us: the stage does "
                  "the same work in %.2fx the engine's CPU" % (corpus, stage, a, peer, b, a / b))
EOF
fi
echo "== content bench $(machine_facts) repeat=$REPEAT rounds=$ROUNDS byfile=${BYFILE:-1} byfile_min=${BYFILE_MIN:-16384} window=$WINDOW conc=$CONC workers=$WORKERS capacity=$CAPACITY batch=$BATCH load=$(cut -d' ' -f1-3 /proc/loadavg)"
column -t -s $'\t' "$OUT"
