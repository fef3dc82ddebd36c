/*
 * tests/unit/http_test_server.py, run by a C unit test: started on free
 * loopback ports (plain and TLS, with a self-signed certificate), stopped
 * by closing its stdin (so it also dies with the test).
 */
#ifndef TESTSERVER_H
#define TESTSERVER_H

#include <sys/types.h>

struct testserver {
    int port;
    int tls_port;
    char tmpdir[64];
    char cert[128]; /* the server's certificate, to trust */
    pid_t pid;
    int stdin_fd;
};

/* 0, or -1 with a word on stderr. */
int testserver_start(struct testserver *s);
void testserver_stop(struct testserver *s);

#endif
