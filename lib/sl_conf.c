/*
 * lib/sl_conf.c - the core of sluice.yaml: directories, log, broker, stages, graphs.
 *
 * Reads the sections this layer owns from an sl_cfg tree, fills in defaults
 * (broker endpoints follow run_dir) and checks the graph: stage names unique
 * and well formed, every step naming a defined stage once per phase,
 * parallel groups of 2..SL_CONF_GROUP_MAX names, a graph named "default".
 * Every mistake is collected with its file:line before the load fails, so an
 * operator fixes a file in one round. Commands are stored, not resolved: the
 * supervisor finds programs. The embedded default is etc/sluice.yaml,
 * compiled in by lib/CMakeLists.txt.
 * Tests: tests/unit/test_sl_conf.c, tests/fuzz/fuzz_sl_cfg.c
 */
#include "sl_conf.h"
#include "sl_log.h"
#include "sl_mem.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#define S_NAME_MAX 64 /* stage and graph names: they become program and log names */
/* An ipc:// endpoint is a unix socket path: sun_path and its NUL. */
#define S_IPC_PATH_MAX (sizeof(((struct sockaddr_un *) 0)->sun_path) - 1)

/* Top-level sections: ours, then those their processes read and check. */
static const char *const s_top_keys[] = {
    "data_dir", "run_dir",    "log",    "broker", "stages",  "graphs",  "smtpd", "spool",
    "delivery", "quarantine", "policy", "dns",    "metrics", "archive", NULL,
};
static const char *const s_log_keys[] = {"level", NULL};
static const char *const s_broker_keys[] = {
    "frontend",     "backend",         "heartbeat", "max_messages",
    "poison_limit", "message_timeout", "max_frame", "body_file_dirs", "body_file_min", NULL,
};
static const char *const s_stage_keys[] = {
    "name", "command", "workers", "capacity", "timeout", "retries", "on_error", "queue_max",
    "counters", "options", /* options: the stage's own settings, read by the stage */
    "batch",               /* read by the C stage runtime (lib/sl_stage.c) */
    NULL,
};
static const char *const s_phase_names[SL_PHASE_COUNT] = {"connect", "rcpt", "content"};
static const char *const s_phase_keys[] = {"connect", "rcpt", "content", NULL};
/* The classifications of the data-processing record (DESIGN.md section 3). */
static const char *const s_classes[] = {
    "clean", "spam", "virus", "banned", "bad-header", "oversized", NULL,
};

const char *
sl_conf_phase_name(sl_phase_t phase)
{
    assert(phase < SL_PHASE_COUNT);
    return s_phase_names[phase];
}

int
sl_conf_phase_parse(const char *name)
{
    for (int i = 0; name && i < SL_PHASE_COUNT; i++)
        if (strcmp(name, s_phase_names[i]) == 0)
            return i;
    return -1;
}

/* s_is_name - 1..S_NAME_MAX of [A-Za-z0-9._-], starting with a letter or digit
 * so that a name never reads as an option or a hidden file. */
static bool
s_is_name(const char *name)
{
    static const char extra[] = "._-";
    size_t len = strlen(name);
    if (len == 0 || len > S_NAME_MAX || strchr(extra, name[0]))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && strchr(extra, c) == NULL)
            return false;
    }
    return true;
}

#define S_NAME_RULE "a name of 1..64 letters, digits, '.', '_' or '-' (not first)"

/* s_text - scalar text of NODE; NULL (and an error naming WHAT) otherwise. */
static const char *
s_text(sl_cfg_t *cfg, const sl_cfg_node_t *node, const char *what)
{
    const char *text = sl_cfg_scalar(node);
    if (text == NULL || sl_cfg_is_null(node)) {
        sl_cfg_expected(cfg, node, "%s", what);
        return NULL;
    }
    return text;
}

/* ---- directories, log, broker ---- */

static char *
s_read_dir(sl_cfg_t *cfg, const sl_cfg_node_t *root, const char *key, const char *def)
{
    const char *dir = sl_cfg_get_str(cfg, root, key, def);
    if (dir[0] != '/') {
        /* Processes chdir("/"): a relative path would mean something else in each. */
        sl_cfg_expected(cfg, sl_cfg_get(root, key), "an absolute path");
        dir = def;
    }
    return sl_xstrdup(dir);
}

