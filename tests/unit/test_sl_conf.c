/*
 * tests/unit/test_sl_conf.c - the core config model: defaults, values, mistakes.
 *
 * A table of labelled configs, each taken or refused with the exact lines an
 * operator would read; then the values of a full config, the defaults, the
 * embedded default and etc/sluice.yaml (found through SLUICE_SOURCE, which
 * ctest sets; skipped without it).
 */
#include "sl_conf.h"
#include "sl_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "sl_test.h"

/* The smallest valid config, as the tail of many cases below. */
#define S_STAGES_A "stages:\n  - name: a\n"
#define S_GRAPH_A "graphs:\n  default:\n    content: [a]\n"

static const struct {
    const char *label, *in;
    const char *err; /* NULL: taken; else every error line, exactly */
} s_cases[] = {
    {"smallest config", S_STAGES_A S_GRAPH_A, NULL},
    {"sections of other processes are not checked here",
     "smtpd:\n  listen: [x]\n  whatever: 1\nspool: {}\ndelivery:\nquarantine: 1\npolicy: []\n"
     "dns: x\nmetrics:\narchive:\n" S_STAGES_A S_GRAPH_A,
     NULL},
    {"null phases and empty log section",
     "log:\n" S_STAGES_A "graphs:\n  default:\n    connect:\n    rcpt: []\n    content: [a]\n",
     NULL},
    {"parallel group",
     "stages:\n  - name: a\n  - name: b\n  - name: c\n"
     "graphs:\n  default:\n    content: [a, [b, c]]\n    rcpt: [a]\n",
     NULL},
    {"empty file", "",
     "s.yaml: expected a map of settings (stages:, graphs: ...), found an empty file"},
    {"top level list", "- a\n",
     "s.yaml:1: expected a map of settings (stages:, graphs: ...), found a list"},
    {"unknown top-level key", "stagse: []\n" S_STAGES_A S_GRAPH_A,
     "s.yaml:1: stagse: expected one of data_dir, run_dir, log, broker, stages, graphs, smtpd, "
     "spool, delivery, quarantine, policy, dns, metrics, archive, found an unknown key; did you "
     "mean stages?"},
    {"relative data_dir", "data_dir: var/lib/sluice\n" S_STAGES_A S_GRAPH_A,
     "s.yaml:1: data_dir: expected an absolute path, found \"var/lib/sluice\""},
    {"run_dir a list", "run_dir: [/run]\n" S_STAGES_A S_GRAPH_A,
     "s.yaml:1: run_dir: expected a string, found a list"},
    {"bad log level", "log:\n  level: loud\n" S_STAGES_A S_GRAPH_A,
     "s.yaml:2: log.level: expected debug, info, warn or error, found \"loud\""},
    {"unknown log key", "log:\n  levle: info\n" S_STAGES_A S_GRAPH_A,
     "s.yaml:2: log.levle: expected one of level, found an unknown key; did you mean level?"},
    {"body_file_dirs not absolute",
     "broker:\n  body_file_dirs: [relative/dir, /ok]\n" S_STAGES_A S_GRAPH_A,
     "s.yaml:2: broker.body_file_dirs: expected an absolute folder, found relative/dir"},
    {"body_file_dirs a scalar", "broker:\n  body_file_dirs: /one\n" S_STAGES_A S_GRAPH_A,
     "s.yaml:2: broker.body_file_dirs: expected a list of absolute folders"},
    {"log a scalar", "log: debug\n" S_STAGES_A S_GRAPH_A,
     "s.yaml:1: log: expected a map, found \"debug\""},
    {"broker mistakes",
     "broker:\n  heartbeat: two\n  max_messages: 0\n  poison_limit: 101\n"
     "  message_timeout: 5x\n  max_frame: 1T\n  frontend: http://x\n  backend: tcp://\n"
     "  hartbeat: 1s\n" S_STAGES_A S_GRAPH_A,
     "s.yaml:9: broker.hartbeat: expected one of frontend, backend, heartbeat, max_messages, "
     "poison_limit, message_timeout, max_frame, body_file_dirs, body_file_min, found an "
     "unknown key; "
     "did you mean heartbeat?\n"
     "s.yaml:7: broker.frontend: expected an endpoint ipc:///path, tcp://host:port or "
     "inproc://name, found \"http://x\"\n"
     "s.yaml:8: broker.backend: expected an endpoint ipc:///path, tcp://host:port or "
     "inproc://name, found \"tcp://\"\n"
     "s.yaml:2: broker.heartbeat: expected a duration (ms, s, m, h or d; bare = ms) 10ms..1m, "
     "found \"two\"\n"
     "s.yaml:3: broker.max_messages: expected a whole number 1..1000000, found \"0\"\n"
     "s.yaml:4: broker.poison_limit: expected a whole number 1..100, found \"101\"\n"
     "s.yaml:5: broker.message_timeout: expected a duration (ms, s, m, h or d; bare = ms) "
     "10ms..1d, found \"5x\"\n"
     "s.yaml:6: broker.max_frame: expected a size (k, M or G; bare = bytes) 4k..1G, found \"1T\""},
    {"ipc endpoint too long",
     "broker:\n  frontend: ipc:///" /* 110 bytes of path */
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaa\n" S_STAGES_A S_GRAPH_A,
     "s.yaml:2: broker.frontend: expected an ipc path of at most 107 bytes, found "
     "\"ipc:///aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\""},
    /* 89 bytes: broker-back.sock still fits in 107, broker-front.sock does not. */
    {"run_dir too long for default endpoints",
     "run_dir: /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaa\n" S_STAGES_A S_GRAPH_A,
     "s.yaml:1: run_dir: expected a path short enough for the default broker.frontend "
     "ipc://RUN_DIR/broker-front.sock (a socket path of at most 107 bytes), found 108 bytes"},
    {"no stages section", S_GRAPH_A,
     "s.yaml:1: stages: expected a list of at least one stage, found no stages: section"},
    {"empty stages list", "stages: []\ngraphs:\n  default:\n",
     "s.yaml:1: stages: expected a list of at least one stage, found none"},
    {"stages a map", "stages:\n  a: {}\n" S_GRAPH_A,
     "s.yaml:1: stages: expected a list, found a map"},
    {"stage mistakes",
     "stages:\n"
     "  - name: a\n"
     "    workers: two\n"
     "    capacity: 0\n"
     "    timeout: 1.5s\n"
     "    retries: 11\n"
     "    on_error: classify:ham\n"
     "    queue_max: -1\n"
     "    wokers: 2\n" S_GRAPH_A,
     "s.yaml:9: stages[0].wokers: expected one of name, command, workers, capacity, timeout, "
     "retries, on_error, queue_max, counters, options, batch, found an unknown key; did you mean workers?\n"
     "s.yaml:3: stages[0].workers: expected a whole number 0..64, found \"two\"\n"
     "s.yaml:4: stages[0].capacity: expected a whole number 1..256, found \"0\"\n"
     "s.yaml:5: stages[0].timeout: expected a duration (ms, s, m, h or d; bare = ms) 10ms..1h, "
     "found \"1.5s\"\n"
     "s.yaml:6: stages[0].retries: expected a whole number 0..10, found \"11\"\n"
     "s.yaml:7: stages[0].on_error: expected pass, tempfail or classify:CLASS (clean, spam, "
     "virus, banned, bad-header, oversized), found \"classify:ham\"\n"
     "s.yaml:8: stages[0].queue_max: expected a whole number 1..1000000, found \"-1\""},
    {"stage names",
     "stages:\n  - name: a\n  - name: -x\n  - name: a b\n  - name: a\n"
     "  - workers: 1\n  - name: [a]\n  - just-a-name\n" S_GRAPH_A,
     "s.yaml:3: stages[1].name: expected a name of 1..64 letters, digits, '.', '_' or '-' (not "
     "first), found \"-x\"\n"
     "s.yaml:4: stages[2].name: expected a name of 1..64 letters, digits, '.', '_' or '-' (not "
     "first), found \"a b\"\n"
     "s.yaml:5: stages[3].name: expected a name not used before, as at line 2, found \"a\"\n"
     "s.yaml:6: stages[4]: expected a stage with a name: key, found a map\n"
     "s.yaml:7: stages[5].name: expected a name of 1..64 letters, digits, '.', '_' or '-' (not "
     "first), found a list\n"
     "s.yaml:8: stages[6]: expected a stage (a map with name, command, workers...), found "
     "\"just-a-name\""},
    {"commands",
     "stages:\n  - name: a\n    command: []\n  - name: b\n    command: {x: 1}\n"
     "  - name: c\n    command: \"  \"\n  - name: d\n    command: ['', x]\n"
     "  - name: e\n    command: [x, [y]]\n" S_GRAPH_A,
     "s.yaml:3: stages[0].command: expected a program name, or a list of program and arguments "
     "(at most 32), found a list\n"
     "s.yaml:5: stages[1].command: expected a program name, or a list of program and arguments "
     "(at most 32), found a map\n"
     "s.yaml:7: stages[2].command: expected a program name, or a list of program and arguments "
     "(at most 32), found \"  \"\n"
     "s.yaml:9: stages[3].command[0]: expected a program name, found \"\"\n"
     "s.yaml:11: stages[4].command[1]: expected an argument (a string), found a list"},
    {"no graphs", S_STAGES_A,
     "s.yaml:1: graphs: expected a graph named default, found no graphs: section"},
    {"no default graph", S_STAGES_A "graphs:\n  other:\n    content: [a]\n",
     "s.yaml:3: graphs: expected a graph named default, found none"},
    {"graph mistakes",
     "stages:\n  - name: a\n  - name: b\n"
     "graphs:\n"
     "  default:\n"
     "    connect: [a, a]\n"
     "    rcpt: [zz, [a], [a, [b]], {a: 1}, ~]\n"
     "    content: [a, [b, a]]\n"
     "    contnet: []\n"
     "  bad name: {}\n"
     "  scalar: x\n"
     "  phases: {connect: a}\n",
     "s.yaml:9: graphs.default.contnet: expected one of connect, rcpt, content, found an unknown "
     "key; did you mean content?\n"
     "s.yaml:6: graphs.default.connect[1]: expected each stage at most once per phase, found "
     "\"a\"\n"
     "s.yaml:7: graphs.default.rcpt[0]: expected a stage defined under stages: (a, b), found "
     "\"zz\"\n"
     "s.yaml:7: graphs.default.rcpt[1]: expected a parallel group of 2..16 stages (this has 1), "
     "found a list\n"
     "s.yaml:7: graphs.default.rcpt[2][1]: expected a stage name (parallel groups do not nest), "
     "found a list\n"
     "s.yaml:7: graphs.default.rcpt[3]: expected a stage name or a list of stage names run in "
     "parallel, found a map\n"
     "s.yaml:7: graphs.default.rcpt[4]: expected a stage name or a list of stage names run in "
     "parallel, found nothing\n"
     "s.yaml:8: graphs.default.content[1][1]: expected each stage at most once per phase, found "
     "\"a\"\n"
     "s.yaml:10: graphs: expected a name of 1..64 letters, digits, '.', '_' or '-' (not first), "
     "found \"bad name\"\n"
     "s.yaml:11: graphs.scalar: expected a graph (a map of connect, rcpt, content), found \"x\"\n"
     "s.yaml:12: graphs.phases.connect: expected a list, found \"a\""},
    {"mistakes from the parser come first and alone", "a: &x 1\nstages: 5\n",
     "s.yaml:1: expected plain values, found an anchor &x (not supported)"},
};

