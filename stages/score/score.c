/*
 * stages/score/score.c - content rules and the SpamScore.
 *
 * Runs the rule set (score_rules.c) over the raw header, the text parts
 * mime decoded (HTML reduced to its visible text), the raw body and the
 * URLs the url stage found (or, when url did not run, the ones found here),
 * adds a symbol per rule that matched, then sums the weights of every
 * symbol of every stage in the envelope, its own included, with the
 * `weights:` overrides, and sets the envelope's score. Bayes enters as
 * BAYES_LOGODDS, a weight continuous in log10(p / (1 - p)) (bayes.weight:
 * logodds, the default), or as the BAYES_* bands. Classification and
 * per-domain thresholds are the action stage's. Sender behaviour
 * (score_sender.c): correspondents learned from outbound mail and
 * per-sender reputation add SENDER_* symbols to inbound mail; outbound mail
 * is not judged by symbols about an outside client (SPF, DMARC policy, RBL,
 * greylist). Options, rule-file format and default rules:
 * stages/score/README.md.
 * Tests: tests/unit/test_score_rules.c, tests/unit/test_score_sender.c,
 * tests/unit/test_score_bayes.c,
 * tests/e2e/test_score.py, tests/e2e/test_score_sender.py
 */
#include "score_bayes.h"
#include "score_rules.h"
#include "score_sender.h"
#include "score_symbols.h" /* generated from symbols.tsv: SCORE_W_* */
#include "sl_mem.h"
#include "sl_mp.h"
#include "sl_stage.h"
#include "url_extract.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SCORE_VERSION "1.0"
#define SCORE_RULES_DEFAULT "/usr/share/sluice/rules" /* when BIN/../share has none */
#define SCORE_TEXT_MAX_DEFAULT (1 << 20) /* octets of one text part the body rules see */
#define SCORE_HEADER_MAX (256 << 10)     /* header octets the header rules see */
#define SCORE_PARTS_MAX 64               /* text parts looked at per message */
#define SCORE_WEIGHTS_MAX 1024           /* entries in weights: */

typedef struct {
    char name[SL_ENV_NAME_MAX + 1]; /* symbol of any stage */
    double weight;                  /* replaces the stage's score in the sum */
} score_weight_t;

typedef struct {
    score_rules_t *rules; /* read-only after init */
    char version[32];     /* "rules=N" */
    size_t text_max;      /* per part */
    size_t weight_count;
    score_weight_t *weights; /* overrides */
    score_bayes_t *bayes;    /* NULL without the bayes: option */
    double autolearn_spam;   /* learn as spam at or above this score (bayes) */
    double autolearn_ham;    /* learn as ham at or below this score */
    bool bayes_bands;        /* bayes.weight: bands (BAYES_SPAM/...), else logodds */
    double bayes_scale;      /* logodds: weight = scale x log10(p / (1 - p)) ... */
    double bayes_min;        /* ... clamped to [min, max] */
    double bayes_max;        /* (defaults: SCORE_BAYES_*_DEFAULT) */
    double bayes_strength;   /* bayes.strength: Robinson's s */
    size_t bayes_interesting; /* bayes.interesting: tokens that decide */
    score_sender_t *sender;  /* NULL unless correspondents: or reputation: */
    bool correspondents;     /* learn from outbound, lower known senders' scores */
    bool reputation;         /* per-sender history of inbound scores */
    int64_t window_ms;       /* correspondents older than this are forgotten */
    double rep_spam;         /* a score at or above counts as spam for reputation */
} score_stage_t;

/* Bayes symbols, bayes.weight: bands: spam probability bands (weights in symbols.tsv). */
#define SCORE_BAYES_SPAM_P 0.99
#define SCORE_BAYES_PROBABLE_P 0.90
#define SCORE_BAYES_HAM_P 0.05
/* bayes.weight: logodds (the default): BAYES_LOGODDS weighs
 * scale x log10(p / (1 - p)), clamped; p = 0.99 gives +4, 0.9999 +8, 0.01 -4.
 * Defaults of bayes.scale, bayes.min and bayes.max (score_bayes_logodds). */
#define SCORE_BAYES_SCALE_DEFAULT 3.0
#define SCORE_BAYES_MIN_DEFAULT (-6.0)
#define SCORE_BAYES_MAX_DEFAULT 8.0