static void
s_read_log(sl_conf_t *self, const sl_cfg_node_t *root)
{
    const sl_cfg_node_t *log = sl_cfg_get_map(self->cfg, root, "log");
    sl_cfg_check_keys(self->cfg, log, s_log_keys);
    self->log_level = SL_LOG_INFO;
    const char *level = sl_cfg_get_str(self->cfg, log, "level", "info");
    int parsed = sl_log_level_parse(level);
    if (parsed < 0)
        sl_cfg_expected(self->cfg, sl_cfg_get(log, "level"), "debug, info, warn or error");
    else
        self->log_level = parsed;
}

/* s_ipc_fits - false for an ipc:// endpoint whose path overflows sun_path. */
static bool
s_ipc_fits(const char *endpoint)
{
    return strncmp(endpoint, "ipc://", 6) != 0 || strlen(endpoint + 6) <= S_IPC_PATH_MAX;
}

/* s_read_endpoint - a ZeroMQ endpoint, or ipc://RUN_DIR/SOCKET when absent. */
static char *
s_read_endpoint(sl_conf_t *self, const sl_cfg_node_t *broker, const char *key, const char *socket)
{
    const sl_cfg_node_t *node = sl_cfg_get(broker, key);
    if (node == NULL) {
        size_t size = strlen(self->run_dir) + strlen(socket) + 16;
        char *endpoint = sl_xmalloc(size);
        snprintf(endpoint, size, "ipc://%s/%s", self->run_dir, socket);
        if (!s_ipc_fits(endpoint)) {
            const sl_cfg_node_t *at = sl_cfg_get(sl_cfg_root(self->cfg), "run_dir");
            sl_cfg_error(self->cfg, at,
                         "run_dir: expected a path short enough for the default broker.%s "
                         "ipc://RUN_DIR/%s (a socket path of at most %zu bytes), found %zu "
                         "bytes",
                         key, socket, S_IPC_PATH_MAX, strlen(endpoint + 6));
        }
        return endpoint;
    }
    const char *endpoint = s_text(self->cfg, node, "a ZeroMQ endpoint");
    if (endpoint == NULL)
        return NULL;
    static const char *const transports[] = {"ipc://", "tcp://", "inproc://", NULL};
    size_t i = 0;
    while (transports[i] && strncmp(endpoint, transports[i], strlen(transports[i])) != 0)
        i++;
    if (transports[i] == NULL || endpoint[strlen(transports[i])] == '\0')
        sl_cfg_expected(self->cfg, node,
                        "an endpoint ipc:///path, tcp://host:port or inproc://name");
    else if (!s_ipc_fits(endpoint))
        sl_cfg_expected(self->cfg, node, "an ipc path of at most %zu bytes", S_IPC_PATH_MAX);
    return sl_xstrdup(endpoint);
}

/* s_read_body_file_dirs - where a submitted body file may lie (broker/README.md
 * "Body by file"): absolute folders, by default the spool's (spool.dir, else
 * DATA_DIR/spool, as smtpd reads it). */
static void
s_read_body_file_dirs(sl_conf_t *self, const sl_cfg_node_t *root, const sl_cfg_node_t *broker)
{
    sl_cfg_t *cfg = self->cfg;
    sl_conf_broker_t *b = &self->broker;
    const sl_cfg_node_t *list = sl_cfg_get(broker, "body_file_dirs");
    if (list == NULL) {
        const sl_cfg_node_t *spool = sl_cfg_get(root, "spool");
        const char *dir = sl_cfg_scalar(sl_cfg_get(spool, "dir"));
        char dflt[4096];
        snprintf(dflt, sizeof dflt, "%s/spool", self->data_dir);
        b->body_file_dirs = sl_xcalloc(1, sizeof *b->body_file_dirs);
        b->body_file_dirs[0] = sl_xstrdup(dir && dir[0] ? dir : dflt);
        b->body_file_dir_count = 1;
        return;
    }
    if (sl_cfg_kind(list) != SL_CFG_SEQ) {
        sl_cfg_error(cfg, list, "broker.body_file_dirs: expected a list of absolute folders");
        return;
    }
    size_t n = sl_cfg_count(list);
    b->body_file_dirs = sl_xcalloc(n ? n : 1, sizeof *b->body_file_dirs);
    for (size_t i = 0; i < n; i++) {
        const char *dir = sl_cfg_scalar(sl_cfg_at(list, i));
        if (dir == NULL || dir[0] != '/') {
            sl_cfg_error(cfg, sl_cfg_at(list, i),
                         "broker.body_file_dirs: expected an absolute folder, found %s",
                         dir ? dir : "a map or list");
            continue;
        }
        b->body_file_dirs[b->body_file_dir_count++] = sl_xstrdup(dir);
    }
}

