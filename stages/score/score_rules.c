/*
 * stages/score/score_rules.c - the score stage's rule engine.
 *
 * Rule files are operator input: every line is checked and refused with
 * "file:line: reason". Regex rules are PCRE2, compiled once (JIT when
 * available), matched with a match limit so one backtracking pattern cannot
 * stall a scan; invalid UTF-8 in mail is tolerated (PCRE2_MATCH_INVALID_UTF).
 * Meta rules are compiled to postfix form at load. The set is read-only
 * after load and shared by the scan threads.
 * Tests: tests/unit/test_score_rules.c
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "score_rules.h"
#include "sl_mem.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { S_HEADER, S_BODY, S_RAWBODY, S_URI, S_META } s_kind_t;

/* Meta tokens: names are >= 0 (index into the rule's names), operators < 0. */
#define S_OP_NOT (-1)
#define S_OP_AND (-2)
#define S_OP_OR (-3)

typedef struct {
    char *name;     /* [A-Z0-9_]+ */
    s_kind_t kind;  /* what it looks at */
    double score;   /* weight (default 1) */
    char *describe; /* one line, "" when none */
    char *header;   /* header name; "ALL" = the whole header block */
    bool negate;    /* header !~: hit when no field matches */
    bool exists;    /* header exists:NAME */
    pcre2_code *re; /* compiled pattern (not for meta / exists) */
    int *tokens;    /* meta: postfix tokens */
    size_t token_count;
    char **names;    /* meta: symbol names the tokens refer to */
    long *name_rule; /* meta: index of our rule with that name, or -1 */
    size_t name_count;
} s_rule_t;

struct score_rules {
    s_rule_t *rules; /* count entries, file order */
    size_t count;
    size_t cap;
    pcre2_match_context *mctx; /* match limits; read-only while matching */
};

static void s_err(char *err, size_t errlen, const char *file, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
s_err(char *err, size_t errlen, const char *file, size_t line, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "%s:%zu: %s", file, line, msg);
}

static bool
s_name_valid(const char *p, size_t len)
{
    if (len == 0 || len > 64)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '_'))
            return false;
    return true;
}

static long
s_find(const score_rules_t *self, const char *name)
{
    for (size_t i = 0; i < self->count; i++)
        if (strcmp(self->rules[i].name, name) == 0)
            return (long)i;
    return -1;
}

/* s_regex - "/pattern/flags" in P into a compiled pattern; NULL with WHY. */
static pcre2_code *
s_regex(const char *p, char *why, size_t whylen)
{
    const char *last = strrchr(p, '/');
    if (p[0] != '/' || last == p) {
        snprintf(why, whylen, "expected /pattern/flags");
        return NULL;
    }
    uint32_t opts = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_NO_UTF_CHECK;
    for (const char *f = last + 1; *f; f++) {
        switch (*f) {
        case 'i':
            opts |= PCRE2_CASELESS;
            break;
        case 'm':
            opts |= PCRE2_MULTILINE;
            break;
        case 's':
            opts |= PCRE2_DOTALL;
            break;
        case 'x':
            opts |= PCRE2_EXTENDED;
            break;
        default:
            snprintf(why, whylen, "unknown regex flag '%c' (i, m, s, x)", *f);
            return NULL;
        }
    }
    opts &= ~(uint32_t)PCRE2_NO_UTF_CHECK; /* the pattern itself is checked */
    int code;
    PCRE2_SIZE offset;
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)(p + 1), (PCRE2_SIZE)(last - p - 1), opts, &code, &offset, NULL);
    if (re == NULL) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(code, msg, sizeof msg);
        snprintf(why, whylen, "regex error at offset %zu: %s", (size_t)offset, (char *)msg);
        return NULL;
    }
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* interpreted when JIT is missing */
    return re;
}

/* --- meta expressions: recursive descent to postfix --- */

typedef struct {
    const char *p;   /* cursor */
    s_rule_t *rule;  /* receives tokens and names */
    unsigned depth;  /* parentheses open */
    const char *why; /* first error */
} s_meta_t;

static void
s_ws(s_meta_t *m)
{
    while (*m->p == ' ' || *m->p == '\t')
        m->p++;
}