static void
test_cases(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof s_cases / sizeof s_cases[0]; i++) {
        const char *label = s_cases[i].label, *in = s_cases[i].in;
        char err[8192] = "untouched";
        sl_cfg_t *cfg = sl_cfg_parse(in, strlen(in), "s.yaml", err, sizeof err);
        sl_conf_t *conf = cfg ? sl_conf_from_cfg(&cfg, err, sizeof err) : NULL;
        assert_null(cfg);
        if (s_cases[i].err == NULL) {
            s_check(conf != NULL, label, "refused:\n%s", err);
            s_check(err[0] == '\0', label, "err not cleared: %s", err);
        } else {
            s_check(conf == NULL, label, "taken, expected:\n%s", s_cases[i].err);
            s_check(strcmp(err, s_cases[i].err) == 0, label, "errors\n%s\nexpected\n%s", err,
                    s_cases[i].err);
        }
        sl_conf_destroy(&conf);
    }
}

/* s_from - a config from TEXT that must load. */
static sl_conf_t *
s_from(const char *text)
{
    char err[4096];
    sl_cfg_t *cfg = sl_cfg_parse(text, strlen(text), "s.yaml", err, sizeof err);
    if (cfg == NULL)
        print_error("%s\n", err);
    assert_non_null(cfg);
    sl_conf_t *conf = sl_conf_from_cfg(&cfg, err, sizeof err);
    if (conf == NULL)
        print_error("%s\n", err);
    assert_non_null(conf);
    return conf;
}

