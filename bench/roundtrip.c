/* SPDX-License-Identifier: MIT */
/*
 * Round trips of trivial steps through a running stepd:
 *   roundtrip SOCKET latency N          N sequential (connect, hello, run
 *                                       /bin/true, exit) → median and p90 ms
 *   roundtrip SOCKET throughput C K     C concurrent clients (processes), K
 *                                       steps each → steps per second
 * Prints one JSON object. Used by bench/launch.py; not a test.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "ipc/client.h"

static int one_step(const char *sock)
{
        _cleanup_(client_freep) struct client *c = NULL;
        static char *const argv[] = { "/bin/true", NULL };
        struct client_run_opts o = { .project = "bench", .argv = argv };
        json_t *req = NULL, *ev = NULL;
        char err[256];
        int r, ok = -EPROTO;

        r = client_connect(sock, &c);
        if (r < 0)
                return r;
        r = client_hello(c, "bench/roundtrip", NULL);
        if (r < 0)
                return r;
        r = client_run_request(c, &o, &req, err, sizeof(err));
        if (r < 0)
                return r;
        r = client_send(c, req);
        json_decref(req);
        if (r < 0)
                return r;
        while ((r = client_recv(c, &ev)) > 0) {
                const char *t = client_msg_type(ev);
                bool done = t && (strcmp(t, "exit") == 0 || strcmp(t, "error") == 0);

                if (t && strcmp(t, "exit") == 0)
                        ok = 0;
                json_decref(ev);
                if (done)
                        break;
        }
        return r < 0 ? r : ok;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return x < y ? -1 : x > y;
}

static int latency(const char *sock, int n)
{
        double *ms = calloc((size_t)n, sizeof(double));

        if (!ms)
                return 1;
        for (int i = 0; i < n; i++) {
                uint64_t t0 = now_monotonic_usec();
                int r = one_step(sock);

                if (r < 0) {
                        fprintf(stderr, "roundtrip: step %d failed: %s\n", i, strerror(-r));
                        free(ms);
                        return 1;
                }
                ms[i] = (double)(now_monotonic_usec() - t0) / 1000.0;
        }
        qsort(ms, (size_t)n, sizeof(double), cmp_double);
        printf("{\"median_ms\": %.3f, \"p90_ms\": %.3f, \"n\": %d}\n", ms[n / 2], ms[n * 9 / 10],
               n);
        free(ms);
        return 0;
}

static int throughput(const char *sock, int clients, int per_client)
{
        uint64_t t0 = now_monotonic_usec();
        int failed = 0;

        for (int c = 0; c < clients; c++) {
                pid_t pid = fork();

                if (pid < 0)
                        return 1;
                if (pid == 0) {
                        for (int i = 0; i < per_client; i++)
                                if (one_step(sock) < 0)
                                        _exit(1);
                        _exit(0);
                }
        }
        for (int c = 0; c < clients; c++) {
                int st;

                if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
                        failed++;
        }
        double secs = (double)(now_monotonic_usec() - t0) / 1e6;
        printf("{\"steps_per_s\": %.1f, \"clients\": %d, \"steps\": %d, \"failed_clients\": %d}\n",
               clients * per_client / secs, clients, clients * per_client, failed);
        return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
        if (argc == 4 && strcmp(argv[2], "latency") == 0)
                return latency(argv[1], atoi(argv[3]));
        if (argc == 5 && strcmp(argv[2], "throughput") == 0)
                return throughput(argv[1], atoi(argv[3]), atoi(argv[4]));
        fprintf(stderr, "usage: roundtrip SOCKET latency N | throughput CLIENTS STEPS\n");
        return 2;
}