/* Sender behaviour (score_sender.c): defaults of the options. */
#define SCORE_DAY_MS (86400 * (int64_t)1000)
#define SCORE_WINDOW_DEFAULT_MS (365 * SCORE_DAY_MS) /* correspondent_window */
#define SCORE_REP_SPAM_DEFAULT 5.0 /* reputation_spam: the action stage's default tag_score */

static void
s_fini(void *ctx)
{
    score_stage_t *self = ctx;
    if (self == NULL)
        return;
    score_rules_destroy(&self->rules);
    score_bayes_close(&self->bayes);
    score_sender_close(&self->sender);
    free(self->weights);
    free(self);
}

static const char *
s_rules_version(void *ctx)
{
    return ((score_stage_t *)ctx)->version;
}

/* s_default_rules - BIN/../share/sluice/rules beside this binary (build tree
 * or install prefix) when it exists, else SCORE_RULES_DEFAULT, into OUT. */
static void
s_default_rules(char *out, size_t size)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(exe, '/');
    struct stat st;
    if (slash != NULL) {
        *slash = '\0';
        int w = snprintf(out, size, "%s/../share/sluice/rules", exe);
        if (w > 0 && (size_t)w < size && stat(out, &st) == 0)
            return;
    }
    snprintf(out, size, "%s", SCORE_RULES_DEFAULT);
}

