#!/usr/bin/python3
"""bench/bench_score.py - Bayes accuracy and url+score throughput on the SpamAssassin corpus.

Unpacks ../shared/corpus/spamassassin-public-corpus (SLUICE_CORPUS) into a
temporary folder, splits ham and spam each into halves with a fixed seed,
trains the score stage's Bayes on one half with `sluice learn`, then runs the other half through `sluice start` with the graph
[mime, url, score] (default rules + Bayes) over the client protocol, WINDOW
messages in flight. Prints messages/s and, for the SpamScore and for the
Bayes probability alone, spam recall at the threshold where at most 0.5% of
ham is above it; --roc FILE writes the ROC points (TSV: fpr, tpr, threshold).
Everything it starts is stopped by PID; the temporary folder is removed.
Knobs (environment), for before/after runs of the options: BENCH_URL_OPTIONS
(flow-map entries for the url stage, e.g. "own_domain_trackers: false") and
BENCH_BAYES_OPTIONS (entries added to the score stage's bayes: map, e.g.
"weight: bands").
bench/bench_accuracy.py imports the split, Sluice and metric helpers from here
to put SpamAssassin and rspamd beside Sluice on the same halves.
"""
import argparse
import os
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("SLUICE_SOURCE") or os.path.join(HERE, "..")
sys.path.insert(0, os.path.join(SOURCE, "tests", "e2e"))
from sluice_e2e import BIN, CORPUS, Client, Gateway, envelope  # noqa: E402

CONFIG = """
stages:
  - name: mime
    command: [sluice-stage-mime]
    timeout: 60s
    capacity: 2
  - name: url
    command: [sluice-stage-url]
    timeout: 60s
    capacity: 2
    options: {%(url_opts)s}
  - name: score
    command: [sluice-stage-score]
    timeout: 60s
    capacity: 2
    options:
      rules: %(rules)s
      bayes: {store: "sqlite:%(db)s"%(bayes_opts)s}
graphs:
  default:
    content: [mime, url, score]
"""


def unpack(corpus, into):
    """{relative path: label} for every message of the corpus, unpacked INTO."""
    labels = {}
    with open(os.path.join(corpus, "index.tsv")) as f:
        next(f)
        for line in f:
            path, label = line.split("\t")[:2]
            labels[path] = label
    for name in sorted(os.listdir(corpus)):
        if name.endswith(".tar.xz"):
            with tarfile.open(os.path.join(corpus, name)) as tar:
                # Debian 12's Python has no extraction filter: take plain files only.
                safe = [m for m in tar.getmembers() if (m.isfile() or m.isdir()) and
                        not m.name.startswith("/") and ".." not in m.name.split("/")]
                tar.extractall(into, members=safe)
    found = {}
    for root, _, files in os.walk(into):
        for name in files:
            rel = os.path.relpath(os.path.join(root, name), into)
            if rel in labels:
                found[os.path.join(into, rel)] = labels[rel]
    return found


def recall_at(ham, spam, max_fpr=0.005):
    """(recall, threshold): spam share strictly above the lowest threshold with ham FPR <= max."""
    ham = sorted(ham, reverse=True)
    allowed = int(len(ham) * max_fpr)  # ham messages allowed above the threshold
    threshold = ham[allowed] if allowed < len(ham) else float("-inf")
    return sum(1 for s in spam if s > threshold) / len(spam), threshold


def roc(ham, spam):
    """[(fpr, tpr, threshold)]: the shares of ham and spam scoring >= each distinct score."""
    scored = sorted([(s, 0) for s in ham] + [(s, 1) for s in spam], reverse=True)
    points, n_ham, n_spam, i = [], 0, 0, 0
    while i < len(scored):
        t = scored[i][0]
        while i < len(scored) and scored[i][0] == t:
            n_spam += scored[i][1]
            n_ham += 1 - scored[i][1]
            i += 1
        points.append((n_ham / len(ham), n_spam / len(spam), t))
    return points


def split(msgs, seed, cap=None):
    """(train {label: [path]}, test [(path, label)]): each class shuffled with SEED
    (ham first, then spam), cut to CAP messages when given, then halved."""
    rng = random.Random(seed)
    train, test = {"ham": [], "spam": []}, []
    for label in ("ham", "spam"):
        files = sorted(p for p, lab in msgs.items() if lab == label)
        rng.shuffle(files)
        if cap:
            files = files[:cap]
        half = len(files) // 2
        train[label] = files[:half]
        test += [(p, label) for p in files[half:]]
    return train, test


def auc(ham, spam):
    """Area under the ROC curve: P(spam score > ham score), ties counted half."""
    order = sorted([(s, 0) for s in ham] + [(s, 1) for s in spam])
    rank_sum, i = 0.0, 0
    while i < len(order):  # average ranks over runs of equal scores
        j = i
        while j < len(order) and order[j][0] == order[i][0]:
            j += 1
        rank_sum += sum(lab for _, lab in order[i:j]) * (i + j + 1) / 2.0
        i = j
    return (rank_sum - len(spam) * (len(spam) + 1) / 2.0) / (len(ham) * len(spam))