static void
s_assert_broker(const sl_conf_broker_t *got, const sl_conf_broker_t *want)
{
    assert_string_equal(got->frontend, want->frontend);
    assert_string_equal(got->backend, want->backend);
    assert_int_equal(got->heartbeat_ms, want->heartbeat_ms);
    assert_int_equal(got->max_messages, want->max_messages);
    assert_int_equal(got->poison_limit, want->poison_limit);
    assert_int_equal(got->message_timeout_ms, want->message_timeout_ms);
    assert_int_equal(got->max_frame_bytes, want->max_frame_bytes);
}

static void
test_full(void **state)
{
    (void) state;
    sl_conf_t *conf = s_from("data_dir: /srv/sluice\n"
                             "run_dir: /tmp/s\n"
                             "log: {level: debug}\n"
                             "broker:\n"
                             "  backend: tcp://0.0.0.0:5555\n"
                             "  heartbeat: 250ms\n"
                             "  max_messages: 5\n"
                             "  poison_limit: 1\n"
                             "  message_timeout: 1h\n"
                             "  max_frame: 1M\n"
                             "stages:\n"
                             "  - name: av-a\n"
                             "    command: /usr/bin/python3  stage.py\t--fast\n"
                             "    workers: 0\n"
                             "    capacity: 256\n"
                             "    timeout: 30s\n"
                             "    retries: 0\n"
                             "    on_error: classify:virus\n"
                             "    queue_max: 7\n"
                             "  - name: b.2_x\n"
                             "    command: [prog, 'an arg', '']\n"
                             "    on_error: tempfail\n"
                             "  - name: c\n"
                             "graphs:\n"
                             "  default:\n"
                             "    connect: [c]\n"
                             "    content: [c, [av-a, b.2_x]]\n"
                             "  replay-test: {}\n");
    assert_string_equal(conf->path, "s.yaml");
    assert_non_null(conf->cfg);
    assert_string_equal(conf->data_dir, "/srv/sluice");
    assert_string_equal(conf->run_dir, "/tmp/s");
    assert_int_equal(conf->log_level, SL_LOG_DEBUG);
    s_assert_broker(&conf->broker, &(sl_conf_broker_t){
                                       .frontend = "ipc:///tmp/s/broker-front.sock",
                                       .backend = "tcp://0.0.0.0:5555",
                                       .heartbeat_ms = 250,
                                       .max_messages = 5,
                                       .poison_limit = 1,
                                       .message_timeout_ms = 3600000,
                                       .max_frame_bytes = 1 << 20,
                                   });

    assert_int_equal(conf->stage_count, 3);
    const sl_conf_stage_t *av = sl_conf_stage(conf, "av-a");
    assert_ptr_equal(av, &conf->stages[0]);
    assert_int_equal(av->argc, 3);
    assert_string_equal(av->argv[0], "/usr/bin/python3");
    assert_string_equal(av->argv[1], "stage.py");
    assert_string_equal(av->argv[2], "--fast");
    assert_null(av->argv[3]);
    assert_int_equal(av->workers, 0);
    assert_int_equal(av->capacity, 256);
    assert_int_equal(av->timeout_ms, 30000);
    assert_int_equal(av->retries, 0);
    assert_int_equal(av->on_error, SL_ONERR_CLASSIFY);
    assert_string_equal(av->on_error_class, "virus");
    assert_int_equal(av->queue_max, 7);
    assert_int_equal(av->line, 12);

    const sl_conf_stage_t *b = sl_conf_stage(conf, "b.2_x");
    assert_int_equal(b->argc, 3);
    assert_string_equal(b->argv[1], "an arg");
    assert_string_equal(b->argv[2], "");
    assert_int_equal(b->on_error, SL_ONERR_TEMPFAIL);
    assert_null(b->on_error_class);

    /* Defaults of a stage that says nothing but its name. */
    const sl_conf_stage_t *c = sl_conf_stage(conf, "c");
    assert_int_equal(c->argc, 1);
    assert_string_equal(c->argv[0], "sluice-stage-c");
    assert_int_equal(c->workers, 1);
    assert_int_equal(c->capacity, 1);
    assert_int_equal(c->timeout_ms, 5000);
    assert_int_equal(c->retries, 1);
    assert_int_equal(c->on_error, SL_ONERR_PASS);
    assert_int_equal(c->queue_max, 1000);
    assert_null(sl_conf_stage(conf, "nope"));

    assert_int_equal(conf->graph_count, 2);
    const sl_conf_graph_t *g = sl_conf_graph(conf, "default");
    assert_non_null(g);
    assert_int_equal(g->step_count[SL_PHASE_CONNECT], 1);
    assert_int_equal(g->step_count[SL_PHASE_RCPT], 0);
    assert_int_equal(g->step_count[SL_PHASE_CONTENT], 2);
    assert_int_equal(g->steps[SL_PHASE_CONTENT][0].count, 1);
    assert_string_equal(g->steps[SL_PHASE_CONTENT][0].stages[0], "c");
    assert_int_equal(g->steps[SL_PHASE_CONTENT][1].count, 2);
    assert_string_equal(g->steps[SL_PHASE_CONTENT][1].stages[0], "av-a");
    assert_string_equal(g->steps[SL_PHASE_CONTENT][1].stages[1], "b.2_x");
    const sl_conf_graph_t *r = sl_conf_graph(conf, "replay-test");
    assert_non_null(r);
    assert_int_equal(r->step_count[SL_PHASE_CONTENT], 0);
    assert_null(sl_conf_graph(conf, "nope"));

    /* The tree stays for the sections other processes read. */
    assert_int_equal(sl_cfg_error_count(conf->cfg), 0);
    assert_int_equal(sl_cfg_line(sl_cfg_get(sl_cfg_root(conf->cfg), "broker.max_frame")), 10);
    sl_conf_destroy(&conf);
    assert_null(conf);
    sl_conf_destroy(&conf);
}