static int
s_init(void **ctx, sl_cfg_t *cfg, const sl_cfg_node_t *section, int argc, char **argv)
{
    static const char *const keys[] = {"rules",      "weights",         "text_max",
                                       "bayes",      "correspondents",  "correspondent_window",
                                       "reputation", "reputation_spam", "sender_store",
                                       NULL};
    static const char *const bayes_keys[] = {
        "store", "autolearn_spam", "autolearn_ham", "weight",      "scale",
        "min",   "max",            "strength",      "interesting", NULL};
    if (argc > 1) {
        sl_log_error(NULL, "unknown argument %s (options go in the stage's options: map)", argv[1]);
        return -1;
    }
    score_stage_t *self = sl_xcalloc(1, sizeof *self);
    sl_cfg_t *own = NULL;
    if (cfg == NULL) {
        char err[256];
        own = cfg = sl_cfg_parse("{}", 2, "defaults", err, sizeof err);
        section = NULL;
    }
    size_t errors = sl_cfg_error_count(cfg);
    const sl_cfg_node_t *opts = NULL;
    if (section && sl_cfg_kind(section) == SL_CFG_MAP) {
        sl_cfg_check_keys(cfg, section, keys);
        opts = section;
    } else if (section && !sl_cfg_is_null(section)) {
        sl_cfg_expected(cfg, section, "a map of score options");
    }
    char fallback[PATH_MAX];
    s_default_rules(fallback, sizeof fallback);
    const char *path = sl_cfg_get_str(cfg, opts, "rules", fallback);
    self->text_max =
        (size_t)sl_cfg_get_size(cfg, opts, "text_max", SCORE_TEXT_MAX_DEFAULT, 1024, 64 << 20);
    const sl_cfg_node_t *weights = sl_cfg_get_map(cfg, opts, "weights");
    size_t n = weights ? sl_cfg_count(weights) : 0;
    if (n > SCORE_WEIGHTS_MAX) {
        sl_cfg_expected(cfg, weights, "at most %d weights", SCORE_WEIGHTS_MAX);
        n = 0;
    }
    self->weights = sl_xcalloc(n ? n : 1, sizeof *self->weights);
    for (size_t i = 0; i < n; i++) {
        const char *name = sl_cfg_key_at(weights, i);
        if (strlen(name) > SL_ENV_NAME_MAX) {
            sl_cfg_expected(cfg, sl_cfg_at(weights, i), "a symbol name of at most %d octets",
                            SL_ENV_NAME_MAX);
            continue;
        }
        score_weight_t *w = &self->weights[self->weight_count++];
        sl_strlcpy(w->name, name, sizeof w->name);
        w->weight = sl_cfg_get_double(cfg, weights, name, 0, -1000, 1000);
    }
    const sl_cfg_node_t *bayes = sl_cfg_get_map(cfg, opts, "bayes");
    char store[PATH_MAX + 16];
    if (bayes) {
        sl_cfg_check_keys(cfg, bayes, bayes_keys);
        const char *data_dir = sl_cfg_get_str(cfg, sl_cfg_root(cfg), "data_dir", "/var/lib/sluice");
        snprintf(store, sizeof store, "sqlite:%s/bayes.db", data_dir);
        sl_strlcpy(store, sl_cfg_get_str(cfg, bayes, "store", store), sizeof store);
        self->autolearn_spam = sl_cfg_get_double(cfg, bayes, "autolearn_spam", 1e9, -1e6, 1e9);
        self->autolearn_ham = sl_cfg_get_double(cfg, bayes, "autolearn_ham", -1e9, -1e9, 1e6);
        const char *weight = sl_cfg_get_str(cfg, bayes, "weight", "logodds");
        self->bayes_bands = strcmp(weight, "bands") == 0;
        if (!self->bayes_bands && strcmp(weight, "logodds") != 0)
            sl_cfg_expected(cfg, sl_cfg_get(bayes, "weight"), "bands or logodds");
        self->bayes_scale =
            sl_cfg_get_double(cfg, bayes, "scale", SCORE_BAYES_SCALE_DEFAULT, 0, 100);
        self->bayes_min = sl_cfg_get_double(cfg, bayes, "min", SCORE_BAYES_MIN_DEFAULT, -1000, 0);
        self->bayes_max = sl_cfg_get_double(cfg, bayes, "max", SCORE_BAYES_MAX_DEFAULT, 0, 1000);
        self->bayes_strength =
            sl_cfg_get_double(cfg, bayes, "strength", BAYES_STRENGTH, 0.01, 100);
        self->bayes_interesting =
            (size_t)sl_cfg_get_int(cfg, bayes, "interesting", BAYES_INTERESTING, 1, 1000);
    }
    self->correspondents = sl_cfg_get_bool(cfg, opts, "correspondents", false);
    self->reputation = sl_cfg_get_bool(cfg, opts, "reputation", false);
    self->window_ms = sl_cfg_get_duration_ms(cfg, opts, "correspondent_window",
                                             SCORE_WINDOW_DEFAULT_MS, 1000, 3650 * SCORE_DAY_MS);
    self->rep_spam = sl_cfg_get_double(cfg, opts, "reputation_spam",
                                       bayes && self->autolearn_spam < 1e9 ? self->autolearn_spam
                                                                           : SCORE_REP_SPAM_DEFAULT,
                                       -1000, 1000);
    char sender_store[PATH_MAX + 16];
    snprintf(sender_store, sizeof sender_store, "sqlite:%s/sender.db",
             sl_cfg_get_str(cfg, sl_cfg_root(cfg), "data_dir", "/var/lib/sluice"));
    sl_strlcpy(sender_store, sl_cfg_get_str(cfg, opts, "sender_store", sender_store),
               sizeof sender_store);
    char err[1024] = "";
    bool bad_cfg = sl_cfg_error_count(cfg) > errors;
    if (!bad_cfg && bayes && (self->bayes = score_bayes_open(store, err, sizeof err)) == NULL) {
        sl_log_error(NULL, "score bayes: %s", err);
        bad_cfg = true;
    }
    if (self->bayes != NULL)
        score_bayes_tune(self->bayes, self->bayes_strength, self->bayes_interesting);
    if (!bad_cfg && (self->correspondents || self->reputation) &&
        (self->sender = score_sender_open(sender_store, err, sizeof err)) == NULL) {
        sl_log_error(NULL, "score sender store: %s", err);
        bad_cfg = true;
    }
    if (bad_cfg)
        sl_log_error(NULL, "score options: %s", sl_cfg_errors(cfg));
    else if ((self->rules = score_rules_load(path, err, sizeof err)) == NULL)
        sl_log_error(NULL, "score rules: %s", err);
    sl_cfg_destroy(&own);
    if (self->rules == NULL || bad_cfg) {
        s_fini(self);
        return -1;
    }
    snprintf(self->version, sizeof self->version, "rules=%zu", score_rules_count(self->rules));
    sl_log_info(NULL, "score rules=%zu path=%s weights=%zu", score_rules_count(self->rules), path,
                self->weight_count);
    *ctx = self;
    return 0;
}

/* --- one message --- */

typedef struct {
    const score_stage_t *self;
    const sl_env_t *env;
    sl_verdict_t *verdict;
} s_scan_t;

static double
s_weight(const score_stage_t *self, const char *name, double score)
{
    for (size_t i = 0; i < self->weight_count; i++)
        if (strcmp(self->weights[i].name, name) == 0)
            return self->weights[i].weight;
    return score;
}