static void
s_read_broker(sl_conf_t *self, const sl_cfg_node_t *root)
{
    sl_cfg_t *cfg = self->cfg;
    const sl_cfg_node_t *broker = sl_cfg_get_map(cfg, root, "broker");
    sl_cfg_check_keys(cfg, broker, s_broker_keys);
    sl_conf_broker_t *b = &self->broker;
    b->frontend = s_read_endpoint(self, broker, "frontend", "broker-front.sock");
    b->backend = s_read_endpoint(self, broker, "backend", "broker-back.sock");
    b->heartbeat_ms = (int) sl_cfg_get_duration_ms(cfg, broker, "heartbeat", 1000, 10, 60000);
    b->max_messages = (int) sl_cfg_get_int(cfg, broker, "max_messages", 10000, 1, 1000000);
    b->poison_limit = (int) sl_cfg_get_int(cfg, broker, "poison_limit", 3, 1, 100);
    b->message_timeout_ms =
        (int) sl_cfg_get_duration_ms(cfg, broker, "message_timeout", 300000, 10, 86400000);
    b->max_frame_bytes =
        (int) sl_cfg_get_size(cfg, broker, "max_frame", 64 << 20, 4 << 10, 1 << 30);
    s_read_body_file_dirs(self, root, broker);
    b->body_file_min = (size_t) sl_cfg_get_size(cfg, broker, "body_file_min", 16 << 10, 0, 1 << 30);
}

/* ---- stages ---- */

static void
s_argv_add(sl_conf_stage_t *stage, const char *arg, size_t len)
{
    stage->argv[stage->argc++] = sl_xstrndup(arg, len);
    stage->argv[stage->argc] = NULL;
}

/* s_read_command - a string is split at spaces and tabs (no quoting: use the
 * list form for an argument with spaces); a list is taken word for word. */
static void
s_read_command(sl_cfg_t *cfg, const sl_cfg_node_t *entry, sl_conf_stage_t *stage)
{
    stage->argv = sl_xcalloc(SL_CONF_ARGS_MAX + 1, sizeof *stage->argv);
    const sl_cfg_node_t *node = sl_cfg_get(entry, "command");
    if (node == NULL) {
        char program[S_NAME_MAX + 32];
        snprintf(program, sizeof program, "sluice-stage-%s", stage->name);
        s_argv_add(stage, program, strlen(program));
        return;
    }
    static const char what[] = "a program name, or a list of program and arguments (at most 32)";
    if (sl_cfg_kind(node) == SL_CFG_SEQ) {
        size_t count = sl_cfg_count(node);
        if (count == 0 || count > SL_CONF_ARGS_MAX) {
            sl_cfg_expected(cfg, node, "%s", what);
            return;
        }
        for (size_t i = 0; i < count; i++) {
            const char *arg = s_text(cfg, sl_cfg_at(node, i), "an argument (a string)");
            if (arg == NULL || (i == 0 && arg[0] == '\0')) {
                if (arg)
                    sl_cfg_expected(cfg, sl_cfg_at(node, i), "a program name");
                continue;
            }
            s_argv_add(stage, arg, strlen(arg));
        }
        return;
    }
    const char *line = sl_cfg_scalar(node);
    if (line == NULL || sl_cfg_is_null(node)) {
        sl_cfg_expected(cfg, node, "%s", what);
        return;
    }
    for (const char *p = line;;) {
        p += strspn(p, " \t");
        size_t len = strcspn(p, " \t");
        if (len == 0)
            break;
        if (stage->argc == SL_CONF_ARGS_MAX) {
            sl_cfg_expected(cfg, node, "%s", what);
            return;
        }
        s_argv_add(stage, p, len);
        p += len;
    }
    if (stage->argc == 0)
        sl_cfg_expected(cfg, node, "%s", what);
}

