/* SPDX-License-Identifier: MIT */
/* Unit tests of ipc/client.c: frames read from a socketpair the test
 * writes hostile bytes into, hello and call against canned replies, request
 * building, result decoding, base64. */
#include <arpa/inet.h>
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ipc/client.h"

/* A client on one end of a socketpair; *peer is the "server" end. */
static struct client *pair_client(int *peer)
{
        struct client *c = NULL;
        int sv[2];

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        ck_assert_int_eq(client_new_fd(sv[0], &c), 0);
        *peer = sv[1];
        return c;
}

static void put_frame(int fd, const char *payload)
{
        uint32_t be = htonl((uint32_t)strlen(payload));

        ck_assert_int_eq(write(fd, &be, 4), 4);
        ck_assert_int_eq(write(fd, payload, strlen(payload)), (ssize_t)strlen(payload));
}

static void put_raw(int fd, const void *p, size_t n)
{
        ck_assert_int_eq(write(fd, p, n), (ssize_t)n);
}

START_TEST(test_recv_frames)
{
        _cleanup_(client_freep) struct client *c = NULL;
        _cleanup_close_ int peer = -1;
        json_t *m = NULL;

        c = pair_client(&peer);
        put_frame(peer, "{\"type\":\"hello\",\"x\":1}");
        ck_assert_int_eq(client_recv(c, &m), 1);
        ck_assert_str_eq(client_msg_type(m), "hello");
        json_decref(m);
        put_frame(peer, "[1,2]");
        ck_assert_int_eq(client_recv(c, &m), -EBADMSG);
        put_frame(peer, "{\"no\":\"type\"}");
        ck_assert_int_eq(client_recv(c, &m), -EBADMSG);
        put_frame(peer, "{\"type\":3}");
        ck_assert_int_eq(client_recv(c, &m), -EBADMSG);
        put_frame(peer, "not json");
        ck_assert_int_eq(client_recv(c, &m), -EBADMSG);
        put_frame(peer, "{\"type\":\"a\",\"type\":\"b\"}");
        ck_assert_int_eq(client_recv(c, &m), -EBADMSG);
        /* A clean end between frames. */
        peer = safe_close(peer);
        ck_assert_int_eq(client_recv(c, &m), 0);
}
END_TEST

START_TEST(test_recv_hostile_lengths)
{
        static const uint8_t zero[4] = { 0, 0, 0, 0 };
        static const uint8_t huge[4] = { 0x7f, 0xff, 0xff, 0xff };
        static const uint8_t cut[6] = { 0, 0, 0, 10, '{', '"' };
        _cleanup_(client_freep) struct client *c = NULL, *d = NULL, *e = NULL;
        _cleanup_close_ int p1 = -1, p2 = -1, p3 = -1;
        char *buf = NULL;
        size_t len;

        c = pair_client(&p1);
        put_raw(p1, zero, sizeof(zero));
        ck_assert_int_eq(client_recv_frame(c, &buf, &len), -EBADMSG);

        d = pair_client(&p2);
        put_raw(p2, huge, sizeof(huge));
        ck_assert_int_eq(client_recv_frame(d, &buf, &len), -EMSGSIZE);

        e = pair_client(&p3);
        put_raw(p3, cut, sizeof(cut));
        p3 = safe_close(p3);
        ck_assert_int_eq(client_recv_frame(e, &buf, &len), -ECONNRESET);
        ck_assert_ptr_null(buf);
}
END_TEST

START_TEST(test_cut_in_header)
{
        _cleanup_(client_freep) struct client *c = NULL;
        _cleanup_close_ int peer = -1;
        json_t *m = NULL;

        c = pair_client(&peer);
        put_raw(peer, "\0\0", 2);
        peer = safe_close(peer);
        ck_assert_int_eq(client_recv(c, &m), -ECONNRESET);
}
END_TEST

START_TEST(test_send_frame_bytes)
{
        _cleanup_(client_freep) struct client *c = NULL;
        _cleanup_close_ int peer = -1;
        json_t *j = json_pack("{s:s}", "type", "status");
        uint8_t buf[64];

        c = pair_client(&peer);
        ck_assert_int_eq(client_send(c, j), 0);
        ck_assert_int_eq(read(peer, buf, sizeof(buf)), 4 + 17);
        ck_assert_mem_eq(buf, "\0\0\0\x11{\"type\":\"status\"}", 21);
        json_decref(j);
        j = json_array();
        ck_assert_int_eq(client_send(c, j), -EINVAL);
        json_decref(j);
        peer = safe_close(peer);
        j = json_pack("{s:s}", "type", "status");
        ck_assert_int_eq(client_send(c, j), -EPIPE); /* no SIGPIPE */
        json_decref(j);
}
END_TEST

