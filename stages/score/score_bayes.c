/*
 * stages/score/score_bayes.c - naive Bayes over message tokens (Robinson-Fisher).
 *
 * Tokens: words of 3..40 octets ([A-Za-z0-9$'-] and any 8-bit byte), ASCII
 * lower-cased. Header: every field but filters' own marks (X-Spam-*, ...)
 * and mailbox bookkeeping gives its presence ("h:list-id"), its words and its
 * dotted names (hosts, addresses, IPs) with the field as prefix
 * ("subject:free", "received:mail.example.com"). Body: GMime decodes the
 * text parts (base64, quoted-printable, charsets to UTF-8) and their words
 * count; other parts give their type and file extension ("part:image/gif",
 * "ext:exe"); a message GMime cannot take is read raw, base64-looking lines
 * skipped. Each distinct token counts once per message. Probabilities follow
 * Robinson (strength s, x 0.5), combined by Fisher's chi-square over the
 * `interesting` tokens furthest from 0.5 (defaults s 0.45, 20 tokens: on the
 * SpamAssassin public corpus, 150 tokens let a newsletter's hundred mildly
 * commercial words outvote its sender's headers; bench/RESULTS.md).
 * The message is untrusted: bounded by BAYES_SCAN_MAX, BAYES_TOKENS_MAX,
 * BAYES_PARTS_MAX and BAYES_CONTAINERS_MAX (GMime's parser recurses per
 * nesting level).
 * Tests: tests/unit/test_score_bayes.c
 */
#include "score_bayes.h"
#include "sl_mem.h"
#include "sl_store.h"
#include "sl_text.h"

#include <gmime/gmime.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BAYES_CONTAINERS_MAX 100 /* multipart/message mentions GMime is given */
#define BAYES_PARTS_MAX 64       /* MIME parts looked at */
#define BAYES_QUERY_BATCH 200 /* tokens per SELECT ... IN (...) */
#define BAYES_P_EDGE 1e-12    /* score_bayes_logodds keeps p this far from 0 and 1 */

struct score_bayes {
    sl_store_t *store;    /* one handle, used under lock */
    pthread_mutex_t lock; /* serialises the store between scan threads */
    double strength;      /* Robinson's s: weight of the prior 0.5 for rare tokens */
    size_t interesting;   /* tokens furthest from 0.5 that decide */
};

static const char *const s_steps[] = {
    "CREATE TABLE bayes_token (token TEXT PRIMARY KEY, spam INTEGER NOT NULL, "
    "ham INTEGER NOT NULL)",
    "CREATE TABLE bayes_total (class TEXT PRIMARY KEY, messages INTEGER NOT NULL)",
};

score_bayes_t *
score_bayes_open(const char *url, char *err, size_t errlen)
{
    sl_store_t *store = sl_store_open(url, err, errlen);
    if (store == NULL)
        return NULL;
    if (sl_store_migrate(store, "bayes", s_steps, sizeof s_steps / sizeof s_steps[0]) != 0) {
        snprintf(err, errlen, "bayes schema: %s", sl_store_error(store));
        sl_store_close(&store);
        return NULL;
    }
    score_bayes_t *self = sl_xcalloc(1, sizeof *self);
    self->store = store;
    self->strength = BAYES_STRENGTH;
    self->interesting = BAYES_INTERESTING;
    pthread_mutex_init(&self->lock, NULL);
    return self;
}

void
score_bayes_close(score_bayes_t **self_p)
{
    score_bayes_t *self = *self_p;
    if (self == NULL)
        return;
    sl_store_close(&self->store);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

/* --- tokens --- */

typedef struct {
    char **slots; /* open addressing, 2 * BAYES_TOKENS_MAX */
    size_t size;
    size_t count;
} s_set_t;

static uint64_t
s_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void
s_set_add(s_set_t *set, const char *token)
{
    if (set->count >= BAYES_TOKENS_MAX)
        return;
    size_t i = (size_t)(s_hash(token) % set->size);
    while (set->slots[i]) {
        if (strcmp(set->slots[i], token) == 0)
            return;
        i = (i + 1) % set->size;
    }
    set->slots[i] = sl_xstrdup(token);
    set->count++;
}

static bool
s_word_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '$' ||
           c == '\'' || c == '-' || c >= 0x80;
}