/* s_read_on_error - pass | tempfail | classify:<classification>. */
static void
s_read_on_error(sl_cfg_t *cfg, const sl_cfg_node_t *entry, sl_conf_stage_t *stage)
{
    stage->on_error = SL_ONERR_PASS;
    const char *text = sl_cfg_get_str(cfg, entry, "on_error", "pass");
    if (strcmp(text, "pass") == 0)
        return;
    if (strcmp(text, "tempfail") == 0) {
        stage->on_error = SL_ONERR_TEMPFAIL;
        return;
    }
    if (strncmp(text, "classify:", 9) == 0) {
        for (size_t i = 0; s_classes[i]; i++) {
            if (strcmp(text + 9, s_classes[i]) == 0) {
                stage->on_error = SL_ONERR_CLASSIFY;
                stage->on_error_class = sl_xstrdup(s_classes[i]);
                return;
            }
        }
    }
    sl_cfg_expected(cfg, sl_cfg_get(entry, "on_error"),
                    "pass, tempfail or classify:CLASS (clean, spam, virus, banned, "
                    "bad-header, oversized)");
}

/* s_read_counters - counters: [detections, limit_hits]: verdict field names. */
static void
s_read_counters(sl_cfg_t *cfg, const sl_cfg_node_t *entry, sl_conf_stage_t *stage)
{
    const sl_cfg_node_t *list = sl_cfg_get(entry, "counters");
    if (list == NULL || sl_cfg_is_null(list))
        return;
    if (sl_cfg_kind(list) != SL_CFG_SEQ || sl_cfg_count(list) > SL_CONF_COUNTERS_MAX) {
        sl_cfg_expected(cfg, list, "a list of at most %d verdict field names",
                        SL_CONF_COUNTERS_MAX);
        return;
    }
    stage->counters = sl_xcalloc(sl_cfg_count(list) + 1, sizeof *stage->counters);
    for (size_t i = 0; i < sl_cfg_count(list); i++) {
        const sl_cfg_node_t *item = sl_cfg_at(list, i);
        const char *name = sl_cfg_scalar(item);
        if (name == NULL || !s_is_name(name)) {
            sl_cfg_expected(cfg, item, "a verdict field name");
            continue;
        }
        stage->counters[stage->counter_count++] = sl_xstrdup(name);
    }
}

/* s_read_stage - one entry of stages:; false when it has no usable name. */
static bool
s_read_stage(sl_conf_t *self, const sl_cfg_node_t *entry, sl_conf_stage_t *stage)
{
    sl_cfg_t *cfg = self->cfg;
    if (sl_cfg_kind(entry) != SL_CFG_MAP) {
        sl_cfg_expected(cfg, entry, "a stage (a map with name, command, workers...)");
        return false;
    }
    sl_cfg_check_keys(cfg, entry, s_stage_keys);
    const sl_cfg_node_t *name_node = sl_cfg_get(entry, "name");
    if (name_node == NULL) {
        sl_cfg_expected(cfg, entry, "a stage with a name: key");
        return false;
    }
    const char *name = s_text(cfg, name_node, S_NAME_RULE);
    if (name == NULL)
        return false;
    if (!s_is_name(name)) {
        sl_cfg_expected(cfg, name_node, S_NAME_RULE);
        return false;
    }
    const sl_conf_stage_t *twin = sl_conf_stage(self, name);
    if (twin) {
        sl_cfg_expected(cfg, name_node, "a name not used before, as at line %d", twin->line);
        return false;
    }
    *stage = (sl_conf_stage_t){.name = sl_xstrdup(name), .line = sl_cfg_line(entry)};
    s_read_command(cfg, entry, stage);
    stage->workers = (int) sl_cfg_get_int(cfg, entry, "workers", 1, 0, 64);
    stage->capacity = (int) sl_cfg_get_int(cfg, entry, "capacity", 1, 1, 256);
    stage->batch = (int) sl_cfg_get_int(cfg, entry, "batch", 0, 1, 64); /* 0: the stage's own */
    stage->timeout_ms = (int) sl_cfg_get_duration_ms(cfg, entry, "timeout", 5000, 10, 3600000);
    stage->retries = (int) sl_cfg_get_int(cfg, entry, "retries", 1, 0, 10);
    s_read_on_error(cfg, entry, stage);
    stage->queue_max = (int) sl_cfg_get_int(cfg, entry, "queue_max", 1000, 1, 1000000);
    s_read_counters(cfg, entry, stage);
    return true;
}

