#!/usr/bin/python3
"""bench/bench_accuracy.py - Sluice, SpamAssassin and rspamd on the same Bayes halves.

Issue 7's accuracy benchmark. The SpamAssassin public corpus is split per
class into halves with a fixed seed (bench_score.split); each engine's Bayes
learns the train half, then scores the test half:
  sluice        `sluice learn`, then [mime, url, score] through `sluice start`
                (bench_score.sluice_learn / sluice_scan)
  spamassassin  `sa-learn -L` into a private bayes dir, then a private `spamd -L`
                (stock Debian rules, network tests off, a copy of /etc/spamassassin
                as site config) scored over SPAMC SYMBOLS (the X-Spam-Status score)
  rspamd        the peers' private loopback config (../shared/peers/rspamd_lib.sh
                rs_configure, network modules off), Bayes on a private
                `redis-server`, trained with `rspamc learn_spam/learn_ham` (bulk), scored
                over /checkv2 with "Pass: all"
Prints, per engine, spam recall at the score threshold where ham false
positives are at most 0.5%, the AUC and the scan rate; writes the ROC curves
of all three to bench/out/roc.png (matplotlib, Agg), every score to
bench/out/accuracy-scores.tsv and every message's symbols to
bench/out/accuracy-symbols.tsv. Loopback only; every process is started with
a timeout and stopped by PID; the temporary folder is removed.

Knobs (environment): ACC_MAX_PER_CLASS (messages per class before the split,
fixed-seed sample; default all; under 400 SpamAssassin's and rspamd's Bayes stay
off: both want 200 learned per class), ACC_ENGINES ("sluice spamassassin rspamd"),
ACC_CONC (requests in flight to spamd/rspamd, 8), ACC_SPAMD_CHILDREN (4),
SLUICE_PEERS (default ../shared/peers); bench_score's BENCH_URL_OPTIONS and
BENCH_BAYES_OPTIONS for Sluice's options. --out DIR writes the PNG and TSVs
there instead of bench/out. --replot A.tsv B.tsv redraws the table and PNG
from the score files of runs on the same seed (e.g. one engine run again with
ACC_ENGINES).
"""
import argparse
import concurrent.futures
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import bench_score as bs
from sluice_e2e import free_port  # noqa: E402 (bench_score put tests/e2e on sys.path)

PEERS = os.environ.get("SLUICE_PEERS") or os.path.join(bs.SOURCE, "..", "shared", "peers")
OUT = os.path.join(bs.HERE, "out")
ENGINES = ("sluice", "spamassassin", "rspamd")
LABELS = {"sluice": "Sluice SpamScore (rules + url + Bayes)",
          "sluice-bayes": "Sluice Bayes probability alone", "spamassassin": "SpamAssassin 4.0.1 -L",
          "rspamd": "rspamd 3.4 (network off)"}
LEARN_BATCH = 300       # files per sa-learn / rspamc call
CALL_TIMEOUT = 900      # seconds for any one subprocess
REQUEST_TIMEOUT = 120   # seconds for one scan request


class Procs:
    """Background processes this run started; stop() ends them by PID, newest first."""

    def __init__(self):
        self.procs = []

    def start(self, argv, log_path, **kw):
        log = open(log_path, "ab")
        p = subprocess.Popen(["timeout", str(CALL_TIMEOUT * 4)] + argv, stdout=log,
                             stderr=subprocess.STDOUT, **kw)
        log.close()
        self.procs.append(p)
        return p

    def stop(self):
        while self.procs:
            p = self.procs.pop()
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=10)