static void
s_emit(s_meta_t *m, int token)
{
    if (m->rule->token_count == SCORE_META_TOKENS_MAX) {
        m->why = m->why ? m->why : "meta expression too long";
        return;
    }
    if (m->rule->tokens == NULL)
        m->rule->tokens = sl_xcalloc(SCORE_META_TOKENS_MAX, sizeof *m->rule->tokens);
    m->rule->tokens[m->rule->token_count++] = token;
}

static void s_or(s_meta_t *m);

static void
s_unary(s_meta_t *m)
{
    s_ws(m);
    if (m->why)
        return;
    if (*m->p == '!') {
        m->p++;
        s_unary(m);
        s_emit(m, S_OP_NOT);
    } else if (*m->p == '(') {
        if (++m->depth > SCORE_META_DEPTH_MAX) {
            m->why = "meta expression nested too deep";
            return;
        }
        m->p++;
        s_or(m);
        s_ws(m);
        if (*m->p != ')') {
            m->why = m->why ? m->why : "missing )";
            return;
        }
        m->p++;
        m->depth--;
    } else {
        size_t n = strspn(m->p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
        if (!s_name_valid(m->p, n)) {
            m->why = "expected a symbol name, !, or (";
            return;
        }
        s_rule_t *r = m->rule;
        size_t k = 0;
        while (k < r->name_count && (strlen(r->names[k]) != n || memcmp(r->names[k], m->p, n)))
            k++;
        if (k == r->name_count) {
            if (r->name_count == SCORE_META_TOKENS_MAX) {
                m->why = "meta expression too long";
                return;
            }
            if (r->names == NULL)
                r->names = sl_xcalloc(SCORE_META_TOKENS_MAX, sizeof *r->names);
            r->names[r->name_count++] = sl_xstrndup(m->p, n);
        }
        s_emit(m, (int)k);
        m->p += n;
    }
}

static void
s_and(s_meta_t *m)
{
    s_unary(m);
    for (s_ws(m); !m->why && m->p[0] == '&' && m->p[1] == '&'; s_ws(m)) {
        m->p += 2;
        s_unary(m);
        s_emit(m, S_OP_AND);
    }
}

static void
s_or(s_meta_t *m)
{
    s_and(m);
    for (s_ws(m); !m->why && m->p[0] == '|' && m->p[1] == '|'; s_ws(m)) {
        m->p += 2;
        s_and(m);
        s_emit(m, S_OP_OR);
    }
}

/* --- parsing --- */

static void
s_rule_free(s_rule_t *r)
{
    free(r->name);
    free(r->describe);
    free(r->header);
    pcre2_code_free(r->re);
    free(r->tokens);
    for (size_t i = 0; i < r->name_count; i++)
        free(r->names[i]);
    free(r->names);
    free(r->name_rule);
}

void
score_rules_destroy(score_rules_t **self_p)
{
    score_rules_t *self = *self_p;
    if (self == NULL)
        return;
    for (size_t i = 0; i < self->count; i++)
        s_rule_free(&self->rules[i]);
    free(self->rules);
    pcre2_match_context_free(self->mctx);
    free(self);
    *self_p = NULL;
}

/* s_line - one line (NUL-terminated, no newline) of FILE into SELF; -1 with ERR. */
static int
s_line(score_rules_t *self, char *line, const char *file, size_t lineno, char *err, size_t errlen)
{
    static const struct {
        const char *word;
        int kind; /* s_kind_t, or -1 score, -2 describe */
    } words[] = {{"header", S_HEADER}, {"body", S_BODY}, {"rawbody", S_RAWBODY}, {"uri", S_URI},
                 {"meta", S_META},     {"score", -1},    {"describe", -2}};
    size_t len = strlen(line);
    while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t' || line[len - 1] == '\r'))
        line[--len] = '\0';
    char *p = line;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '\0' || *p == '#')
        return 0;
    size_t wlen = strcspn(p, " \t");
    int kind = -100;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strlen(words[i].word) == wlen && strncmp(p, words[i].word, wlen) == 0)
            kind = words[i].kind;
    if (kind == -100) {
        s_err(err, errlen, file, lineno, "unknown keyword '%.*s'", (int)(wlen > 40 ? 40 : wlen), p);
        return -1;
    }
    p += wlen;
    p += strspn(p, " \t");
    size_t nlen = strcspn(p, " \t");
    if (!s_name_valid(p, nlen)) {
        s_err(err, errlen, file, lineno, "expected a rule name of 1-64 A-Z, 0-9, _");
        return -1;
    }
    char name[65];
    memcpy(name, p, nlen);
    name[nlen] = '\0';
    p += nlen;
    p += strspn(p, " \t");
    if (*p == '\0') {
        s_err(err, errlen, file, lineno, "%.*s %s: nothing after the name", (int)wlen,
              line + strspn(line, " \t"), name);
        return -1;
    }
    long found = s_find(self, name);
    if (kind == -1 || kind == -2) {
        if (found < 0) {
            s_err(err, errlen, file, lineno, "%s for %s, which is not defined above",
                  kind == -1 ? "score" : "describe", name);
            return -1;
        }
        s_rule_t *r = &self->rules[found];
        if (kind == -2) {
            free(r->describe);
            r->describe =
                sl_xstrndup(p, strlen(p) > SCORE_DESCRIBE_MAX ? SCORE_DESCRIBE_MAX : strlen(p));
            return 0;
        }
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (errno != 0 || *end != '\0' || !isfinite(v) || v < -1000 || v > 1000) {
            s_err(err, errlen, file, lineno, "score %s: expected a number from -1000 to 1000",
                  name);
            return -1;
        }
        r->score = v;
        return 0;
    }
    if (found >= 0) {
        s_err(err, errlen, file, lineno, "rule %s defined twice", name);
        return -1;
    }
    if (self->count == SCORE_RULES_MAX) {
        s_err(err, errlen, file, lineno, "more than %d rules", SCORE_RULES_MAX);
        return -1;
    }
    s_rule_t r = {.kind = (s_kind_t)kind, .score = 1.0};
    char why[256] = "";
    if (kind == S_HEADER) {
        if (strncmp(p, "exists:", 7) == 0) {
            r.exists = true;
            r.header = sl_xstrdup(p + 7);
            if (strcspn(r.header, " \t:") != strlen(r.header) || r.header[0] == '\0')
                snprintf(why, sizeof why, "expected exists:Header-Name");
        } else {
            size_t hlen = strcspn(p, " \t");
            r.header = sl_xstrndup(p, hlen);
            p += hlen;
            p += strspn(p, " \t");
            if (strncmp(p, "=~", 2) != 0 && strncmp(p, "!~", 2) != 0)
                snprintf(why, sizeof why, "expected Header-Name =~ /pattern/ or !~");
            else {
                r.negate = p[0] == '!';
                p += 2;
                p += strspn(p, " \t");
                r.re = s_regex(p, why, sizeof why);
            }
        }
    } else if (kind == S_META) {
        s_meta_t m = {.p = p, .rule = &r};
        s_or(&m);
        s_ws(&m);
        if (m.why == NULL && *m.p != '\0')
            m.why = "unexpected text after the expression";
        if (m.why)
            snprintf(why, sizeof why, "meta %s: %s", name, m.why);
    } else {
        r.re = s_regex(p, why, sizeof why);
    }
    if (why[0] != '\0') {
        s_err(err, errlen, file, lineno, "%s", why);
        s_rule_free(&r);
        return -1;
    }
    r.name = sl_xstrdup(name);
    r.describe = sl_xstrdup("");
    if (self->count == self->cap) {
        self->cap = self->cap ? self->cap * 2 : 64;
        self->rules = sl_xrealloc(self->rules, self->cap * sizeof *self->rules);
    }
    self->rules[self->count++] = r;
    return 0;
}