static bool
s_has_symbol(const char *name, void *arg)
{
    const s_scan_t *scan = arg;
    for (size_t v = 0; v < sl_env_verdict_count(scan->env); v++) {
        const sl_verdict_t *verdict = sl_env_verdict_at(scan->env, v);
        const char *sym, *info;
        double score;
        for (size_t i = 0; sl_verdict_symbol_at(verdict, i, &sym, &score, &info) == 0; i++)
            if (strcmp(sym, name) == 0)
                return true;
    }
    return false;
}

static void
s_hit(const char *name, double score, const char *info, void *arg)
{
    s_scan_t *scan = arg;
    sl_verdict_symbol(scan->verdict, name, s_weight(scan->self, name, score), info);
}

/* s_visible - HTML P/LEN without tags, <style> and <script> (caller frees). */
static char *
s_visible(const char *p, size_t len, size_t *out_len)
{
    char *out = sl_xmalloc(len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] != '<') {
            out[n++] = p[i];
            continue;
        }
        bool skip_block = (len - i > 6 && strncasecmp(p + i, "<style", 6) == 0) ||
                          (len - i > 7 && strncasecmp(p + i, "<script", 7) == 0);
        const char *close =
            skip_block ? (p[i + 2] == 't' || p[i + 2] == 'T' ? "</style" : "</script") : NULL;
        if (close) {
            size_t k = i + 1;
            while (k < len &&
                   !(len - k >= strlen(close) && strncasecmp(p + k, close, strlen(close)) == 0))
                k++;
            i = k;
        }
        while (i < len && p[i] != '>')
            i++;
        if (n > 0 && out[n - 1] != ' ')
            out[n++] = ' ';
    }
    out[n] = '\0';
    *out_len = n;
    return out;
}

/* s_url_field - the url stage's `urls` field, copied into LIST; false when absent. */
static bool
s_url_field(const sl_env_t *env, char ***uris, size_t *count)
{
    const sl_verdict_t *url = sl_env_verdict(env, "url");
    sl_slice_t raw = url ? sl_verdict_field(url, "urls") : (sl_slice_t){0};
    if (raw.len == 0)
        return false;
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    bool ok = sl_mp_unpack(raw.ptr, raw.len, SL_ENV_DEPTH_MAX, &up, NULL) == 0 &&
              up.data.type == MSGPACK_OBJECT_ARRAY;
    if (ok) {
        *uris = sl_xcalloc(up.data.via.array.size + 1, sizeof **uris);
        for (uint32_t i = 0; i < up.data.via.array.size; i++) {
            char *s;
            if (sl_mp_get_cstr(&up.data.via.array.ptr[i], SL_ENV_STR_MAX, &s) == 0)
                (*uris)[(*count)++] = s;
        }
    }
    msgpack_unpacked_destroy(&up);
    return ok;
}

/* s_inbound_only - symbols that judge a sender from outside and say nothing
 * about mail from our own outbound_networks (direction "out"): SPF and DMARC
 * check the internal client's address against the domain's public records. */
