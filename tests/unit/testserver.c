#include "testserver.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gw_util.h"

static void nap_20ms(void)
{
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

static int read_ports(struct testserver *s, const char *file)
{
    for (int i = 0; i < 500; i++) {
        FILE *f = fopen(file, "r");
        if (f) {
            int n = fscanf(f, "%d %d", &s->port, &s->tls_port);
            fclose(f);
            if (n == 2)
                return 0;
        }
        nap_20ms();
    }
    return -1;
}

int testserver_start(struct testserver *s)
{
    memset(s, 0, sizeof(*s));
    s->stdin_fd = -1;
    const char *dir = getenv("GW_TEST_SRCDIR");
    char script[512], portfile[128];
    snprintf(script, sizeof(script), "%s/http_test_server.py",
             dir && *dir ? dir : "tests/unit");
    if (access(script, R_OK) != 0) {
        fprintf(stderr, "cannot find %s (set GW_TEST_SRCDIR)\n", script);
        return -1;
    }
    gw_strlcpy(s->tmpdir, "/tmp/gw_test_http.XXXXXX", sizeof(s->tmpdir));
    if (mkdtemp(s->tmpdir) == NULL)
        return -1;
    snprintf(portfile, sizeof(portfile), "%s/ports", s->tmpdir);
    snprintf(s->cert, sizeof(s->cert), "%s/cert.pem", s->tmpdir);

    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    s->pid = fork();
    if (s->pid < 0)
        return -1;
    if (s->pid == 0) {
        dup2(fds[0], 0);
        close(fds[0]);
        close(fds[1]);
        char *argv[] = {"/usr/bin/python3", script,    "--port-file", portfile,
                        "--tls-dir",        s->tmpdir, NULL};
        execv(argv[0], argv);
        _exit(127);
    }
    close(fds[0]);
    s->stdin_fd = fds[1];
    return read_ports(s, portfile);
}

void testserver_stop(struct testserver *s)
{
    if (s->stdin_fd >= 0)
        close(s->stdin_fd);
    s->stdin_fd = -1;
    if (s->pid > 0) {
        int st;
        pid_t got = 0;
        for (int i = 0; i < 100 && got == 0; i++) {
            got = waitpid(s->pid, &st, WNOHANG);
            if (got == 0)
                nap_20ms();
        }
        if (got == 0) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &st, 0);
        }
        s->pid = 0;
    }
    if (s->tmpdir[0]) {
        static const char *const files[] = {"ports", "cert.pem", "key.pem"};
        for (size_t i = 0; i < GW_ARRAY_LEN(files); i++) {
            char p[160];
            snprintf(p, sizeof(p), "%s/%s", s->tmpdir, files[i]);
            unlink(p);
        }
        rmdir(s->tmpdir);
        s->tmpdir[0] = '\0';
    }
}