def sluice_learn(train, db, timeout=600):
    """Train Bayes in sqlite DB with `sluice learn` on TRAIN; returns seconds."""
    t0 = time.monotonic()
    for label in ("spam", "ham"):
        files = train[label]
        for i in range(0, len(files), 400):
            subprocess.run([os.path.join(BIN, "sluice"), "learn", "--store", "sqlite:" + db,
                            "--" + label] + files[i:i + 400], check=True,
                           stdout=subprocess.DEVNULL, timeout=timeout)
    return time.monotonic() - t0


def sluice_scan(test, db, window=16):
    """Run TEST through [mime, url, score] with Bayes in DB; returns ({index:
    (SpamScore, bayes_p, symbols)}, seconds)."""
    rules = os.path.join(SOURCE, "stages", "score", "rules")
    bayes_opts = os.environ.get("BENCH_BAYES_OPTIONS", "")
    config = CONFIG % {"rules": rules, "db": db, "url_opts": os.environ.get("BENCH_URL_OPTIONS", ""),
                       "bayes_opts": ", " + bayes_opts if bayes_opts else ""}
    gw = Gateway(config, name="bench-score")
    try:
        gw.start({"mime": 1, "url": 1, "score": 1}, timeout=60)
        client = Client(gw.front)
        pending, results, nxt = {}, {}, 0
        t0 = time.monotonic()
        while nxt < len(test) or pending:
            while nxt < len(test) and len(pending) < window:
                path, label = test[nxt]
                with open(path, "rb") as f:
                    body = f.read()
                req = client.submit(envelope("B%09d" % nxt, size=len(body)), body)
                pending[req] = nxt
                nxt += 1
            got = client.recv(timeout_ms=120000)
            if got is None:
                raise RuntimeError("no answer in 120 s\n" + gw.tail())
            req, status, env = got
            i = pending.pop(req)
            if status != "ok":
                raise RuntimeError("%s: %s %s" % (test[i][0], status, env))
            fields = env["verdicts"]["score"].get("fields", {})
            syms = sorted("%s=%g" % (n, s["score"]) for v in env["verdicts"].values()
                          for n, s in v.get("symbols", {}).items())
            results[i] = (env.get("score", 0.0), fields.get("bayes_p", 0.5), syms)
        scan_s = time.monotonic() - t0
        client.close()
        return results, scan_s
    finally:
        gw.cleanup()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--window", type=int, default=16)
    ap.add_argument("--roc", help="write ROC points (TSV) here")
    ap.add_argument("--show-fp", type=int, default=0, help="print the N top-scoring ham")
    args = ap.parse_args()
    corpus = os.path.join(CORPUS, "spamassassin-public-corpus")
    if not os.path.isdir(corpus):
        print("bench_score: corpus not found at %s (set SLUICE_CORPUS)" % corpus, file=sys.stderr)
        return 77
    tmp = tempfile.mkdtemp(prefix="sluice-bench-score-")
    try:
        train, test = split(unpack(corpus, os.path.join(tmp, "corpus")), args.seed)
        db = os.path.join(tmp, "bayes.db")
        learn_s = sluice_learn(train, db)
        print("trained: %d spam, %d ham in %.1fs (%.0f messages/s)" % (
            len(train["spam"]), len(train["ham"]), learn_s,
            (len(train["spam"]) + len(train["ham"])) / learn_s))
        results, scan_s = sluice_scan(test, db, args.window)
        print("scanned: %d messages through [mime, url, score] in %.1fs: %.1f messages/s "
              "(window %d, capacity 2 each)" % (len(test), scan_s, len(test) / scan_s,
                                                 args.window))
        ham_top = sorted((results[i][0], test[i][0], results[i][2])
                         for i in range(len(test)) if test[i][1] == "ham")[::-1]
        for score, path, syms in ham_top[:args.show_fp]:
            print("  ham %.2f %s: %s" % (score, os.path.relpath(path, tmp), " ".join(syms)))
        for name, k in (("SpamScore (rules + Bayes + url)", 0), ("Bayes probability alone", 1)):
            ham = [results[i][k] for i, (_, lab) in enumerate(test) if lab == "ham"]
            spam = [results[i][k] for i, (_, lab) in enumerate(test) if lab == "spam"]
            r, t = recall_at(ham, spam)
            print("%s: spam recall %.1f%% at ham FPR <= 0.5%% (threshold > %.4g; test %d ham, "
                  "%d spam)" % (name, 100 * r, t, len(ham), len(spam)))
            if args.roc and k == 0:
                with open(args.roc, "w") as f:
                    f.write("fpr\ttpr\tthreshold\n")
                    for fpr, tpr, th in roc(ham, spam):
                        f.write("%.5f\t%.5f\t%.6g\n" % (fpr, tpr, th))
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