/* s_many - a config with COUNT stages s0..sN and COUNT graphs g0..gN. */
static char *
s_many(size_t stages, size_t graphs)
{
    size_t size = 64 + stages * 32 + graphs * 48;
    char *text = malloc(size), *p = text;
    assert_non_null(text);
    p += sprintf(p, "stages:\n");
    for (size_t i = 0; i < stages; i++)
        p += sprintf(p, "  - name: s%zu\n", i);
    p += sprintf(p, "graphs:\n  default: {content: [s0]}\n");
    for (size_t i = 1; i < graphs; i++)
        p += sprintf(p, "  g%zu: {content: [s0]}\n", i);
    return text;
}

static void
test_maxima(void **state)
{
    (void) state;
    static const struct {
        const char *label;
        size_t stages, graphs;
        const char *err;
    } cases[] = {
        {"64 stages, 16 graphs", SL_CONF_STAGES_MAX, SL_CONF_GRAPHS_MAX, NULL},
        {"65 stages", SL_CONF_STAGES_MAX + 1, 1,
         "s.yaml:1: stages: expected at most 64 stages, found 65"},
        {"17 graphs", 1, SL_CONF_GRAPHS_MAX + 1,
         "s.yaml:3: graphs: expected at most 16 graphs, found 17"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *text = s_many(cases[i].stages, cases[i].graphs);
        char err[1024] = "";
        sl_cfg_t *cfg = sl_cfg_parse(text, strlen(text), "s.yaml", err, sizeof err);
        assert_non_null(cfg);
        sl_conf_t *conf = sl_conf_from_cfg(&cfg, err, sizeof err);
        if (cases[i].err == NULL)
            s_check(conf != NULL, cases[i].label, "refused:\n%s", err);
        else
            s_check(conf == NULL && strcmp(err, cases[i].err) == 0, cases[i].label,
                    "errors\n%s\nexpected\n%s", err, cases[i].err);
        sl_conf_destroy(&conf);
        free(text);
    }

    /* 33 steps in a phase, a group of 17. */
    char text[4096], *p = text;
    p += sprintf(p, "stages:\n");
    for (int i = 0; i < 40; i++)
        p += sprintf(p, "  - name: s%d\n", i);
    p += sprintf(p, "graphs:\n  default:\n    content: [");
    for (int i = 0; i < 33; i++)
        p += sprintf(p, "%ss%d", i ? ", " : "", i);
    p += sprintf(p, "]\n    rcpt: [[");
    for (int i = 0; i < 17; i++)
        p += sprintf(p, "%ss%d", i ? ", " : "", i);
    sprintf(p, "]]\n");
    char err[1024];
    sl_cfg_t *cfg = sl_cfg_parse(text, strlen(text), "s.yaml", err, sizeof err);
    assert_non_null(cfg);
    assert_null(sl_conf_from_cfg(&cfg, err, sizeof err));
    assert_string_equal(err, "s.yaml:44: graphs.default.content: expected at most 32 steps, "
                             "found a list\n"
                             "s.yaml:45: graphs.default.rcpt[0]: expected a parallel group of "
                             "2..16 stages (this has 17), found a list");
}

static void
test_embedded_default(void **state)
{
    (void) state;
    char err[1024] = "x";
    sl_conf_t *conf = sl_conf_load(NULL, err, sizeof err);
    if (conf == NULL)
        print_error("%s\n", err);
    assert_non_null(conf);
    assert_string_equal(err, "");
    assert_string_equal(conf->path, "(embedded)");
    assert_string_equal(conf->data_dir, "/var/lib/sluice");
    assert_string_equal(conf->run_dir, "/run/sluice");
    assert_int_equal(conf->log_level, SL_LOG_INFO);
    s_assert_broker(&conf->broker, &(sl_conf_broker_t){
                                       .frontend = "ipc:///run/sluice/broker-front.sock",
                                       .backend = "ipc:///run/sluice/broker-back.sock",
                                       .heartbeat_ms = 1000,
                                       .max_messages = 10000,
                                       .poison_limit = 3,
                                       .message_timeout_ms = 300000,
                                       .max_frame_bytes = 64 << 20,
                                   });
    assert_int_equal(conf->stage_count, 9);
    const sl_conf_stage_t *av = sl_conf_stage(conf, "av-a");
    assert_non_null(av);
    assert_string_equal(av->argv[0], "sluice-stage-av-a");
    assert_int_equal(av->on_error, SL_ONERR_TEMPFAIL);
    assert_int_equal(av->counter_count, 4);
    const sl_conf_graph_t *g = sl_conf_graph(conf, "default");
    assert_non_null(g);
    assert_int_equal(g->step_count[SL_PHASE_CONNECT], 1);
    assert_int_equal(g->step_count[SL_PHASE_RCPT], 1);
    assert_int_equal(g->step_count[SL_PHASE_CONTENT], 4);
    assert_string_equal(g->steps[SL_PHASE_CONTENT][0].stages[0], "mime");
    assert_int_equal(g->steps[SL_PHASE_CONTENT][1].count, 4); /* av-a, av-b, url, headers */
    assert_string_equal(g->steps[SL_PHASE_CONTENT][2].stages[0], "score");
    assert_string_equal(g->steps[SL_PHASE_CONTENT][3].stages[0], "action");
    sl_conf_destroy(&conf);
}

static void
test_example_file(void **state)
{
    (void) state;
    const char *source = getenv("SLUICE_SOURCE");
    if (source == NULL || source[0] == '\0')
        skip();
    char path[4096];
    assert_true((size_t) snprintf(path, sizeof path, "%s/etc/sluice.yaml", source) < sizeof path);
    char err[1024];
    sl_conf_t *conf = sl_conf_load(path, err, sizeof err);
    if (conf == NULL)
        print_error("%s\n", err);
    assert_non_null(conf);
    assert_string_equal(conf->path, path);

    /* The embedded default is this very file: a stale build would differ. */
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char text[SL_CFG_BYTES_MAX];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    assert_string_equal(text, sl_conf_default_yaml());
    sl_conf_destroy(&conf);

    /* Every key has a comment line above it (the operator's documentation). */
    const char *prev = "";
    int line = 0;
    for (char *p = text, *next; *p; p = next) {
        next = strchr(p, '\n');
        next = next ? next + 1 : p + strlen(p);
        line++;
        const char *q = p + strspn(p, " -");
        bool is_key = *q != '#' && *q != '\n' && strchr(q, ':') && strchr(q, ':') < next;
        const char *pq = prev + strspn(prev, " ");
        if (is_key && *pq != '#')
            fail_msg("etc/sluice.yaml:%d: key without a comment line above it", line);
        prev = p;
    }
}

static void
test_load_errors(void **state)
{
    (void) state;
    char err[256];
    assert_null(sl_conf_load("/nonexistent/sluice.yaml", err, sizeof err));
    assert_string_equal(err, "/nonexistent/sluice.yaml: cannot open: No such file or directory");
    /* A cut message is marked. */
    char small[16];
    assert_null(sl_conf_load("/nonexistent/sluice.yaml", small, sizeof small));
    assert_string_equal(small, "/nonexistent...");
}

static void
test_phases(void **state)
{
    (void) state;
    static const struct {
        const char *name;
        int phase;
    } cases[] = {
        {"connect", SL_PHASE_CONNECT},
        {"rcpt", SL_PHASE_RCPT},
        {"content", SL_PHASE_CONTENT},
        {"Content", -1},
        {"", -1},
        {NULL, -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(sl_conf_phase_parse(cases[i].name), cases[i].phase);
        if (cases[i].phase >= 0)
            assert_string_equal(sl_conf_phase_name((sl_phase_t) cases[i].phase), cases[i].name);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),        cmocka_unit_test(test_full),
        cmocka_unit_test(test_maxima),       cmocka_unit_test(test_embedded_default),
        cmocka_unit_test(test_example_file), cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_phases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