static bool
s_host_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_' || c == '@';
}

/* s_runs - the runs of P/LEN made of IS_CHAR characters into SET, each after
 * PREFIX and ASCII lower-cased; HOSTS: only runs with a dot, without trailing
 * dots or dashes, of 4 octets or more (host names, addresses, IPs), else
 * words of 3 or more. */
static void
s_runs(s_set_t *set, const char *prefix, const char *p, size_t len, bool (*is_char)(unsigned char),
       bool hosts)
{
    char token[BAYES_TOKEN_MAX + 40];
    size_t plen = strlen(prefix);
    size_t i = 0;
    while (i < len) {
        while (i < len && !is_char((unsigned char)p[i]))
            i++;
        size_t start = i;
        while (i < len && is_char((unsigned char)p[i]))
            i++;
        size_t n = i - start;
        if (hosts)
            while (n > 0 && (p[start + n - 1] == '.' || p[start + n - 1] == '-'))
                n--;
        if (n < (hosts ? 4u : 3u) || n > BAYES_TOKEN_MAX || plen + n >= sizeof token ||
            (hosts && memchr(p + start, '.', n) == NULL))
            continue;
        memcpy(token, prefix, plen);
        for (size_t k = 0; k < n; k++) {
            char c = p[start + k];
            token[plen + k] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
        }
        token[plen + n] = '\0';
        s_set_add(set, token);
    }
}

/* s_words - the words of P/LEN into SET, each after PREFIX. */
static void
s_words(s_set_t *set, const char *prefix, const char *p, size_t len)
{
    s_runs(set, prefix, p, len, s_word_char, false);
}

static bool
s_base64_line(const char *p, size_t len)
{
    if (len < 40)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/' || c == '=' || c == '\r'))
            return false;
    }
    return true;
}

/* s_skip_field - header fields left out: filters' own marks (a feedback loop
 * or a leak of another filter's verdict) and mailbox bookkeeping. */
static bool
s_skip_field(const char *name, size_t n)
{
    static const char *const prefixes[] = {"x-spam", "x-virus", "x-rspamd", "x-sluice",
                                           "x-bogosity", "x-dspam", "x-amavis"};
    static const char *const fields[] = {"status", "x-status", "x-keywords", "x-uid",
                                         "content-length", "lines", "date"};
    for (size_t k = 0; k < sizeof prefixes / sizeof prefixes[0]; k++)
        if (n >= strlen(prefixes[k]) && strncasecmp(name, prefixes[k], strlen(prefixes[k])) == 0)
            return true;
    for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++)
        if (n == strlen(fields[k]) && strncasecmp(name, fields[k], n) == 0)
            return true;
    return false;
}

/* s_header - the header block's tokens: per field its presence ("h:name")
 * and its words and dotted names prefixed by the field ("subject:free",
 * "received:mail.example.com"). Returns the octets of the header block. */
static size_t
s_header(s_set_t *set, const char *msg, size_t len)
{
    char prefix[40] = "";
    bool skip = true;
    size_t i = 0;
    while (i < len) {
        const char *nl = memchr(msg + i, '\n', len - i);
        size_t eol = nl ? (size_t)(nl - msg) : len;
        const char *line = msg + i;
        size_t n = eol - i;
        i = eol < len ? eol + 1 : len;
        if (n == 0 || (n == 1 && line[0] == '\r'))
            break;
        if (line[0] != ' ' && line[0] != '\t') {
            const char *colon = memchr(line, ':', n);
            size_t fl = colon ? (size_t)(colon - line) : 0;
            skip = fl == 0 || fl > 24 || memchr(line, ' ', fl) || memchr(line, '\t', fl) ||
                   s_skip_field(line, fl);
            if (skip)
                continue;
            char name[32];
            for (size_t k = 0; k < fl; k++)
                name[k] = line[k] >= 'A' && line[k] <= 'Z' ? (char)(line[k] - 'A' + 'a') : line[k];
            name[fl] = '\0';
            snprintf(prefix, sizeof prefix, "h:%s", name);
            s_set_add(set, prefix);
            snprintf(prefix, sizeof prefix, "%s:", name);
            line += fl + 1;
            n -= fl + 1;
        }
        if (skip)
            continue;
        s_words(set, prefix, line, n);
        s_runs(set, prefix, line, n, s_host_char, true);
    }
    return i;
}