static void
s_read_stages(sl_conf_t *self, const sl_cfg_node_t *root)
{
    sl_cfg_t *cfg = self->cfg;
    const sl_cfg_node_t *stages = sl_cfg_get_seq(cfg, root, "stages");
    const sl_cfg_node_t *at = sl_cfg_get(root, "stages");
    if (stages == NULL && at && !sl_cfg_is_null(at))
        return; /* not a list: sl_cfg_get_seq said so */
    size_t count = sl_cfg_count(stages);
    if (count == 0) {
        sl_cfg_error(cfg, at ? at : root, "stages: expected a list of at least one stage, found %s",
                     at ? "none" : "no stages: section");
        return;
    }
    if (count > SL_CONF_STAGES_MAX) {
        sl_cfg_error(cfg, stages, "stages: expected at most %d stages, found %zu",
                     SL_CONF_STAGES_MAX, count);
        return;
    }
    self->stages = sl_xcalloc(count, sizeof *self->stages);
    for (size_t i = 0; i < count; i++)
        if (s_read_stage(self, sl_cfg_at(stages, i), &self->stages[self->stage_count]))
            self->stage_count++;
}

/* ---- graphs ---- */

/* s_stage_names - the defined stage names, for a message; cut when long. */
static const char *
s_stage_names(const sl_conf_t *self, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < self->stage_count; i++) {
        int n = snprintf(buf + len, size - len, "%s%s", i ? ", " : "", self->stages[i].name);
        if (n < 0 || (size_t) n >= size - len) {
            if (size >= 4)
                memcpy(buf + size - 4, "...", 4);
            break;
        }
        len += (size_t) n;
    }
    return buf;
}

typedef struct {
    const char *names[SL_CONF_STEPS_MAX * SL_CONF_GROUP_MAX]; /* stages seen in this phase */
    size_t count;                                             /* entries in names */
} s_seen_t;

/* s_step_stage - NODE names a defined stage not yet used in this phase; its
 * name (borrowed from the tree), or NULL after recording why not. */
static const char *
s_step_stage(sl_conf_t *self, const sl_cfg_node_t *node, s_seen_t *seen)
{
    static const char what[] = "a stage name";
    if (sl_cfg_kind(node) == SL_CFG_SEQ) {
        sl_cfg_expected(self->cfg, node, "a stage name (parallel groups do not nest)");
        return NULL;
    }
    const char *name = s_text(self->cfg, node, what);
    if (name == NULL)
        return NULL;
    if (self->stage_count == 0)
        return NULL; /* the stages: section is wrong, and has been reported */
    if (sl_conf_stage(self, name) == NULL) {
        char names[512];
        sl_cfg_expected(self->cfg, node, "a stage defined under stages: (%s)",
                        s_stage_names(self, names, sizeof names));
        return NULL;
    }
    for (size_t i = 0; i < seen->count; i++) {
        if (strcmp(seen->names[i], name) == 0) {
            sl_cfg_expected(self->cfg, node, "each stage at most once per phase");
            return NULL;
        }
    }
    assert(seen->count < sizeof seen->names / sizeof seen->names[0]);
    seen->names[seen->count++] = name;
    return name;
}

/* s_read_step - a stage name, or a list of 2..SL_CONF_GROUP_MAX names run in
 * parallel; false when the step is unusable (errors recorded). */
static bool
s_read_step(sl_conf_t *self, const sl_cfg_node_t *node, s_seen_t *seen, sl_conf_step_t *step)
{
    if (sl_cfg_kind(node) == SL_CFG_MAP || sl_cfg_is_null(node)) {
        sl_cfg_expected(self->cfg, node, "a stage name or a list of stage names run in parallel");
        return false;
    }
    if (sl_cfg_kind(node) == SL_CFG_SCALAR) {
        const char *name = s_step_stage(self, node, seen);
        if (name == NULL)
            return false;
        step->count = 1;
        step->stages = sl_xcalloc(1, sizeof *step->stages);
        step->stages[0] = sl_xstrdup(name);
        return true;
    }
    size_t count = sl_cfg_count(node);
    if (count < 2 || count > SL_CONF_GROUP_MAX) {
        sl_cfg_expected(self->cfg, node, "a parallel group of 2..%d stages (this has %zu)",
                        SL_CONF_GROUP_MAX, count);
        return false;
    }
    step->stages = sl_xcalloc(count, sizeof *step->stages);
    bool good = true;
    for (size_t i = 0; i < count; i++) {
        const char *name = s_step_stage(self, sl_cfg_at(node, i), seen);
        if (name)
            step->stages[step->count++] = sl_xstrdup(name);
        else
            good = false;
    }
    return good;
}