static bool
s_inbound_only(const char *name)
{
    static const char *const prefixes[] = {"SPF_", "DMARC_POLICY_", "RBL_", "GREYLIST_"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
            return true;
    return false;
}

/* s_rcpts - the envelope's recipients as an array (caller frees the array only). */
static const char **
s_rcpts(const sl_env_t *env, size_t *n)
{
    *n = sl_env_rcpt_count(env);
    const char **rcpts = sl_xcalloc(*n + 1, sizeof *rcpts);
    for (size_t i = 0; i < *n; i++)
        rcpts[i] = sl_env_rcpt(env, i);
    return rcpts;
}

/* s_sender_symbols - SENDER_CORRESPONDENT and SENDER_REP_* for inbound mail;
 * returns the weight they added, so that what is learned excludes it. */
static double
s_sender_symbols(const score_stage_t *self, const sl_env_t *env, s_scan_t *scan)
{
    if (self->sender == NULL || sl_env_direction(env) != SL_DIR_IN)
        return 0.0;
    const char *from = sl_env_mail_from(env);
    size_t before = sl_verdict_symbol_count(scan->verdict), n, hits = 0;
    char info[SL_ENV_STR_MAX];
    const char **rcpts = s_rcpts(env, &n);
    int64_t since = (int64_t)(sl_now_ms() / 1000) - self->window_ms / 1000;
    /* One score serves every recipient (the action stage compares it with each
     * recipient's thresholds), so the bonus needs every recipient to know FROM. */
    if (self->correspondents &&
        score_sender_correspondents(self->sender, from, rcpts, n, since, &hits, info,
                                    sizeof info) == 0 &&
        n > 0 && hits == n)
        s_hit("SENDER_CORRESPONDENT", SCORE_W_SENDER_CORRESPONDENT, info, scan);
    free(rcpts);
    score_rep_t rep;
    if (self->reputation &&
        score_sender_reputation(self->sender, from, score_sender_authenticated(env), &rep, info,
                                sizeof info) == 0) {
        if (rep == SENDER_REP_GOOD)
            s_hit("SENDER_REP_GOOD", SCORE_W_SENDER_REP_GOOD, info, scan);
        else if (rep == SENDER_REP_BAD)
            s_hit("SENDER_REP_BAD", SCORE_W_SENDER_REP_BAD, info, scan);
    }
    double added = 0.0;
    for (size_t i = before; i < sl_verdict_symbol_count(scan->verdict); i++) {
        const char *sym, *sinfo;
        double score;
        sl_verdict_symbol_at(scan->verdict, i, &sym, &score, &sinfo);
        added += score;
    }
    return added;
}

/* s_sender_learn - outbound: who wrote to whom (not from mail scored as spam);
 * inbound: the sender's history, with SCORE (its own symbols left out). */
static void
s_sender_learn(const score_stage_t *self, const sl_msg_t *msg, double score)
{
    const sl_env_t *env = sl_msg_env(msg);
    if (self->sender == NULL || sl_env_verdict(env, "replay") != NULL)
        return; /* `sluice replay --dry-run` marks its envelopes: it must change nothing */
    int rc = 0;
    if (sl_env_direction(env) == SL_DIR_OUT && self->correspondents && score < self->rep_spam) {
        size_t n;
        const char **rcpts = s_rcpts(env, &n);
        rc = score_sender_note_out(self->sender, sl_env_mail_from(env), rcpts, n,
                                   (int64_t)(sl_now_ms() / 1000));
        free(rcpts);
    } else if (sl_env_direction(env) == SL_DIR_IN && self->reputation) {
        rc = score_sender_note_in(self->sender, sl_env_mail_from(env), score,
                                  score >= self->rep_spam);
    }
    if (rc != 0)
        sl_log_warn(sl_msg_id(msg), "score sender store: update failed");
}

static int
s_scan(const sl_msg_t *msg, sl_verdict_t *verdict, void *ctx)
{
    const score_stage_t *self = ctx;
    const sl_env_t *env = sl_msg_env(msg);
    sl_slice_t body = sl_msg_body(msg);

    /* Header block: up to the first empty line. */
    size_t hlen = 0;
    while (hlen < body.len) {
        const char *nl = memchr(body.ptr + hlen, '\n', body.len - hlen);
        size_t eol = nl ? (size_t)(nl - body.ptr) : body.len;
        size_t line = eol - hlen - (eol > hlen && body.ptr[eol - 1] == '\r');
        hlen = eol < body.len ? eol + 1 : body.len;
        if (line == 0)
            break;
    }
    score_input_t in = {
        .header = body.ptr,
        .header_len = hlen > SCORE_HEADER_MAX ? SCORE_HEADER_MAX : hlen,
        .raw_body = body.ptr + hlen,
        .raw_body_len = body.len - hlen,
    };

    const char *texts[SCORE_PARTS_MAX];
    size_t lens[SCORE_PARTS_MAX];
    char *owned[SCORE_PARTS_MAX];
    size_t nt = 0;
    url_list_t found = {0};
    char **uris = NULL;
    size_t uri_count = 0;
    bool have_urls = s_url_field(env, &uris, &uri_count);
    for (size_t i = 0; i < sl_msg_part_count(msg) && i < sl_env_part_count(env); i++) {
        bool text, html;
        url_part_kind(sl_env_part_meta(env, i), &text, &html);
        sl_slice_t data = sl_msg_part(msg, i);
        if (!text || nt == SCORE_PARTS_MAX)
            continue;
        size_t len = data.len > self->text_max ? self->text_max : data.len;
        if (!have_urls) {
            if (html)
                url_list_add_html(&found, data.ptr, len);
            else
                url_list_add_text(&found, data.ptr, len);
        }
        owned[nt] = html ? s_visible(data.ptr, len, &lens[nt]) : NULL;
        texts[nt] = html ? owned[nt] : data.ptr;
        lens[nt] = html ? lens[nt] : len;
        nt++;
    }
    if (!have_urls) {
        uris = sl_xcalloc(found.count + 1, sizeof *uris);
        for (size_t i = 0; i < found.count; i++)
            uris[uri_count++] = sl_xstrdup(found.items[i].url);
    }
    in.texts = texts;
    in.text_lens = lens;
    in.text_count = nt;
    in.uris = (const char *const *)uris;
    in.uri_count = uri_count;
    s_scan_t scan = {.self = self, .env = env, .verdict = verdict};
    in.has_symbol = s_has_symbol;
    in.arg = &scan;
    size_t limited = score_rules_run(self->rules, &in, s_hit, &scan);
    double p = -1;
    if (self->bayes != NULL && score_bayes_classify(self->bayes, body.ptr, body.len, &p) == 1) {
        char info[32];
        snprintf(info, sizeof info, "p=%.6g", p);
        if (!self->bayes_bands)
            s_hit("BAYES_LOGODDS",
                  score_bayes_logodds(p, self->bayes_scale, self->bayes_min, self->bayes_max), info,
                  &scan);
        else if (p >= SCORE_BAYES_SPAM_P)
            s_hit("BAYES_SPAM", SCORE_W_BAYES_SPAM, info, &scan);
        else if (p >= SCORE_BAYES_PROBABLE_P)
            s_hit("BAYES_PROBABLE_SPAM", SCORE_W_BAYES_PROBABLE_SPAM, info, &scan);
        else if (p <= SCORE_BAYES_HAM_P)
            s_hit("BAYES_HAM", SCORE_W_BAYES_HAM, info, &scan);
        sl_verdict_field_double(verdict, "bayes_p", p);
    }

    double sender_weight = s_sender_symbols(self, env, &scan);

    /* The SpamScore: every stage's symbols, weights overridden, ours included. */
    double total = 0.0;
    size_t counted = 0, ignored = 0;
    bool out = sl_env_direction(env) == SL_DIR_OUT;
    for (size_t v = 0; v < sl_env_verdict_count(env); v++) {
        const sl_verdict_t *other = sl_env_verdict_at(env, v);
        if (strcmp(sl_verdict_stage(other), "score") == 0)
            continue; /* a re-run replaces our earlier verdict */
        const char *sym, *info;
        double score;
        for (size_t i = 0; sl_verdict_symbol_at(other, i, &sym, &score, &info) == 0; i++, counted++)
            if (out && s_inbound_only(sym))
                ignored++;
            else
                total += s_weight(self, sym, score);
    }
    size_t own = sl_verdict_symbol_count(verdict);
    for (size_t i = 0; i < own; i++) {
        const char *sym, *info;
        double score;
        sl_verdict_symbol_at(verdict, i, &sym, &score, &info);
        total += score; /* already weighted in s_hit */
    }
    sl_verdict_set_score(verdict, total);
    sl_verdict_field_int(verdict, "rules_hit", (int64_t)own);
    sl_verdict_field_int(verdict, "symbols_counted", (int64_t)(counted + own));
    if (limited > 0)
        sl_verdict_field_int(verdict, "match_limit_hits", (int64_t)limited);
    if (ignored > 0)
        sl_verdict_field_int(verdict, "outbound_ignored", (int64_t)ignored);
    if (self->bayes != NULL && (total >= self->autolearn_spam || total <= self->autolearn_ham)) {
        bool spam = total >= self->autolearn_spam;
        if (score_bayes_learn(self->bayes, body.ptr, body.len, spam) == 0)
            sl_verdict_field_str(verdict, "autolearn", spam ? "spam" : "ham");
    }
    s_sender_learn(self, msg, total - sender_weight);
    sl_log_info(sl_msg_id(msg), "score score=%.2f rules_hit=%zu symbols=%zu limited=%zu", total,
                own, counted + own, limited);

    for (size_t i = 0; i < nt; i++)
        free(owned[i]);
    for (size_t i = 0; i < uri_count; i++)
        free(uris[i]);
    free(uris);
    url_list_clear(&found);
    return 0;
}

int
main(int argc, char **argv)
{
    static const sl_stage_def_t def = {
        .name = "score",
        .version = SCORE_VERSION,
        .needs = SL_NEED_BODY | SL_NEED_PARTS,
        .init = s_init,
        .fini = s_fini,
        .scan = s_scan,
        .rules_version = s_rules_version,
    };
    return sl_stage_main(argc, argv, &def);
}