static void
s_text(s_set_t *set, const char *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        const char *nl = memchr(p + i, '\n', len - i);
        size_t eol = nl ? (size_t)(nl - p) : len;
        if (!s_base64_line(p + i, eol - i))
            s_words(set, "", p + i, eol - i);
        i = eol + 1;
    }
}

static pthread_once_t s_gmime_once = PTHREAD_ONCE_INIT;

static void
s_gmime_init(void)
{
    g_mime_init();
}

/* s_decode - words of the message's text parts, decoded (base64, quoted-
 * printable) and in UTF-8, and the type and file extension of other parts;
 * -1 when GMime cannot take the message (the caller tokenizes it raw). */
static int
s_decode(s_set_t *set, const char *msg, size_t len)
{
    if (sl_mime_containers(msg, len) > BAYES_CONTAINERS_MAX)
        return -1;
    pthread_once(&s_gmime_once, s_gmime_init);
    GMimeStream *stream = g_mime_stream_mem_new_with_buffer(msg, len);
    GMimeParser *parser = g_mime_parser_new_with_stream(stream);
    g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
    GMimeParserOptions *opts = g_mime_parser_options_new();
    GMimeMessage *m = g_mime_parser_construct_message(parser, opts);
    int rc = -1;
    if (m != NULL && g_mime_message_get_mime_part(m) != NULL) {
        rc = 0;
        GMimePartIter *it = g_mime_part_iter_new(GMIME_OBJECT(m));
        size_t parts = 0;
        do {
            GMimeObject *obj = g_mime_part_iter_get_current(it);
            if (obj == NULL || !GMIME_IS_PART(obj))
                continue;
            GMimeContentType *ct = g_mime_object_get_content_type(obj);
            const char *type = ct ? g_mime_content_type_get_media_type(ct) : NULL;
            const char *sub = ct ? g_mime_content_type_get_media_subtype(ct) : NULL;
            char tok[BAYES_TOKEN_MAX];
            snprintf(tok, sizeof tok, "part:%s/%s", type ? type : "", sub ? sub : "");
            for (char *c = tok; *c; c++)
                *c = *c >= 'A' && *c <= 'Z' ? (char)(*c - 'A' + 'a') : *c;
            s_set_add(set, tok);
            const char *name = g_mime_part_get_filename(GMIME_PART(obj));
            const char *dot = name ? strrchr(name, '.') : NULL;
            if (dot && strlen(dot) < 12) {
                snprintf(tok, sizeof tok, "ext:%s", dot + 1);
                s_set_add(set, tok);
            }
            if (!GMIME_IS_TEXT_PART(obj))
                continue;
            char *text = g_mime_text_part_get_text(GMIME_TEXT_PART(obj));
            if (text != NULL) {
                size_t n = strlen(text);
                s_text(set, text, n > BAYES_SCAN_MAX ? BAYES_SCAN_MAX : n);
                g_free(text);
            }
        } while (++parts < BAYES_PARTS_MAX && g_mime_part_iter_next(it));
        g_mime_part_iter_free(it);
    }
    if (m != NULL)
        g_object_unref(m);
    g_mime_parser_options_free(opts);
    g_object_unref(parser);
    g_object_unref(stream);
    return rc;
}

static void
s_tokenize(s_set_t *set, const char *msg, size_t len)
{
    if (len > BAYES_SCAN_MAX)
        len = BAYES_SCAN_MAX;
    set->size = 2 * BAYES_TOKENS_MAX + 1;
    set->slots = sl_xcalloc(set->size, sizeof *set->slots);
    size_t hlen = s_header(set, msg, len);
    if (s_decode(set, msg, len) != 0)
        s_text(set, msg + hlen, len - hlen);
}