static void
s_read_phase(sl_conf_t *self, const sl_cfg_node_t *spec, sl_phase_t phase, sl_conf_graph_t *graph)
{
    const sl_cfg_node_t *steps = sl_cfg_get_seq(self->cfg, spec, s_phase_names[phase]);
    size_t count = sl_cfg_count(steps);
    if (count == 0)
        return;
    if (count > SL_CONF_STEPS_MAX) {
        sl_cfg_expected(self->cfg, steps, "at most %d steps", SL_CONF_STEPS_MAX);
        return;
    }
    s_seen_t seen = {.count = 0};
    graph->steps[phase] = sl_xcalloc(count, sizeof *graph->steps[phase]);
    for (size_t i = 0; i < count; i++) {
        sl_conf_step_t *step = &graph->steps[phase][graph->step_count[phase]];
        /* A partly read step is kept so that destroy frees its names. */
        s_read_step(self, sl_cfg_at(steps, i), &seen, step);
        if (step->stages)
            graph->step_count[phase]++;
    }
}

static void
s_read_graphs(sl_conf_t *self, const sl_cfg_node_t *root)
{
    sl_cfg_t *cfg = self->cfg;
    const sl_cfg_node_t *graphs = sl_cfg_get_map(cfg, root, "graphs");
    size_t count = sl_cfg_count(graphs);
    if (count > SL_CONF_GRAPHS_MAX) {
        sl_cfg_error(cfg, graphs, "graphs: expected at most %d graphs, found %zu",
                     SL_CONF_GRAPHS_MAX, count);
        return;
    }
    self->graphs = sl_xcalloc(count ? count : 1, sizeof *self->graphs);
    for (size_t i = 0; i < count; i++) {
        const char *name = sl_cfg_key_at(graphs, i);
        const sl_cfg_node_t *spec = sl_cfg_at(graphs, i);
        if (!s_is_name(name)) {
            char shown[S_NAME_MAX + 8];
            sl_cfg_error(cfg, spec, "graphs: expected %s, found \"%s\"", S_NAME_RULE,
                         sl_log_str(name, strlen(name), shown, sizeof shown));
            continue;
        }
        if (sl_cfg_kind(spec) != SL_CFG_MAP && !sl_cfg_is_null(spec)) {
            sl_cfg_expected(cfg, spec, "a graph (a map of connect, rcpt, content)");
            continue;
        }
        sl_cfg_check_keys(cfg, spec, s_phase_keys);
        sl_conf_graph_t *graph = &self->graphs[self->graph_count++];
        graph->name = sl_xstrdup(name);
        /* Phases in the order the file has them, so errors come in line order. */
        for (size_t j = 0; j < sl_cfg_count(spec); j++) {
            int phase = sl_conf_phase_parse(sl_cfg_key_at(spec, j));
            if (phase >= 0)
                s_read_phase(self, spec, (sl_phase_t) phase, graph);
        }
    }
    if (sl_conf_graph(self, "default") == NULL && sl_cfg_get(graphs, "default") == NULL) {
        const sl_cfg_node_t *at = sl_cfg_get(root, "graphs");
        sl_cfg_error(cfg, at ? at : root, "graphs: expected a graph named default, found %s",
                     at ? "none" : "no graphs: section");
    }
}

/* ---- load, destroy, lookups ---- */

