#!/usr/bin/python3
"""tests/e2e/test_symbol_tables.py - every symbol a stage emits is in its table.

For each stage, the symbol-name string literals of its C sources (comments
left out; names with the stage's prefixes) must be rows of its
stages/STAGE/symbols.tsv, a literal ending in "_" (a prefix the code
completes) must be covered by a row starting with it or a PREFIX* row, and
every row must be something the code emits. Where the C code still writes a
weight beside a name ({"SPF_FAIL", 2.0}, mime_finding(res, "MIME_X", 6.0,
...), av_report.c's hit and unscannable weights), the table must say the same;
url and score have no such literals left: their C weights are generated from
the table (stages/symbols.cmake). Then the built tree: each table a stage
installs is the source's, and `sluice symbols` lists every row.
"""
import glob
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from sluice_e2e import BIN, SOURCE, main  # noqa: E402

# stage -> the prefixes of the symbols it emits (others are symbols it reads).
STAGES = {
    "rbl": ("RBL_",),
    "greylist": ("GREYLIST_",),
    "mime": ("MIME_",),
    "av-a": ("AV_A_",),
    "av-b": ("AV_B_",),
    "headers": ("SPF_", "DKIM_", "DMARC_", "HEADERS_"),
    "url": ("URL_",),
    "score": ("BAYES_", "SENDER_"),
    "action": ("ACTION_",),
}
# Sources a stage compiles from other folders.
EXTRA = {"av-b": ["av-a/av_report.c"], "av-a": ["av-a/av_report.c"]}
LITERAL = re.compile(r'"([A-Z][A-Z0-9]*_[A-Z0-9_]*)"')
NUMBER = r'(-?[0-9]+(?:\.[0-9]+)?)'


def source_text(stage):
    files = sorted(glob.glob(os.path.join(SOURCE, "stages", stage, "*.c")))
    files += [os.path.join(SOURCE, "stages", f) for f in EXTRA.get(stage, [])]
    text = ""
    for path in files:
        with open(path, errors="replace") as f:
            body = f.read()
        body = re.sub(r"/\*.*?\*/", " ", body, flags=re.S)  # comments name examples
        body = re.sub(r"//[^\n]*", " ", body)
        text += body + "\n"
    return text


def table(stage):
    """{name: weight text} of stages/STAGE/symbols.tsv, or None when it has none."""
    path = os.path.join(SOURCE, "stages", stage, "symbols.tsv")
    if not os.path.exists(path):
        return None
    rows = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            cols = line.split("\t")
            assert len(cols) == 3 and cols[2].strip(), "%s:%d: NAME<TAB>weight<TAB>text" % (path, n)
            assert cols[1] == "-" or re.fullmatch(NUMBER, cols[1]), "%s:%d: weight" % (path, n)
            assert cols[0] not in rows, "%s:%d: %s twice" % (path, n, cols[0])
            rows[cols[0]] = cols[1]
    return rows


def c_weights(stage, text):
    """{name: weight} the C code writes beside a name."""
    out = {}
    for m in re.finditer(r'"([A-Z][A-Z0-9_]*)"\s*,\s*' + NUMBER + r'\s*[,)}]', text):
        out.setdefault(m.group(1), m.group(2))
    hit = re.search(r"r->hit_symbol,\s*" + NUMBER, text)
    unscannable = re.search(r"r->unscannable_symbol,\s*" + NUMBER, text)
    for field, m in (("hit_symbol", hit), ("unscannable_symbol", unscannable)):
        for name in re.findall(r'\.%s\s*=\s*"([A-Z0-9_]+)"' % field, text):
            if m:
                out[name] = m.group(1)
    return out


class Tables(unittest.TestCase):
    def test_every_emitted_symbol_is_in_its_table(self):
        for stage, prefixes in STAGES.items():
            with self.subTest(stage):
                text = source_text(stage)
                emitted = {n for n in LITERAL.findall(text) if n.startswith(prefixes)}
                rows = table(stage)
                if rows is None:
                    self.assertEqual(emitted, set(), "%s emits symbols but has no symbols.tsv"
                                     % stage)
                    continue
                families = [r[:-1] for r in rows if r.endswith("*")]
                for name in sorted(emitted):
                    if name.endswith("_"):
                        covered = any(r.startswith(name) for r in rows) or \
                            any(name.startswith(f) or f.startswith(name) for f in families)
                        self.assertTrue(covered, "%s: prefix %s has no row" % (stage, name))
                    else:
                        self.assertIn(name, rows, "%s emits %s: not in stages/%s/symbols.tsv"
                                      % (stage, name, stage))
                for name in rows:
                    if not name.endswith("*"):
                        self.assertIn(name, emitted, "%s: table row %s is never emitted"
                                      % (stage, name))

    def test_weights_agree(self):
        for stage in STAGES:
            rows = table(stage)
            if rows is None:
                continue
            with self.subTest(stage):
                written = c_weights(stage, source_text(stage))
                for name, weight in written.items():
                    if name in rows and rows[name] != "-":
                        self.assertAlmostEqual(float(rows[name]), float(weight), places=6,
                                               msg="%s: %s is %s in C, %s in the table"
                                               % (stage, name, weight, rows[name]))
                if stage in ("url", "score"):
                    dup = sorted(n for n in written if n in rows)
                    self.assertEqual(dup, [], "%s writes weights again in C: %s" % (stage, dup))

    def test_installed_tables_and_sluice_symbols(self):
        sluice = os.path.join(BIN, "sluice")
        if not os.path.exists(sluice):
            self.skipTest("sluice not built")
        share = os.path.join(BIN, "..", "share", "sluice", "symbols")
        r = subprocess.run([sluice, "symbols"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        listed = {}
        for line in r.stdout.splitlines()[1:]:
            cols = line.split()
            if len(cols) >= 4:
                listed[cols[0]] = cols[3]
        checked = 0
        for stage in STAGES:
            rows = table(stage)
            built = os.path.exists(os.path.join(BIN, "sluice-stage-" + stage))
            if rows is None or not built:
                continue
            installed = os.path.join(share, stage + ".tsv")
            self.assertTrue(os.path.exists(installed), installed)
            with open(installed) as a, open(os.path.join(SOURCE, "stages", stage,
                                                         "symbols.tsv")) as b:
                self.assertEqual(a.read(), b.read(), installed)
            for name in rows:
                self.assertEqual(listed.get(name), stage, "sluice symbols: %s" % name)
                checked += 1
        self.assertGreater(checked, 20)


if __name__ == "__main__":
    main()