static void
s_set_free(s_set_t *set)
{
    for (size_t i = 0; i < set->size; i++)
        free(set->slots[i]);
    free(set->slots);
}

size_t
score_bayes_tokens(const char *msg, size_t len, void (*fn)(const char *token, void *arg), void *arg)
{
    s_set_t set = {0};
    s_tokenize(&set, msg, len);
    for (size_t i = 0; i < set.size; i++)
        if (set.slots[i])
            fn(set.slots[i], arg);
    size_t n = set.count;
    s_set_free(&set);
    return n;
}

/* --- learning --- */

int
score_bayes_begin(score_bayes_t *self)
{
    pthread_mutex_lock(&self->lock);
    int rc = sl_store_begin(self->store);
    pthread_mutex_unlock(&self->lock);
    return rc;
}

int
score_bayes_commit(score_bayes_t *self)
{
    pthread_mutex_lock(&self->lock);
    int rc = sl_store_commit(self->store);
    pthread_mutex_unlock(&self->lock);
    return rc;
}

int
score_bayes_learn(score_bayes_t *self, const char *msg, size_t len, bool spam)
{
    s_set_t set = {0};
    s_tokenize(&set, msg, len);
    const char *one = "1", *zero = "0";
    int rc = 0;
    pthread_mutex_lock(&self->lock);
    for (size_t i = 0; i < set.size && rc == 0; i++) {
        if (set.slots[i] == NULL)
            continue;
        const char *params[] = {set.slots[i], spam ? one : zero, spam ? zero : one};
        rc = sl_store_exec(self->store,
                           "INSERT INTO bayes_token (token, spam, ham) VALUES (?, ?, ?) "
                           "ON CONFLICT (token) DO UPDATE SET spam = bayes_token.spam + "
                           "excluded.spam, ham = bayes_token.ham + excluded.ham",
                           params, 3);
    }
    const char *params[] = {spam ? "spam" : "ham"};
    if (rc == 0)
        rc = sl_store_exec(self->store,
                           "INSERT INTO bayes_total (class, messages) VALUES (?, 1) "
                           "ON CONFLICT (class) DO UPDATE SET messages = bayes_total.messages + 1",
                           params, 1);
    pthread_mutex_unlock(&self->lock);
    s_set_free(&set);
    return rc == 0 ? 0 : -1;
}

/* --- classifying --- */

/* s_totals - messages learned per class; -1 on a store error. Under lock. */
static int
s_totals(score_bayes_t *self, int64_t *spam, int64_t *ham)
{
    *spam = *ham = 0;
    sl_rows_t *rows =
        sl_store_query(self->store, "SELECT class, messages FROM bayes_total", NULL, 0);
    if (rows == NULL)
        return -1;
    for (size_t r = 0; r < sl_rows_count(rows); r++) {
        const char *class = sl_rows_get(rows, r, 0);
        int64_t n = sl_rows_int(rows, r, 1, 0);
        if (class && strcmp(class, "spam") == 0)
            *spam = n;
        else if (class && strcmp(class, "ham") == 0)
            *ham = n;
    }
    sl_rows_free(&rows);
    return 0;
}

/* s_chi2q - P(chi-square with V degrees of freedom >= X2); V even. */
static double
s_chi2q(double x2, size_t v)
{
    double m = x2 / 2.0, term = exp(-m), sum = term;
    for (size_t i = 1; i < v / 2; i++) {
        term *= m / (double)i;
        sum += term;
    }
    return sum < 1.0 ? sum : 1.0;
}

static int
s_cmp_interest(const void *a, const void *b)
{
    double x = fabs(*(const double *)a - 0.5), y = fabs(*(const double *)b - 0.5);
    return x < y ? 1 : x > y ? -1 : 0;
}