sl_conf_t *
sl_conf_from_cfg(sl_cfg_t **cfg_p, char *err, size_t errlen)
{
    assert(cfg_p && *cfg_p);
    sl_conf_t *self = sl_xcalloc(1, sizeof *self);
    self->cfg = *cfg_p;
    *cfg_p = NULL;
    sl_cfg_t *cfg = self->cfg;
    self->path = sl_xstrdup(sl_cfg_path(cfg));
    const sl_cfg_node_t *root = sl_cfg_root(cfg);
    if (root == NULL || sl_cfg_kind(root) != SL_CFG_MAP) {
        if (root == NULL)
            sl_cfg_error(cfg, NULL,
                         "expected a map of settings (stages:, graphs: ...), "
                         "found an empty file");
        else
            sl_cfg_error(cfg, root, "expected a map of settings (stages:, graphs: ...), found %s",
                         sl_cfg_kind(root) == SL_CFG_SEQ ? "a list" : "a single value");
    } else {
        sl_cfg_check_keys(cfg, root, s_top_keys);
        self->data_dir = s_read_dir(cfg, root, "data_dir", "/var/lib/sluice");
        self->run_dir = s_read_dir(cfg, root, "run_dir", "/run/sluice");
        s_read_log(self, root);
        s_read_broker(self, root);
        s_read_stages(self, root);
        s_read_graphs(self, root);
    }
    if (sl_cfg_error_count(cfg) > 0) {
        if (err && errlen > 0 && sl_strlcpy(err, sl_cfg_errors(cfg), errlen) >= errlen &&
            errlen >= 4)
            memcpy(err + errlen - 4, "...", 4);
        sl_conf_destroy(&self);
        return NULL;
    }
    if (err && errlen > 0)
        err[0] = '\0';
    return self;
}

sl_conf_t *
sl_conf_load(const char *path, char *err, size_t errlen)
{
    const char *text = sl_conf_default_yaml();
    sl_cfg_t *cfg = path ? sl_cfg_load(path, err, errlen)
                         : sl_cfg_parse(text, strlen(text), "(embedded)", err, errlen);
    if (cfg == NULL)
        return NULL;
    return sl_conf_from_cfg(&cfg, err, errlen);
}

void
sl_conf_destroy(sl_conf_t **self_p)
{
    assert(self_p);
    sl_conf_t *self = *self_p;
    if (self == NULL)
        return;
    for (size_t i = 0; i < self->stage_count; i++) {
        sl_conf_stage_t *stage = &self->stages[i];
        for (size_t j = 0; j < stage->argc; j++)
            free(stage->argv[j]);
        free(stage->argv);
        free(stage->name);
        free(stage->on_error_class);
        for (size_t j = 0; j < stage->counter_count; j++)
            free(stage->counters[j]);
        free(stage->counters);
    }
    free(self->stages);
    for (size_t i = 0; i < self->graph_count; i++) {
        sl_conf_graph_t *graph = &self->graphs[i];
        for (int phase = 0; phase < SL_PHASE_COUNT; phase++) {
            for (size_t j = 0; j < graph->step_count[phase]; j++) {
                sl_conf_step_t *step = &graph->steps[phase][j];
                for (size_t k = 0; k < step->count; k++)
                    free(step->stages[k]);
                free(step->stages);
            }
            free(graph->steps[phase]);
        }
        free(graph->name);
    }
    free(self->graphs);
    for (size_t i = 0; i < self->broker.body_file_dir_count; i++)
        free(self->broker.body_file_dirs[i]);
    free(self->broker.body_file_dirs);
    free(self->broker.frontend);
    free(self->broker.backend);
    free(self->data_dir);
    free(self->run_dir);
    free(self->path);
    sl_cfg_destroy(&self->cfg);
    free(self);
    *self_p = NULL;
}

const sl_conf_stage_t *
sl_conf_stage(const sl_conf_t *self, const char *name)
{
    assert(self && name);
    for (size_t i = 0; i < self->stage_count; i++)
        if (strcmp(self->stages[i].name, name) == 0)
            return &self->stages[i];
    return NULL;
}

const sl_conf_graph_t *
sl_conf_graph(const sl_conf_t *self, const char *name)
{
    assert(self && name);
    for (size_t i = 0; i < self->graph_count; i++)
        if (strcmp(self->graphs[i].name, name) == 0)
            return &self->graphs[i];
    return NULL;
}

sl_conf_t *
sl_conf_daemon(int argc, char **argv, const char *prog, int *rc)
{
    const char *config = NULL;
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
            config = argv[++i];
        } else {
            fprintf(stderr, "usage: %s [-c sluice.yaml]\n", prog);
            *rc = 2;
            return NULL;
        }
    }
    sl_log_open(prog, SL_LOG_INFO);
    char err[16384];
    sl_conf_t *conf = sl_conf_load(config, err, sizeof err);
    if (conf == NULL) {
        fprintf(stderr, "%s: %s\n", prog, err);
        *rc = 1;
        return NULL;
    }
    sl_log_set_level((sl_log_level_t)conf->log_level);
    return conf;
}
