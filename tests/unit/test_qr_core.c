/*
 * tests/unit/test_qr_core.c - the pure parts of sluice-quarantine-core
 * (quarantine/qr_core.c, qr_pw.c): queue id checks, the scope rules that
 * decide who sees which row, and password hashes.
 */
#include "qr_core.h"
#include "sl_quarstore.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "sl_test.h"

#include <string.h>

static void
test_id_ok(void **state)
{
    (void)state;
    static const struct {
        const char *label, *id;
        bool ok;
    } cases[] = {
        {"ULID", "01JB7Q3K9V8ZV1Y2X3W4V5U6T7", true},
        {"empty", "", false},
        {"path", "../../etc/passwd", false},
        {"slash", "a/b", false},
        {"dot", "a.eml", false},
        {"space", "a b", false},
        {"64 chars", "0123456789012345678901234567890123456789012345678901234567890123", true},
        {"65 chars", "01234567890123456789012345678901234567890123456789012345678901234", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        s_check(qr_id_ok(cases[i].id) == cases[i].ok, cases[i].label, "wrong answer");
    qr_ctx_t ctx = {0};
    strcpy(ctx.quar_dir, "/q");
    char path[64];
    assert_int_equal(qr_msg_path(&ctx, "ABC", path, sizeof path), 0);
    assert_string_equal(path, "/q/msg/ABC.eml");
    assert_int_equal(qr_msg_path(&ctx, "../x", path, sizeof path), -1);
    assert_int_equal(qr_msg_path(&ctx, "ABC", path, 8), -1);
}

static void
test_scope(void **state)
{
    (void)state;
    static const struct {
        const char *label, *role, *scope, *rcpt;
        bool in;
        const char *sql, *param;
    } cases[] = {
        {"user own", "user", "a@example.com", "a@example.com", true, " AND rcpt = ?",
         "a@example.com"},
        {"user case", "user", "a@example.com", "A@Example.COM", true, " AND rcpt = ?",
         "a@example.com"},
        {"user other", "user", "a@example.com", "b@example.com", false, " AND rcpt = ?",
         "a@example.com"},
        {"domain own", "domain", "example.com", "b@example.com", true,
         " AND rcpt LIKE ? ESCAPE '\\'", "%@example.com"},
        {"domain suffix trick", "domain", "example.com", "b@badexample.com", false,
         " AND rcpt LIKE ? ESCAPE '\\'", "%@example.com"},
        {"domain sub", "domain", "example.com", "b@x.example.com", false,
         " AND rcpt LIKE ? ESCAPE '\\'", "%@example.com"},
        {"domain wildcard escaped", "domain", "ex_mple.com", "b@exxmple.com", false,
         " AND rcpt LIKE ? ESCAPE '\\'", "%@ex\\_mple.com"},
        {"admin", "admin", "", "anyone@anywhere.example", true, "", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        qr_user_t u = {0};
        strcpy(u.role, cases[i].role);
        strcpy(u.scope, cases[i].scope);
        s_check(qr_rcpt_in_scope(&u, cases[i].rcpt) == cases[i].in, cases[i].label,
                "qr_rcpt_in_scope wrong");
        char sql[128] = "", pat[128];
        const char *params[2] = {NULL, NULL};
        size_t n = 0;
        s_check(qr_scope_sql(&u, "rcpt", sql, sizeof sql, params, &n, pat, sizeof pat) == 0,
                cases[i].label, "qr_scope_sql failed");
        s_check(strcmp(sql, cases[i].sql) == 0, cases[i].label, "sql \"%s\"", sql);
        s_check(n == (cases[i].param ? 1u : 0u), cases[i].label, "%zu params", n);
        s_check(n == 0 || strcmp(params[0], cases[i].param) == 0, cases[i].label, "param \"%s\"",
                params[0]);
    }
}

static void
test_passwords(void **state)
{
    (void)state;
    char hash[QR_PW_HASH_MAX];
    assert_int_equal(qr_pw_hash("secret password", hash, sizeof hash), 0);
    assert_true(strncmp(hash, "scrypt$16384$8$1$", 17) == 0);
    assert_true(qr_pw_verify("secret password", hash));
    assert_false(qr_pw_verify("secret passwore", hash));
    assert_false(qr_pw_verify("secret password", NULL));
    assert_false(qr_pw_verify("secret password", "scrypt$"));
    assert_false(qr_pw_verify("x", "scrypt$1099511627776$8$1$AAAA$AAAA"));
    char other[QR_PW_HASH_MAX];
    assert_int_equal(qr_pw_hash("secret password", other, sizeof other), 0);
    assert_string_not_equal(hash, other); /* salted */
}

/* the quarantine list's domain scope uses the indexed rcpt_domain column */
static void
test_scope_quarantine(void **state)
{
    (void)state;
    qr_user_t u = {.role = "domain", .scope = "Example.COM"};
    char sql[256] = "1 = 1", buf[300], dom[SL_QUARSTORE_DOMAIN_MAX];
    const char *params[2];
    size_t n = 0;
    assert_int_equal(qr_scope_quarantine_sql(&u, sql, sizeof sql, params, &n, buf, sizeof buf), 0);
    assert_string_equal(sql, "1 = 1 AND rcpt_domain = ?");
    assert_int_equal(n, 1);
    assert_string_equal(params[0], "example.com");
    sl_quarstore_domain("\"a@b\"@Ex.Org", dom, sizeof dom);
    assert_string_equal(dom, "ex.org");
    sl_quarstore_domain("nodomain", dom, sizeof dom);
    assert_string_equal(dom, "");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_ok),
        cmocka_unit_test(test_scope),
        cmocka_unit_test(test_passwords),
        cmocka_unit_test(test_scope_quarantine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