int
score_bayes_classify(score_bayes_t *self, const char *msg, size_t len, double *p)
{
    s_set_t set = {0};
    s_tokenize(&set, msg, len);
    const char **tokens = sl_xcalloc(set.count + 1, sizeof *tokens);
    size_t nt = 0;
    for (size_t i = 0; i < set.size; i++)
        if (set.slots[i])
            tokens[nt++] = set.slots[i];
    double *f = sl_xcalloc(nt + 1, sizeof *f);
    size_t nf = 0;
    int64_t nspam, nham;
    int rc = 1;
    double strength = self->strength;
    pthread_mutex_lock(&self->lock);
    if (s_totals(self, &nspam, &nham) != 0)
        rc = -1;
    else if (nspam < BAYES_MIN_LEARNED || nham < BAYES_MIN_LEARNED)
        rc = 0;
    char sql[64 + BAYES_QUERY_BATCH * 3];
    for (size_t at = 0; rc == 1 && at < nt; at += BAYES_QUERY_BATCH) {
        size_t n = nt - at < BAYES_QUERY_BATCH ? nt - at : BAYES_QUERY_BATCH;
        size_t w =
            (size_t)snprintf(sql, sizeof sql, "SELECT spam, ham FROM bayes_token WHERE token IN (");
        for (size_t k = 0; k < n; k++)
            w += (size_t)snprintf(sql + w, sizeof sql - w, k ? ",?" : "?");
        snprintf(sql + w, sizeof sql - w, ")");
        sl_rows_t *rows = sl_store_query(self->store, sql, tokens + at, n);
        if (rows == NULL) {
            rc = -1;
            break;
        }
        for (size_t r = 0; r < sl_rows_count(rows); r++) {
            double s = (double)sl_rows_int(rows, r, 0, 0), h = (double)sl_rows_int(rows, r, 1, 0);
            double ps = s / (double)nspam, ph = h / (double)nham;
            if (ps + ph <= 0)
                continue;
            double pw = ps / (ps + ph), cnt = s + h;
            double fw = (strength * 0.5 + cnt * pw) / (strength + cnt); /* Robinson, x = 0.5 */
            if (fabs(fw - 0.5) >= BAYES_MIN_DEVIATION)
                f[nf++] = fw;
        }
        sl_rows_free(&rows);
    }
    pthread_mutex_unlock(&self->lock);
    if (rc == 1) {
        qsort(f, nf, sizeof *f, s_cmp_interest);
        if (nf > self->interesting)
            nf = self->interesting;
        double ln_f = 0, ln_not_f = 0; /* sums of ln f(w) and ln (1 - f(w)) */
        for (size_t i = 0; i < nf; i++) {
            double x = f[i] < 1e-6 ? 1e-6 : f[i] > 1 - 1e-6 ? 1 - 1e-6 : f[i];
            ln_f += log(x);
            ln_not_f += log(1.0 - x);
        }
        if (nf == 0) {
            *p = 0.5;
        } else { /* Robinson's I = (1 + H - S) / 2 */
            double h = s_chi2q(-2.0 * ln_f, 2 * nf), s = s_chi2q(-2.0 * ln_not_f, 2 * nf);
            *p = (1.0 + h - s) / 2.0;
        }
    }
    free(f);
    free(tokens);
    s_set_free(&set);
    return rc;
}

void
score_bayes_tune(score_bayes_t *self, double strength, size_t interesting)
{
    self->strength = strength > 0 ? strength : BAYES_STRENGTH;
    self->interesting = interesting > 0 ? interesting : BAYES_INTERESTING;
}

double
score_bayes_logodds(double p, double scale, double min, double max)
{
    if (!(p == p)) /* NaN */
        p = 0.5;
    p = p < BAYES_P_EDGE ? BAYES_P_EDGE : p > 1.0 - BAYES_P_EDGE ? 1.0 - BAYES_P_EDGE : p;
    double w = scale * log10(p / (1.0 - p));
    return w < min ? min : w > max ? max : w;
}

int
score_bayes_stats(score_bayes_t *self, int64_t *spam, int64_t *ham, int64_t *tokens)
{
    pthread_mutex_lock(&self->lock);
    int rc = s_totals(self, spam, ham);
    sl_rows_t *rows =
        rc == 0 ? sl_store_query(self->store, "SELECT COUNT(*) FROM bayes_token", NULL, 0) : NULL;
    if (rows == NULL)
        rc = -1;
    else
        *tokens = sl_rows_int(rows, 0, 0, 0);
    sl_rows_free(&rows);
    pthread_mutex_unlock(&self->lock);
    return rc;
}