static score_rules_t *
s_new(void)
{
    score_rules_t *self = sl_xcalloc(1, sizeof *self);
    self->mctx = pcre2_match_context_create(NULL);
    if (self->mctx == NULL)
        abort(); /* out of memory */
    pcre2_set_match_limit(self->mctx, SCORE_MATCH_LIMIT);
    pcre2_set_depth_limit(self->mctx, SCORE_MATCH_LIMIT / 10);
    return self;
}

/* s_parse_into - lines of TEXT/LEN into SELF. */
static int
s_parse_into(score_rules_t *self, const char *text, size_t len, const char *name, char *err,
             size_t errlen)
{
    char line[SCORE_RULE_LINE_MAX + 1];
    size_t lineno = 0, i = 0;
    while (i < len) {
        size_t eol = i;
        while (eol < len && text[eol] != '\n')
            eol++;
        lineno++;
        if (eol - i > SCORE_RULE_LINE_MAX) {
            s_err(err, errlen, name, lineno, "line over %d octets", SCORE_RULE_LINE_MAX);
            return -1;
        }
        if (memchr(text + i, '\0', eol - i) != NULL) {
            s_err(err, errlen, name, lineno, "NUL byte");
            return -1;
        }
        memcpy(line, text + i, eol - i);
        line[eol - i] = '\0';
        if (s_line(self, line, name, lineno, err, errlen) != 0)
            return -1;
        i = eol + 1;
    }
    return 0;
}