START_TEST(test_hello)
{
        _cleanup_(client_freep) struct client *c = NULL, *d = NULL;
        _cleanup_close_ int p1 = -1, p2 = -1;
        char text[256];

        c = pair_client(&p1);
        put_frame(p1, "{\"type\":\"hello\",\"version\":1,\"server\":\"stepd/9\","
                      "\"max_frame\":1048576,\"uid\":1234}");
        ck_assert_int_eq(client_hello(c, "test/1", NULL), 0);
        ck_assert_int_eq(client_peer_uid(c), 1234);
        ck_assert_str_eq(client_server_name(c), "stepd/9");

        d = pair_client(&p2);
        put_frame(p2, "{\"type\":\"error\",\"code\":\"unsupported-version\",\"message\":\"no\"}");
        ck_assert_int_eq(client_hello(d, "test/1", NULL), -EPROTO);
        client_error_format(client_error(d), text, sizeof(text));
        ck_assert_str_eq(text, "unsupported-version: no");
}
END_TEST

START_TEST(test_hello_refused_before_hello)
{
        _cleanup_(client_freep) struct client *c = NULL;
        _cleanup_close_ int peer = -1;
        char text[256];

        /* The server answers and closes before reading: our send fails, the
         * error is still read. */
        c = pair_client(&peer);
        put_frame(peer, "{\"type\":\"error\",\"code\":\"too-many-connections\","
                        "\"message\":\"64 open\"}");
        peer = safe_close(peer);
        ck_assert_int_eq(client_hello(c, "t", NULL), -EPROTO);
        client_error_format(client_error(c), text, sizeof(text));
        ck_assert_str_eq(text, "too-many-connections: 64 open");
}
END_TEST

START_TEST(test_hello_closed)
{
        _cleanup_(client_freep) struct client *c = NULL;
        _cleanup_close_ int peer = -1;

        c = pair_client(&peer);
        peer = safe_close(peer);
        ck_assert_int_eq(client_hello(c, "t", NULL), -EPIPE);
}
END_TEST

START_TEST(test_hello_wrong_version)
{
        _cleanup_(client_freep) struct client *c = NULL;
        _cleanup_close_ int peer = -1;

        c = pair_client(&peer);
        put_frame(peer, "{\"type\":\"hello\",\"version\":2}");
        ck_assert_int_eq(client_hello(c, "t", NULL), -EPROTONOSUPPORT);
}
END_TEST

START_TEST(test_call_skips_events)
{
        _cleanup_(client_freep) struct client *c = NULL;
        _cleanup_close_ int peer = -1;
        json_t *req, *reply = NULL;

        c = pair_client(&peer);
        req = client_simple_request(c, "status", NULL);
        ck_assert_int_eq(json_integer_value(json_object_get(req, "req")), 1);
        put_frame(peer, "{\"type\":\"output\",\"step\":\"s\"}");
        put_frame(peer, "{\"type\":\"status\",\"req\":7}");
        put_frame(peer, "{\"type\":\"status\",\"req\":1,\"running\":2}");
        ck_assert_int_eq(client_call(c, req, &reply), 0);
        ck_assert_int_eq(json_integer_value(json_object_get(reply, "running")), 2);
        json_decref(reply);
        json_decref(req);
        /* The server closes before answering. */
        req = client_simple_request(c, "status", NULL);
        peer = safe_close(peer);
        ck_assert_int_lt(client_call(c, req, &reply), 0);
        json_decref(req);
}
END_TEST

START_TEST(test_run_request)
{
        _cleanup_(client_freep) struct client *c = NULL;
        _cleanup_close_ int peer = -1;
        char *argv[] = { "/bin/echo", "hi", NULL };
        char *env[] = { "A=1", "B=x=y", NULL };
        char *bad_env[] = { "NOEQ", NULL };
        char *bad_utf8[] = { "\xff", NULL };
        struct client_run_opts o = { .project = "demo", .argv = argv, .env = env,
                                     .stdin_data = "ab", .stdin_len = 2, .timeout_ms = 5000,
                                     .cancel_on_disconnect = true };
        char err[256];
        json_t *j = NULL;

        c = pair_client(&peer);
        ck_assert_int_eq(client_run_request(c, &o, &j, err, sizeof(err)), 0);
        ck_assert_str_eq(client_msg_string(j, "project"), "demo");
        ck_assert_int_eq(json_array_size(json_object_get(j, "argv")), 2);
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "env"), "B")),
                         "x=y");
        ck_assert_str_eq(client_msg_string(j, "stdin"), "YWI=");
        ck_assert_int_eq(json_integer_value(json_object_get(j, "timeout_ms")), 5000);
        ck_assert(json_is_true(json_object_get(j, "cancel_on_disconnect")));
        ck_assert_ptr_null(json_object_get(j, "retry_safe"));
        ck_assert_ptr_null(json_object_get(j, "script"));
        json_decref(j);

        o.env = bad_env;
        ck_assert_int_eq(client_run_request(c, &o, &j, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "NOEQ"));
        o.env = NULL;
        o.script = "echo";
        ck_assert_int_eq(client_run_request(c, &o, &j, err, sizeof(err)), -EINVAL);
        o.argv = NULL;
        ck_assert_int_eq(client_run_request(c, &o, &j, err, sizeof(err)), 0);
        ck_assert_str_eq(client_msg_string(j, "script"), "echo");
        json_decref(j);
        o.script = NULL;
        o.argv = bad_utf8;
        ck_assert_int_eq(client_run_request(c, &o, &j, err, sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "UTF-8"));
}
END_TEST

