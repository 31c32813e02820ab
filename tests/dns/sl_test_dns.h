/*
 * tests/dns/sl_test_dns.h - start and stop tests/dns/dnsserver.py from a C test.
 *
 * Header-only, for cmocka tests: test_dns_start writes the zone text to a
 * fresh temporary folder, forks and execs /usr/bin/python3 dnsserver.py on a
 * free loopback port, waits (bounded) for its port file; test_dns_stop ends it
 * by PID and removes the folder. test_dns_count reads the query log, so a test
 * can tell what the resolver's cache answered. Zone format: tests/dns/README.md.
 */
#ifndef SL_TEST_DNS_H
#define SL_TEST_DNS_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TEST_DNS_START_MS 10000 /* python3 and dnslib load in well under a second */

typedef struct {
    pid_t pid;        /* the server, 0 when not running */
    int port;         /* its UDP and TCP port on 127.0.0.1 */
    char dir[256];    /* temporary folder: zone.txt, port, queries.log */
    char forward[64]; /* "127.0.0.1@PORT", for sl_dns_new_forward and dns.forward */
} test_dns_t;

static void
test_dns_path(const test_dns_t *s, const char *name, char *out, size_t size)
{
    snprintf(out, size, "%s/%s", s->dir, name);
}

/* test_dns_script - tests/dns/dnsserver.py, found next to this header. */
static void
test_dns_script(char *out, size_t size)
{
    const char *src = getenv("SLUICE_SOURCE");
    if (src && src[0]) {
        snprintf(out, size, "%s/tests/dns/dnsserver.py", src);
        return;
    }
    snprintf(out, size, "%s", __FILE__);
    char *slash = strrchr(out, '/');
    if (slash)
        snprintf(slash + 1, size - (size_t)(slash + 1 - out), "dnsserver.py");
}

static void
test_dns_stop(test_dns_t *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        int status = 0;
        for (int i = 0; i < 100 && waitpid(s->pid, &status, WNOHANG) == 0; i++)
            usleep(50 * 1000);
        if (waitpid(s->pid, &status, WNOHANG) == 0) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &status, 0);
        }
        s->pid = 0;
    }
    if (s->dir[0]) {
        const char *names[] = {"zone.txt", "port", "port.tmp", "queries.log"};
        char path[512];
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            test_dns_path(s, names[i], path, sizeof path);
            unlink(path);
        }
        rmdir(s->dir);
        s->dir[0] = '\0';
    }
}

/* test_dns_reload - replaces the zone with ZONE and tells the server (SIGHUP). */
__attribute__((unused)) static int
test_dns_reload(test_dns_t *s, const char *zone)
{
    char path[512];
    test_dns_path(s, "zone.txt", path, sizeof path);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fputs(zone, f);
    fclose(f);
    kill(s->pid, SIGHUP);
    usleep(300 * 1000); /* the server reloads within its signal handler */
    return 0;
}

/* test_dns_start - server for ZONE (zone-file text); 0, or -1 with a message on stderr. */
static int
test_dns_start(test_dns_t *s, const char *zone)
{
    memset(s, 0, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "/tmp/sluice-dns-XXXXXX");
    if (mkdtemp(s->dir) == NULL) {
        s->dir[0] = '\0';
        return -1;
    }
    char zone_path[512], port_path[512], log_path[512], script[512];
    test_dns_path(s, "zone.txt", zone_path, sizeof zone_path);
    test_dns_path(s, "port", port_path, sizeof port_path);
    test_dns_path(s, "queries.log", log_path, sizeof log_path);
    test_dns_script(script, sizeof script);
    FILE *f = fopen(zone_path, "w");
    if (f == NULL) {
        test_dns_stop(s);
        return -1;
    }
    fputs(zone, f);
    fclose(f);
    s->pid = fork();
    if (s->pid < 0) {
        s->pid = 0;
        test_dns_stop(s);
        return -1;
    }
    if (s->pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, STDOUT_FILENO);
        execl("/usr/bin/python3", "python3", script, "--zone", zone_path, "--port-file", port_path,
              "--log", log_path, (char *)NULL);
        _exit(127);
    }
    for (int waited = 0; waited < TEST_DNS_START_MS; waited += 20) {
        int status = 0;
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            fprintf(stderr, "dnsserver.py exited (%d) before serving\n", status);
            s->pid = 0;
            test_dns_stop(s);
            return -1;
        }
        FILE *p = fopen(port_path, "r");
        if (p) {
            int ok = fscanf(p, "%d", &s->port) == 1;
            fclose(p);
            if (ok && s->port > 0) {
                snprintf(s->forward, sizeof s->forward, "127.0.0.1@%d", s->port);
                return 0;
            }
        }
        usleep(20 * 1000);
    }
    fprintf(stderr, "dnsserver.py did not serve within %d ms\n", TEST_DNS_START_MS);
    test_dns_stop(s);
    return -1;
}

/* test_dns_count - queries for QNAME (lower case, no final dot) the server saw. */
__attribute__((unused)) static int
test_dns_count(const test_dns_t *s, const char *qname)
{
    char path[512], line[600];
    test_dns_path(s, "queries.log", path, sizeof path);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    int n = 0;
    size_t len = strlen(qname);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, qname, len) == 0 && line[len] == ' ')
            n++;
    fclose(f);
    return n;
}

#endif
