/*
 * quarantine/qr_pw.c - dashboard users and their password hashes.
 *
 * Hashes are scrypt (OpenSSL EVP_PBE_scrypt) with a random 16-byte salt,
 * written "scrypt$N$r$p$salt_b64$hash_b64" so parameters can grow later.
 * A stored hash is parsed with limits before use: N, r and p are bounded so
 * a damaged row cannot make a login cost gigabytes.
 * Tests: tests/unit/test_qr_core.c, tests/e2e/test_quarantine.py
 */
#include "qr_core.h"
#include "sl_mem.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_N 16384 /* scrypt cost (2^14: ~16 MB, tens of ms) */
#define S_R 8     /* block size */
#define S_P 1     /* parallelism */
#define S_SALT 16 /* salt bytes */
#define S_KEY 32  /* derived key bytes */
#define S_MAXMEM (64ull << 20)

static int
s_scrypt(const char *pw, const unsigned char *salt, size_t saltlen, uint64_t n, uint64_t r,
         uint64_t p, unsigned char *key, size_t keylen)
{
    return EVP_PBE_scrypt(pw, strlen(pw), salt, saltlen, n, r, p, S_MAXMEM, key, keylen) == 1 ? 0
                                                                                              : -1;
}

int
qr_pw_hash(const char *password, char *out, size_t size)
{
    unsigned char salt[S_SALT], key[S_KEY];
    if (strlen(password) > QR_PASSWORD_MAX || RAND_bytes(salt, sizeof salt) != 1 ||
        s_scrypt(password, salt, sizeof salt, S_N, S_R, S_P, key, sizeof key) != 0)
        return -1;
    char salt_b64[32], key_b64[64];
    EVP_EncodeBlock((unsigned char *)salt_b64, salt, sizeof salt);
    EVP_EncodeBlock((unsigned char *)key_b64, key, sizeof key);
    int w = snprintf(out, size, "scrypt$%d$%d$%d$%s$%s", S_N, S_R, S_P, salt_b64, key_b64);
    return w < 0 || (size_t)w >= size ? -1 : 0;
}

/* s_num - a bounded decimal field ending at '$'. */
static int
s_num(const char **p, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    const char *s = *p;
    if (*s < '0' || *s > '9')
        return -1;
    for (; *s >= '0' && *s <= '9'; s++) {
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > max)
            return -1;
    }
    if (*s != '$')
        return -1;
    *p = s + 1;
    *out = v;
    return 0;
}

/* s_b64 - decodes the base64 field up to '$' or the end into OUT (exact size WANT). */
static int
s_b64(const char **p, unsigned char *out, size_t want)
{
    const char *s = *p, *end = strchr(s, '$');
    size_t len = end ? (size_t)(end - s) : strlen(s);
    unsigned char buf[128];
    if (len == 0 || len % 4 != 0 || len / 4 * 3 > sizeof buf)
        return -1;
    int n = EVP_DecodeBlock(buf, (const unsigned char *)s, (int)len);
    if (n < 0)
        return -1;
    size_t pad = (s[len - 1] == '=') + (s[len - 2] == '=');
    if ((size_t)n - pad != want)
        return -1;
    memcpy(out, buf, want);
    *p = end ? end + 1 : s + len;
    return 0;
}

bool
qr_pw_verify(const char *password, const char *hash)
{
    uint64_t n = S_N, r = S_R, p = S_P;
    unsigned char salt[S_SALT] = {0}, want[S_KEY] = {0}, got[S_KEY];
    bool ok = hash != NULL && strncmp(hash, "scrypt$", 7) == 0;
    const char *s = ok ? hash + 7 : "";
    if (ok)
        ok = s_num(&s, 1u << 20, &n) == 0 && s_num(&s, 32, &r) == 0 && s_num(&s, 16, &p) == 0 &&
             n >= 2 && (n & (n - 1)) == 0 && r >= 1 && p >= 1 &&
             s_b64(&s, salt, sizeof salt) == 0 && s_b64(&s, want, sizeof want) == 0 && *s == '\0';
    if (!ok) { /* same cost as a real check: unknown logins must not be faster */
        n = S_N, r = S_R, p = S_P;
    }
    if (strlen(password) > QR_PASSWORD_MAX)
        ok = false;
    if (s_scrypt(strlen(password) > QR_PASSWORD_MAX ? "" : password, salt, sizeof salt, n, r, p,
                 got, sizeof got) != 0)
        return false;
    return ok && CRYPTO_memcmp(got, want, sizeof got) == 0;
}

/* s_login_ok - an address-like login: printable, no spaces, one @, bounded. */
static bool
s_login_ok(const char *login)
{
    size_t n = strlen(login);
    if (n == 0 || n > QR_LOGIN_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)login[i] <= ' ' || (unsigned char)login[i] >= 0x7f || login[i] == '%')
            return false;
    const char *at = strchr(login, '@');
    return at && at != login && at[1] && strchr(at + 1, '@') == NULL;
}