START_TEST(test_result_from_json)
{
        struct step_result r;
        json_t *j = json_loads("{\"reason\":\"signaled\",\"exit_code\":-1,\"signal\":9,"
                               "\"wall_ms\":12.5,\"cpu_user_ms\":1.25,\"cpu_system_ms\":2,"
                               "\"memory_peak_bytes\":1130496,\"oom_kills\":0,"
                               "\"processes_killed\":3,\"output_bytes\":3,\"setup_step\":\"\","
                               "\"setup_errno\":0,\"message\":\"m\"}",
                               0, NULL);

        ck_assert_int_eq(client_result_from_json(j, &r), 0);
        ck_assert_int_eq(r.reason, STEP_REASON_SIGNALED);
        ck_assert_int_eq(r.signal, 9);
        ck_assert_int_eq(r.wall_usec, 12500);
        ck_assert_int_eq(r.cpu_user_usec, 1250);
        ck_assert_int_eq(r.cpu_system_usec, 2000);
        ck_assert_int_eq(r.processes_killed, 3);
        ck_assert_str_eq(r.message, "m");
        ck_assert_int_eq(step_result_exit_status(&r), 137);

        json_object_set_new(j, "reason", json_string("exploded"));
        ck_assert_int_eq(client_result_from_json(j, &r), -EBADMSG);
        json_object_set_new(j, "reason", json_string("exited"));
        json_object_set_new(j, "exit_code", json_string("0"));
        ck_assert_int_eq(client_result_from_json(j, &r), -EBADMSG);
        json_object_set_new(j, "exit_code", json_integer(300));
        ck_assert_int_eq(client_result_from_json(j, &r), -EBADMSG);
        json_object_set_new(j, "exit_code", json_integer(0));
        json_object_set_new(j, "wall_ms", json_integer(-5));
        ck_assert_int_eq(client_result_from_json(j, &r), -EBADMSG);
        json_decref(j);
        ck_assert_int_eq(client_result_from_json(NULL, &r), -EBADMSG);
}
END_TEST

START_TEST(test_base64)
{
        static const char *const bad[] = { "a", "abc", "ab=c", "a===", "=abc", "ab c",
                                           "ab==ab==", "YW\nI=", "!!!!" };
        uint8_t all[256];
        void *out = NULL;
        size_t len;
        char *s;

        for (int i = 0; i < 256; i++)
                all[i] = (uint8_t)i;
        for (size_t n = 0; n <= 256; n += 1) {
                s = client_base64_encode(all, n);
                ck_assert_ptr_nonnull(s);
                ck_assert_uint_eq(strlen(s), (n + 2) / 3 * 4);
                ck_assert_int_eq(client_base64_decode(s, &out, &len), 0);
                ck_assert_uint_eq(len, n);
                ck_assert_mem_eq(out, all, n);
                free(out);
                free(s);
        }
        s = client_base64_encode("hi\n", 3);
        ck_assert_str_eq(s, "aGkK");
        free(s);
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
                ck_assert_msg(client_base64_decode(bad[i], &out, &len) == -EINVAL, "%s", bad[i]);
        ck_assert_int_eq(client_base64_decode(NULL, &out, &len), -EINVAL);
}
END_TEST

START_TEST(test_connect_errors)
{
        struct client *c = NULL;
        char longpath[200];

        memset(longpath, 'x', sizeof(longpath) - 1);
        longpath[0] = '/';
        longpath[sizeof(longpath) - 1] = '\0';
        ck_assert_int_eq(client_connect("/nonexistent/dir/s.sock", &c), -ENOENT);
        ck_assert_int_eq(client_connect(longpath, &c), -ENAMETOOLONG);
        ck_assert_int_eq(client_connect("", &c), -EINVAL);
        ck_assert_ptr_null(c);
}
END_TEST

int main(void)
{
        Suite *s = suite_create("ipc-client");
        TCase *tc = tcase_create("client");
        SRunner *sr;
        int failed;

        tcase_add_test(tc, test_recv_frames);
        tcase_add_test(tc, test_recv_hostile_lengths);
        tcase_add_test(tc, test_cut_in_header);
        tcase_add_test(tc, test_send_frame_bytes);
        tcase_add_test(tc, test_hello);
        tcase_add_test(tc, test_hello_wrong_version);
        tcase_add_test(tc, test_hello_refused_before_hello);
        tcase_add_test(tc, test_hello_closed);
        tcase_add_test(tc, test_call_skips_events);
        tcase_add_test(tc, test_run_request);
        tcase_add_test(tc, test_result_from_json);
        tcase_add_test(tc, test_base64);
        tcase_add_test(tc, test_connect_errors);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