/* s_resolve - meta names that are our own rules point at them. */
static void
s_resolve(score_rules_t *self)
{
    for (size_t i = 0; i < self->count; i++) {
        s_rule_t *r = &self->rules[i];
        if (r->kind != S_META || r->name_count == 0)
            continue;
        r->name_rule = sl_xcalloc(r->name_count, sizeof *r->name_rule);
        for (size_t k = 0; k < r->name_count; k++)
            r->name_rule[k] = s_find(self, r->names[k]);
    }
}

score_rules_t *
score_rules_parse(const char *text, size_t len, const char *name, char *err, size_t errlen)
{
    score_rules_t *self = s_new();
    if (s_parse_into(self, text, len, name, err, errlen) != 0) {
        score_rules_destroy(&self);
        return NULL;
    }
    s_resolve(self);
    return self;
}

static int
s_load_file(score_rules_t *self, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 65536) {
            if (cap > (64u << 20)) { /* 64 MiB of rules is a mistake, not a rule set */
                free(buf);
                fclose(f);
                snprintf(err, errlen, "%s: over 64 MiB", path);
                return -1;
            }
            cap = cap ? cap * 2 : 131072;
            buf = sl_xrealloc(buf, cap);
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    bool failed = ferror(f) != 0;
    fclose(f);
    int rc = failed ? -1 : s_parse_into(self, buf, len, path, err, errlen);
    if (failed)
        snprintf(err, errlen, "%s: read error", path);
    free(buf);
    return rc;
}

static int
s_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

score_rules_t *
score_rules_load(const char *path, char *err, size_t errlen)
{
    score_rules_t *self = s_new();
    DIR *dir = opendir(path);
    int rc = 0;
    if (dir == NULL) {
        rc = s_load_file(self, path, err, errlen);
    } else {
        char **names = NULL;
        size_t n = 0, cap = 0;
        struct dirent *e;
        while ((e = readdir(dir)) != NULL) {
            size_t l = strlen(e->d_name);
            if (l < 7 || strcmp(e->d_name + l - 6, ".rules") != 0 || e->d_name[0] == '.')
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                names = sl_xrealloc(names, cap * sizeof *names);
            }
            names[n++] = sl_xstrdup(e->d_name);
        }
        closedir(dir);
        if (n > 0)
            qsort(names, n, sizeof *names, s_cmp);
        for (size_t i = 0; i < n; i++) {
            char full[4096];
            int w = snprintf(full, sizeof full, "%s/%s", path, names[i]);
            if (rc == 0 && (w < 0 || (size_t)w >= sizeof full)) {
                snprintf(err, errlen, "%s: path too long", path);
                rc = -1;
            }
            if (rc == 0)
                rc = s_load_file(self, full, err, errlen);
            free(names[i]);
        }
        free(names);
    }
    if (rc != 0) {
        score_rules_destroy(&self);
        return NULL;
    }
    s_resolve(self);
    return self;
}

size_t
score_rules_count(const score_rules_t *self)
{
    return self->count;
}

void
score_rules_at(const score_rules_t *self, size_t index, const char **name, double *score,
               const char **describe)
{
    const s_rule_t *r = &self->rules[index];
    *name = r->name;
    *score = r->score;
    *describe = r->describe;
}

/* --- matching --- */

typedef struct {
    const score_rules_t *set;
    pcre2_match_data *md;
    size_t limited; /* matches given up */
} s_run_t;

/* s_match - whether R's pattern matches P/LEN; the match (cut) into INFO. */
static bool
s_match(s_run_t *run, const s_rule_t *r, const char *p, size_t len, char *info, size_t size)
{
    int rc = pcre2_match(r->re, (PCRE2_SPTR)p, len, 0, 0, run->md, run->set->mctx);
    if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT) {
        run->limited++;
        return false;
    }
    if (rc < 0)
        return false;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(run->md);
    size_t n = ov[1] > ov[0] ? ov[1] - ov[0] : 0;
    if (n > 60)
        n = 60;
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < size; i++) {
        unsigned char c = (unsigned char)p[ov[0] + i];
        info[k++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
    }
    info[k] = '\0';
    return true;
}