int
qr_user_add(sl_store_t *store, const char *login_in, const char *role, const char *scope_in,
            const char *password, const char **why)
{
    char login[QR_LOGIN_MAX + 1], scope[QR_LOGIN_MAX + 1];
    if (!s_login_ok(login_in))
        return sl_fail(why, "login must be an address");
    sl_strlcpy(login, login_in, sizeof login);
    qr_lower(login);
    if (strcmp(role, "user") != 0 && strcmp(role, "domain") != 0 && strcmp(role, "admin") != 0)
        return sl_fail(why, "role must be user, domain or admin");
    if (scope_in && scope_in[0]) {
        if (strlen(scope_in) > QR_LOGIN_MAX || strpbrk(scope_in, " \t\r\n%\\"))
            return sl_fail(why, "bad scope");
        sl_strlcpy(scope, scope_in, sizeof scope);
    } else if (strcmp(role, "user") == 0)
        sl_strlcpy(scope, login, sizeof scope);
    else if (strcmp(role, "domain") == 0)
        sl_strlcpy(scope, strchr(login, '@') + 1, sizeof scope);
    else
        scope[0] = '\0';
    if (strcmp(role, "admin") == 0)
        scope[0] = '\0';
    qr_lower(scope);
    if (strlen(password) < 8)
        return sl_fail(why, "password shorter than 8 characters");
    char pw[QR_PW_HASH_MAX];
    if (qr_pw_hash(password, pw, sizeof pw) != 0)
        return sl_fail(why, "password hashing failed");
    const char *p[] = {login, role, scope, pw};
    if (sl_store_exec(store,
                      "INSERT INTO quarantine_user (login, role, scope, pw) VALUES (?, ?, ?, ?)"
                      " ON CONFLICT (login) DO UPDATE SET role = excluded.role,"
                      " scope = excluded.scope, pw = excluded.pw",
                      p, 4) != 0)
        return sl_fail(why, sl_store_error(store));
    return 0;
}

int
qr_user_del(sl_store_t *store, const char *login_in, const char **why)
{
    char login[QR_LOGIN_MAX + 1];
    if (sl_strlcpy(login, login_in, sizeof login) >= sizeof login)
        return sl_fail(why, "no such user");
    qr_lower(login);
    const char *p[] = {login};
    if (sl_store_exec(store, "DELETE FROM quarantine_user WHERE login = ?", p, 1) != 0)
        return sl_fail(why, sl_store_error(store));
    if (sl_store_changes(store) == 0)
        return sl_fail(why, "no such user");
    sl_store_exec(store, "DELETE FROM quarantine_session WHERE login = ?", p, 1);
    return 0;
}

int
qr_user_passwd(sl_store_t *store, const char *login_in, const char *password, const char **why)
{
    char login[QR_LOGIN_MAX + 1], pw[QR_PW_HASH_MAX];
    if (sl_strlcpy(login, login_in, sizeof login) >= sizeof login)
        return sl_fail(why, "no such user");
    qr_lower(login);
    if (strlen(password) < 8)
        return sl_fail(why, "password shorter than 8 characters");
    if (qr_pw_hash(password, pw, sizeof pw) != 0)
        return sl_fail(why, "password hashing failed");
    const char *p[] = {pw, login};
    if (sl_store_exec(store, "UPDATE quarantine_user SET pw = ? WHERE login = ?", p, 2) != 0)
        return sl_fail(why, sl_store_error(store));
    if (sl_store_changes(store) == 0)
        return sl_fail(why, "no such user");
    sl_store_exec(store, "DELETE FROM quarantine_session WHERE login = ?", p + 1, 1);
    return 0;
}

int
qr_user_get(sl_store_t *store, const char *login_in, qr_user_t *user, char *pw, size_t pwsize)
{
    char login[QR_LOGIN_MAX + 1];
    if (sl_strlcpy(login, login_in, sizeof login) >= sizeof login)
        return 0;
    qr_lower(login);
    const char *p[] = {login};
    sl_rows_t *rows = sl_store_query(
        store, "SELECT login, role, scope, pw FROM quarantine_user WHERE login = ?", p, 1);
    if (rows == NULL)
        return -1;
    int found = sl_rows_count(rows) == 1;
    if (found) {
        sl_strlcpy(user->login, sl_rows_get(rows, 0, 0), sizeof user->login);
        sl_strlcpy(user->role, sl_rows_get(rows, 0, 1), sizeof user->role);
        sl_strlcpy(user->scope, sl_rows_get(rows, 0, 2) ? sl_rows_get(rows, 0, 2) : "",
                   sizeof user->scope);
        if (pw)
            sl_strlcpy(pw, sl_rows_get(rows, 0, 3) ? sl_rows_get(rows, 0, 3) : "", pwsize);
    }
    sl_rows_free(&rows);
    return found;
}