def wait_until(probe, what, proc, seconds):
    """Call PROBE until it returns true, PROC dies or SECONDS pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("%s exited with %s" % (what, proc.returncode))
        try:
            if probe():
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError("%s not ready in %d s" % (what, seconds))


def port_open(port):
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        return True


def run(argv, **kw):
    return subprocess.run(argv, check=True, timeout=CALL_TIMEOUT, **kw)


def scan_all(test, one, conc):
    """Scores TEST with ONE(bytes) -> (score, [symbol]), CONC at a time; returns
    ({index: score}, {index: symbols}, seconds, errors). A message that fails
    gets no score."""
    bodies = []
    for path, _ in test:
        with open(path, "rb") as f:
            bodies.append(f.read())
    scores, symbols, errors = {}, {}, []
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(conc) as pool:
        futs = {pool.submit(one, body): i for i, body in enumerate(bodies)}
        for fut in concurrent.futures.as_completed(futs):
            try:
                scores[futs[fut]], symbols[futs[fut]] = fut.result()
            except Exception as e:  # noqa: BLE001 - counted and reported, not fatal
                errors.append("%s: %s" % (os.path.basename(test[futs[fut]][0]), e))
    return scores, symbols, time.monotonic() - t0, errors


# --- SpamAssassin -----------------------------------------------------------

SA_CF = """# bench_accuracy: local tests only, Bayes from the train half, nothing learned while scoring
dns_available no
skip_rbl_checks 1
use_razor2 0
use_pyzor 0
ifplugin Mail::SpamAssassin::Plugin::DCC
use_dcc 0
endif
use_bayes 1
use_bayes_rules 1
bayes_auto_learn 0
bayes_path %(db)s/bayes
bayes_file_mode 0777
ifplugin Mail::SpamAssassin::Plugin::AWL
use_auto_whitelist 0
endif
ifplugin Mail::SpamAssassin::Plugin::TxRep
use_txrep 0
endif
"""


def spamassassin(train, test, tmp, procs, conc, children):
    sa = os.path.join(tmp, "sa")
    site, db, home = (os.path.join(sa, d) for d in ("site", "bayes", "home"))
    shutil.copytree("/etc/spamassassin", site)
    for d in (db, home):
        os.makedirs(d)
    with open(os.path.join(site, "zz_bench_accuracy.cf"), "w") as f:
        f.write(SA_CF % {"db": db})
    prefs = os.path.join(home, "user_prefs")
    open(prefs, "w").close()
    env = dict(os.environ, HOME=home)
    learn = ["sa-learn", "-L", "--siteconfigpath", site, "-p", prefs, "--dbpath", db]
    t0 = time.monotonic()
    for label in ("spam", "ham"):
        files = train[label]
        for i in range(0, len(files), LEARN_BATCH):
            run(learn + ["--no-sync", "--" + label] + files[i:i + LEARN_BATCH], env=env,
                stdout=subprocess.DEVNULL)
    run(learn + ["--sync"], env=env, stdout=subprocess.DEVNULL)
    learn_s = time.monotonic() - t0
    dump = run(learn + ["--dump", "magic"], env=env, capture_output=True, text=True).stdout
    nspam = re.search(r"(\d+)\s+0\s+non-token data: nspam", dump)
    nham = re.search(r"(\d+)\s+0\s+non-token data: nham", dump)
    learned = "%s spam, %s ham" % (nspam.group(1) if nspam else "?", nham.group(1) if nham else "?")
    run(["chown", "-R", "debian-spamd:", sa])

    port = free_port()
    spamd = procs.start(["spamd", "-L", "-x", "-u", "debian-spamd", "-H", home,
                         "--siteconfigpath=" + site, "--listen=127.0.0.1:%d" % port,
                         "--allowed-ips=127.0.0.1", "--min-children=%d" % children,
                         "--max-children=%d" % children, "--min-spare=1",
                         "--max-spare=%d" % children, "--syslog=" + os.path.join(sa, "spamd.log"),
                         "--pidfile=" + os.path.join(sa, "spamd.pid")],
                        os.path.join(sa, "stdout.log"))
    wait_until(lambda: port_open(port), "spamd", spamd, 180)

    def one(body):
        with socket.create_connection(("127.0.0.1", port), timeout=REQUEST_TIMEOUT) as s:
            s.sendall(b"SYMBOLS SPAMC/1.5\r\nContent-length: %d\r\n\r\n" % len(body) + body)
            s.shutdown(socket.SHUT_WR)
            resp = b""
            while len(resp) < 65536:
                chunk = s.recv(4096)
                if not chunk:
                    break
                resp += chunk
        m = re.search(rb"\r\nSpam: (True|False) ; (-?[0-9.]+) / ", resp)
        if b" 0 EX_OK" not in resp.split(b"\r\n", 1)[0] or not m:
            raise RuntimeError(resp[:80].decode(errors="replace"))
        names = resp.split(b"\r\n\r\n", 1)[-1].decode(errors="replace").strip()
        return float(m.group(2)), [n for n in names.split(",") if n]

    one(b"Subject: warm-up\r\n\r\nhello\r\n")
    scores, symbols, scan_s, errors = scan_all(test, one, conc)
    return {"scores": scores, "symbols": symbols, "scan_s": scan_s, "errors": errors, "learn_s": learn_s,
            "learned": learned,
            "setup": "spamd -L, %d children, %d requests in flight" % (children, conc)}


# --- rspamd -----------------------------------------------------------------

def rspamd(train, test, tmp, procs, conc):
    work = os.path.join(tmp, "rspamd-anchors")
    # the peers' private config, in place: network modules off, resolver on a dead port
    cfg = run(["bash", "-c", 'source "$0/common.sh"; source "$0/rspamd_lib.sh"; rs_configure;'
               ' rs_vars; printf "%s\\n" "${RS_VARS[@]}"', os.path.abspath(PEERS)],
              env=dict(os.environ, ANCHORS_WORK=work), capture_output=True, text=True)
    rs_vars = cfg.stdout.split()
    rs = os.path.join(work, "rspamd")
    conf = os.path.join(rs, "etc", "rspamd.conf")
    ports = {"normal": free_port(), "ctrl": free_port(), "proxy": free_port(),
             "fuzzy": free_port(), "redis": free_port()}
    with open(conf) as f:
        text = f.read()
    for old, new in (("12533", "normal"), ("12534", "ctrl"), ("12532", "proxy"),
                     ("12535", "fuzzy")):
        text = text.replace('"127.0.0.1:%s"' % old, '"127.0.0.1:%d"' % ports[new])
    with open(conf, "w") as f:
        f.write(text)
    # Bayes (stock settings, min_learns 200) on a private redis, nothing else uses redis
    with open(os.path.join(rs, "local", "local.d", "classifier-bayes.conf"), "w") as f:
        f.write('servers = "127.0.0.1:%d";\nautolearn = false;\n' % ports["redis"])
    rdir = os.path.join(tmp, "redis")
    os.makedirs(rdir)
    redis = procs.start(["redis-server", "--bind", "127.0.0.1", "--port", str(ports["redis"]),
                         "--save", "", "--appendonly", "no", "--dir", rdir,
                         "--daemonize", "no"], os.path.join(rdir, "redis.log"))
    wait_until(lambda: port_open(ports["redis"]), "redis-server", redis, 60)
    daemon = procs.start(["rspamd", "-f", "-u", "_rspamd", "-g", "_rspamd", "-c", conf] + rs_vars,
                         os.path.join(rs, "log", "stdout.log"))

    def check(body, extra=None):
        c = http.client.HTTPConnection("127.0.0.1", ports["normal"], timeout=REQUEST_TIMEOUT)
        try:
            c.request("POST", "/checkv2", body=body, headers=dict({
                "IP": "192.0.2.10", "Hostname": "mx.example.net", "Helo": "mx.example.net",
                "From": "sender@example.net", "Rcpt": "rcpt@corp.example", "Pass": "all"},
                **(extra or {})))
            r = c.getresponse()
            reply = r.read()
        finally:
            c.close()
        if r.status != 200:
            raise RuntimeError("HTTP %d" % r.status)
        return json.loads(reply)

    wait_until(lambda: check(b"Subject: warm-up\r\n\r\nhello\r\n"), "rspamd", daemon, 300)
    # "Learn-Type: bulk" lifts lua_bayes_learn's default condition (refuse a message
    # Bayes already puts in the class at p >= 0.95), so rspamd learns the whole half
    # as sa-learn and `sluice learn` do; without it about 1,500 of 2,075 ham are refused.
    t0 = time.monotonic()
    learned, refused = {}, {}
    for label in ("spam", "ham"):
        files = train[label]
        learned[label] = 0
        for i in range(0, len(files), LEARN_BATCH):
            out = subprocess.run(["rspamc", "-h", "127.0.0.1:%d" % ports["ctrl"], "-n", str(conc),
                                  "-t", str(REQUEST_TIMEOUT), "--header", "Learn-Type: bulk",
                                  "learn_" + label] +
                                 files[i:i + LEARN_BATCH], capture_output=True, text=True,
                                 timeout=CALL_TIMEOUT).stdout
            learned[label] += len(re.findall(r"success = true", out))
            for why in re.findall(r"(?:error|skipped)[^\n]*", out):  # tally refusals by kind
                why = re.sub(r"<[^>]*>|[0-9.]+%?", "#", why)[:90]
                refused[why] = refused.get(why, 0) + 1
    learn_s = time.monotonic() - t0
    def one(body):
        reply = check(body)
        return float(reply["score"]), sorted("%s=%g" % (n, v.get("score", 0))
                                             for n, v in reply.get("symbols", {}).items())

    scores, symbols, scan_s, errors = scan_all(test, one, conc)
    return {"scores": scores, "symbols": symbols, "scan_s": scan_s, "errors": errors, "learn_s": learn_s,
            "learned": "%d spam, %d ham (rspamc success; refused: %s)" % (
                learned["spam"], learned["ham"],
                "; ".join("%d x %s" % (n, w) for w, n in sorted(refused.items())) or "none"),
            "setup": "%d normal workers, %d requests in flight" % (os.cpu_count() or 1, conc)}


# --- Sluice -----------------------------------------------------------------

def sluice(train, test, tmp):
    db = os.path.join(tmp, "sluice-bayes.db")
    learn_s = bs.sluice_learn(train, db)
    results, scan_s = bs.sluice_scan(test, db)
    return {"scores": {i: r[0] for i, r in results.items()}, "scan_s": scan_s, "errors": [],
            "bayes": {i: r[1] for i, r in results.items()},
            "learn_s": learn_s, "symbols": {i: r[2] for i, r in results.items()},
            "learned": "%d spam, %d ham" % (len(train["spam"]), len(train["ham"])),
            "setup": "[mime, url, score], capacity 2 each, 16 in flight"}


# --- report -----------------------------------------------------------------

def plot(curves, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 5), dpi=90)
    for label, points, note in curves:
        ax.step([max(p[0], 1e-4) for p in points], [p[1] for p in points], where="post",
                label="%s: %s" % (label, note))
    ax.axvline(0.005, color="grey", linestyle=":", linewidth=1)
    ax.text(0.0052, 0.02, "0.5% FP", color="grey", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlim(1e-4 * 0.9, 1.0)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("ham false-positive rate (log scale)")
    ax.set_ylabel("spam recall")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def replot(paths, seed, out):
    """Table and OUT/roc.png from score TSVs of earlier runs with the same
    seed and cap (a later file's column replaces an earlier one of that engine)."""
    labels, cols = {}, {}
    for path in paths:
        with open(path) as f:
            names = f.readline().rstrip("\n").split("\t")[2:]
            for line in f:
                fields = line.rstrip("\n").split("\t")
                if labels.setdefault(fields[0], fields[1]) != fields[1]:
                    raise SystemExit("%s: label of %s differs" % (path, fields[0]))
                for name, value in zip(names, fields[2:]):
                    cols.setdefault(name, {})
                    if value != "-":
                        cols[name][fields[0]] = float(value)
    curves = []
    print("| engine | spam recall at ham FP <= 0.5% | threshold | AUC | messages |\n"
          "|---|---|---|---|---|")
    for name, scores in cols.items():
        floor = min(scores.values(), default=0.0) - 1
        ham = [scores.get(m, floor) for m, lab in labels.items() if lab == "ham"]
        spam = [scores.get(m, floor) for m, lab in labels.items() if lab == "spam"]
        rec, thr = bs.recall_at(ham, spam)
        area = bs.auc(ham, spam)
        print("| %s | %.1f%% | > %.4g | %.4f | %d ham, %d spam, %d unscored |" % (
            name, 100 * rec, thr, area, len(ham), len(spam), len(labels) - len(scores)))
        curves.append((LABELS.get(name, name), bs.roc(ham, spam),
                       "recall %.1f%% @0.5%% FP, AUC %.3f" % (100 * rec, area)))
    os.makedirs(out, exist_ok=True)
    png = os.path.join(out, "roc.png")
    plot(curves, png, "SpamAssassin public corpus, seed %d: test %d ham + %d spam" % (
        seed, len(ham), len(spam)))
    print("\nROC curves: %s" % png)
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--show-fp", type=int, default=0, help="print each engine's N top-scoring ham")
    ap.add_argument("--replot", nargs="+", metavar="TSV",
                    help="no run: merge these accuracy-scores.tsv files into the table and PNG")
    ap.add_argument("--out", default=OUT,
                    help="folder for roc.png and the score/symbol TSVs (default bench/out)")
    args = ap.parse_args()
    if args.replot:
        return replot(args.replot, args.seed, args.out)
    cap = int(os.environ.get("ACC_MAX_PER_CLASS", "0")) or None
    engines = os.environ.get("ACC_ENGINES", " ".join(ENGINES)).split()
    conc = int(os.environ.get("ACC_CONC", "8"))
    children = int(os.environ.get("ACC_SPAMD_CHILDREN", "4"))
    corpus = os.path.join(bs.CORPUS, "spamassassin-public-corpus")
    if not os.path.isdir(corpus):
        print("bench_accuracy: corpus not found at %s (set SLUICE_CORPUS)" % corpus,
              file=sys.stderr)
        return 77
    missing = [t for t, e in (("spamd", "spamassassin"), ("sa-learn", "spamassassin"),
                              ("rspamd", "rspamd"), ("rspamc", "rspamd"),
                              ("redis-server", "rspamd")) if e in engines and not shutil.which(t)]
    if missing or os.geteuid() != 0:
        print("bench_accuracy: needs root (spamd/rspamd drop to their users) and %s; "
              "see scripts/deps.bench: bash scripts/deps.sh --bench" % (" ".join(missing) or "nothing else"), file=sys.stderr)
        return 77
    os.makedirs(args.out, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="sluice-bench-accuracy-")
    os.chmod(tmp, 0o711)  # spamd and rspamd run as their own users inside it
    procs = Procs()
    try:
        train, test = bs.split(bs.unpack(corpus, os.path.join(tmp, "corpus")), args.seed, cap)
        print("seed %d: train %d ham + %d spam, test %d ham + %d spam%s" % (
            args.seed, len(train["ham"]), len(train["spam"]),
            sum(1 for _, lab in test if lab == "ham"), sum(1 for _, lab in test if lab == "spam"),
            " (sample: at most %d per class)" % cap if cap else " (whole corpus)"))
        res = {}
        for name in engines:
            t0 = time.monotonic()
            if name == "sluice":
                res[name] = sluice(train, test, tmp)
            elif name == "spamassassin":
                res[name] = spamassassin(train, test, tmp, procs, conc, children)
            elif name == "rspamd":
                res[name] = rspamd(train, test, tmp, procs, conc)
            else:
                raise SystemExit("unknown engine %s" % name)
            procs.stop()
            r = res[name]
            print("%s: learned %s in %.1fs; scanned %d in %.1fs (%s), %d errors; %.0fs in all" % (
                name, r["learned"], r["learn_s"], len(r["scores"]), r["scan_s"], r["setup"],
                len(r["errors"]), time.monotonic() - t0), flush=True)
            for e in r["errors"][:5]:
                print("  error: %s" % e)

        curves = []
        print("\n| engine | spam recall at ham FP <= 0.5% | threshold | AUC | msgs/s (scan) |"
              " errors |\n|---|---|---|---|---|---|")
        rows = []
        for name in engines:
            rows.append((name, res[name]))
            if name == "sluice":  # the Bayes part of Sluice's score on its own, for comparison
                rows.append(("sluice-bayes", dict(res[name], scores=res[name]["bayes"],
                                                  symbols={})))
        for name, r in rows:
            # a message an engine failed on counts as its lowest possible score
            floor = min(r["scores"].values(), default=0.0) - 1
            ham = [r["scores"].get(i, floor) for i, (_, lab) in enumerate(test) if lab == "ham"]
            spam = [r["scores"].get(i, floor) for i, (_, lab) in enumerate(test) if lab == "spam"]
            rec, thr = bs.recall_at(ham, spam)
            area = bs.auc(ham, spam)
            print("| %s | %.1f%% | > %.4g | %.4f | %.1f | %d |" % (
                name, 100 * rec, thr, area, len(test) / r["scan_s"], len(r["errors"])))
            curves.append((LABELS[name], bs.roc(ham, spam),
                           "recall %.1f%% @0.5%% FP, AUC %.3f" % (100 * rec, area)))
            top = sorted(((r["scores"].get(i, floor), i) for i, (_, lab) in enumerate(test)
                          if lab == "ham"), reverse=True)
            for score, i in top[:args.show_fp]:
                print("  %s ham %.2f %s %s" % (name, score, os.path.relpath(test[i][0], tmp),
                                               " ".join(r.get("symbols", {}).get(i, []))))
        png = os.path.join(args.out, "roc.png")
        plot(curves, png, "SpamAssassin public corpus, seed %d: test %d ham + %d spam" % (
            args.seed, len(ham), len(spam)))
        tsv = os.path.join(args.out, "accuracy-scores.tsv")
        with open(tsv, "w") as f:
            f.write("path\tlabel\t%s\n" % "\t".join(name for name, _ in rows))
            for i, (path, lab) in enumerate(test):
                f.write("%s\t%s\t%s\n" % (os.path.relpath(path, os.path.join(tmp, "corpus")), lab,
                                          "\t".join("%g" % r["scores"][i] if i in r["scores"]
                                                    else "-" for _, r in rows)))
        syms = os.path.join(args.out, "accuracy-symbols.tsv")
        with open(syms, "w") as f:
            f.write("engine\tpath\tlabel\tscore\tsymbols\n")
            for name, r in rows:
                for i in sorted(r.get("symbols") or {}):
                    f.write("%s\t%s\t%s\t%g\t%s\n" % (
                        name, os.path.relpath(test[i][0], os.path.join(tmp, "corpus")),
                        test[i][1], r["scores"][i], " ".join(r["symbols"][i])))
        print("\nROC curves: %s\nscores: %s\nsymbols: %s" % (png, tsv, syms))
        return 0
    finally:
        procs.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