/* s_header - R against the fields named R->header in the header block. */
static bool
s_header(s_run_t *run, const s_rule_t *r, const score_input_t *in, char *info, size_t size)
{
    if (strcmp(r->header, "ALL") == 0 && !r->exists)
        return s_match(run, r, in->header, in->header_len, info, size) != r->negate;
    size_t hl = strlen(r->header);
    const char *p = in->header;
    size_t len = in->header_len, i = 0;
    bool seen = false, hit = false;
    char value[8192];
    while (i < len && !hit) {
        size_t eol = i;
        while (eol < len && p[eol] != '\n')
            eol++;
        bool named = eol - i > hl && p[i + hl] == ':' && strncasecmp(p + i, r->header, hl) == 0;
        size_t next = eol + 1;
        if (named) {
            seen = true;
            /* unfold: continuation lines join with their leading white space */
            size_t n = 0, k = i + hl + 1;
            while (k < len && (p[k] == ' ' || p[k] == '\t'))
                k++;
            for (;;) {
                for (; k < eol && n + 1 < sizeof value; k++)
                    if (p[k] != '\r')
                        value[n++] = p[k];
                if (next >= len || (p[next] != ' ' && p[next] != '\t'))
                    break;
                k = next;
                eol = next;
                while (eol < len && p[eol] != '\n')
                    eol++;
                next = eol + 1;
            }
            value[n] = '\0';
            if (!r->exists && s_match(run, r, value, n, info, size))
                hit = true;
        }
        i = next;
    }
    if (r->exists) {
        snprintf(info, size, "%s present", r->header);
        return seen;
    }
    if (r->negate) {
        info[0] = '\0';
        return !hit;
    }
    return hit;
}

static bool
s_meta_eval(const s_rule_t *r, const bool *hits, const score_input_t *in)
{
    bool stack[SCORE_META_TOKENS_MAX];
    size_t sp = 0;
    for (size_t i = 0; i < r->token_count; i++) {
        int t = r->tokens[i];
        if (t >= 0) {
            long own = r->name_rule[t];
            stack[sp++] =
                own >= 0 ? hits[own] : in->has_symbol && in->has_symbol(r->names[t], in->arg);
        } else if (t == S_OP_NOT) {
            assert(sp >= 1); /* the parser emits well-formed postfix */
            stack[sp - 1] = !stack[sp - 1];
        } else {
            assert(sp >= 2);
            sp--;
            stack[sp - 1] = t == S_OP_AND ? stack[sp - 1] && stack[sp] : stack[sp - 1] || stack[sp];
        }
    }
    return sp == 1 && stack[0];
}

size_t
score_rules_run(const score_rules_t *self, const score_input_t *in, score_hit_fn hit, void *arg)
{
    s_run_t run = {.set = self, .md = pcre2_match_data_create(1, NULL)};
    if (run.md == NULL)
        abort(); /* out of memory */
    bool *hits = sl_xcalloc(self->count ? self->count : 1, sizeof *hits);
    char info[128];
    for (size_t i = 0; i < self->count; i++) {
        const s_rule_t *r = &self->rules[i];
        info[0] = '\0';
        switch (r->kind) {
        case S_HEADER:
            hits[i] = s_header(&run, r, in, info, sizeof info);
            break;
        case S_BODY:
            for (size_t k = 0; k < in->text_count && !hits[i]; k++)
                hits[i] = s_match(&run, r, in->texts[k], in->text_lens[k], info, sizeof info);
            break;
        case S_RAWBODY:
            hits[i] = s_match(&run, r, in->raw_body, in->raw_body_len, info, sizeof info);
            break;
        case S_URI:
            for (size_t k = 0; k < in->uri_count && !hits[i]; k++)
                hits[i] = s_match(&run, r, in->uris[k], strlen(in->uris[k]), info, sizeof info);
            break;
        case S_META:
            break;
        }
        if (hits[i])
            hit(r->name, r->score, info, arg);
    }
    for (size_t i = 0; i < self->count; i++) {
        const s_rule_t *r = &self->rules[i];
        if (r->kind == S_META && s_meta_eval(r, hits, in)) {
            hits[i] = true;
            hit(r->name, r->score, "", arg);
        }
    }
    free(hits);
    pcre2_match_data_free(run.md);
    return run.limited;
}
