/* SPDX-License-Identifier: MIT */
/* Unit tests of ipc/frame.c, ipc/proto.c and ipc/peercred.c: the frame
 * reader with split and hostile input, the bounded writer, strict request
 * validation (a table), base64, the result object. */
#include <check.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ipc/tls_module.h"
#include "ipc/frame.h"
#include "ipc/peercred.h"
#include "ipc/proto.h"

static size_t make_frame(uint8_t *out, const char *payload)
{
        size_t n = strlen(payload);

        frame_put_len(out, (uint32_t)n);
        memcpy(out + 4, payload, n);
        return n + 4;
}

START_TEST(test_reader_split_bytes)
{
        struct frame_reader r;
        uint8_t buf[128];
        size_t n = make_frame(buf, "{\"type\":\"hello\"}");
        const uint8_t *p;
        size_t len;

        frame_reader_init(&r, 0);
        for (size_t i = 0; i < n; i++) {
                ck_assert_int_eq(frame_reader_next(&r, &p, &len), 0);
                ck_assert_int_eq(frame_reader_feed(&r, buf + i, 1), 0);
        }
        ck_assert_int_eq(frame_reader_next(&r, &p, &len), 1);
        ck_assert_uint_eq(len, n - 4);
        ck_assert(memcmp(p, "{\"type\":\"hello\"}", len) == 0);
        ck_assert_int_eq(frame_reader_next(&r, &p, &len), 0);
        ck_assert_uint_eq(frame_reader_pending(&r), 0);
        frame_reader_done(&r);
}
END_TEST

START_TEST(test_reader_two_frames_and_partial)
{
        struct frame_reader r;
        uint8_t buf[256];
        size_t n = make_frame(buf, "{\"type\":\"a\"}");
        n += make_frame(buf + n, "{\"type\":\"bb\"}");
        n += make_frame(buf + n, "{\"type\":\"ccc\"}");
        const uint8_t *p;
        size_t len;

        frame_reader_init(&r, 0);
        ck_assert_int_eq(frame_reader_feed(&r, buf, n - 3), 0);
        ck_assert_int_eq(frame_reader_next(&r, &p, &len), 1);
        ck_assert_uint_eq(len, 12);
        ck_assert_int_eq(frame_reader_next(&r, &p, &len), 1);
        ck_assert(memcmp(p, "{\"type\":\"bb\"}", len) == 0);
        ck_assert_int_eq(frame_reader_next(&r, &p, &len), 0);
        ck_assert_uint_gt(frame_reader_pending(&r), 0); /* truncated third frame */
        ck_assert_int_eq(frame_reader_feed(&r, buf + n - 3, 3), 0);
        ck_assert_int_eq(frame_reader_next(&r, &p, &len), 1);
        ck_assert(memcmp(p, "{\"type\":\"ccc\"}", len) == 0);
        frame_reader_done(&r);
}
END_TEST

START_TEST(test_reader_zero_length)
{
        struct frame_reader r;
        uint8_t z[4] = { 0, 0, 0, 0 };
        const uint8_t *p;
        size_t len;

        frame_reader_init(&r, 0);
        frame_reader_feed(&r, z, 4);
        ck_assert_int_eq(frame_reader_next(&r, &p, &len), -EBADMSG);
        frame_reader_done(&r);
}
END_TEST

START_TEST(test_reader_over_cap)
{
        struct frame_reader r;
        uint8_t h[4];
        const uint8_t *p;
        size_t len;

        frame_reader_init(&r, 0);
        frame_put_len(h, FRAME_MAX + 1);
        frame_reader_feed(&r, h, 4); /* refused from the header alone */
        ck_assert_int_eq(frame_reader_next(&r, &p, &len), -EMSGSIZE);
        frame_reader_done(&r);

        frame_reader_init(&r, 0);
        frame_put_len(h, 0xffffffffu);
        frame_reader_feed(&r, h, 4);
        ck_assert_int_eq(frame_reader_next(&r, &p, &len), -EMSGSIZE);
        frame_reader_done(&r);

        /* exactly at the cap is a frame (a small cap keeps the test fast) */
        frame_reader_init(&r, 16);
        uint8_t buf[64];
        size_t n = make_frame(buf, "{\"type\":\"abcd\"}"); /* 15 bytes */
        frame_reader_feed(&r, buf, n);
        ck_assert_int_eq(frame_reader_next(&r, &p, &len), 1);
        n = make_frame(buf, "{\"type\":\"abcdef\"}"); /* 17 bytes */
        frame_reader_feed(&r, buf, n);
        ck_assert_int_eq(frame_reader_next(&r, &p, &len), -EMSGSIZE);
        frame_reader_done(&r);
}
END_TEST

START_TEST(test_reader_fill_from_socket)
{
        int sv[2];
        struct frame_reader r;
        uint8_t buf[64];
        const uint8_t *p;
        size_t len, n = make_frame(buf, "{\"type\":\"x\"}");

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
        frame_reader_init(&r, 0);
        ck_assert_int_eq(frame_reader_fill(&r, sv[0]), -EAGAIN);
        ck_assert_int_eq(write(sv[1], buf, 5), 5);
        ck_assert_int_eq(frame_reader_fill(&r, sv[0]), 5);
        ck_assert_int_eq(frame_reader_next(&r, &p, &len), 0);
        ck_assert_int_eq(write(sv[1], buf + 5, n - 5), (ssize_t)(n - 5));
        ck_assert_int_gt(frame_reader_fill(&r, sv[0]), 0);
        ck_assert_int_eq(frame_reader_next(&r, &p, &len), 1);
        close(sv[1]);
        ck_assert_int_eq(frame_reader_fill(&r, sv[0]), 0); /* EOF */
        close(sv[0]);
        frame_reader_done(&r);
}
END_TEST

static int parse(const char *s)
{
        char err[256];
        json_t *o = NULL;
        int r = frame_parse_payload((const uint8_t *)s, strlen(s), &o, err, sizeof(err));

        if (r == 0)
                json_decref(o);
        else
                ck_assert(err[0] != '\0');
        return r;
}

START_TEST(test_parse_payload)
{
        ck_assert_int_eq(parse("{\"type\":\"hello\"}"), 0);
        ck_assert_int_eq(parse("{\"type\":\"hello\""), -EBADMSG);     /* truncated */
        ck_assert_int_eq(parse("\x01\x02garbage"), -EBADMSG);          /* garbage */
        ck_assert_int_eq(parse("[1,2,3]"), -EBADMSG);                  /* not an object */
        ck_assert_int_eq(parse("\"type\""), -EBADMSG);
        ck_assert_int_eq(parse("42"), -EBADMSG);
        ck_assert_int_eq(parse("{}"), -EBADMSG);                       /* no type */
        ck_assert_int_eq(parse("{\"type\":7}"), -EBADMSG);             /* type not a string */
        ck_assert_int_eq(parse("{\"type\":\"a\",\"type\":\"b\"}"), -EBADMSG); /* duplicate */
        ck_assert_int_eq(parse("{\"type\":\"a\"} trailing"), -EBADMSG);
        ck_assert_int_eq(parse("{\"type\":\"run\",\"x\":\"a\\u0000b\"}"), -EBADMSG); /* NUL */
}
END_TEST

START_TEST(test_buffer_flush_and_truncate)
{
        struct frame_buffer b = { 0 };
        int sv[2];
        json_t *o = json_pack("{s:s, s:s}", "type", "output", "data", "xxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        uint8_t rd[256];

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        for (int i = 0; i < 3; i++)
                ck_assert_int_eq(frame_buffer_append_json(&b, o), 0);
        size_t one = frame_buffer_size(&b) / 3;
        /* pretend 10 bytes of the first frame were written */
        b.head += 10;
        frame_buffer_truncate_unstarted(&b);
        ck_assert_uint_eq(frame_buffer_size(&b), one - 10);
        /* at a frame boundary, truncation empties the buffer */
        ck_assert_int_eq(frame_buffer_flush(&b, sv[0]), 0);
        ck_assert_int_eq(read(sv[1], rd, sizeof(rd)), (ssize_t)(one - 10));
        ck_assert_int_eq(frame_buffer_append_json(&b, o), 0);
        ck_assert_int_eq(frame_buffer_append_json(&b, o), 0);
        ck_assert_int_eq(frame_buffer_flush(&b, sv[0]), 0);
        frame_buffer_truncate_unstarted(&b);
        ck_assert_uint_eq(frame_buffer_size(&b), 0);
        json_t *got = NULL;
        ck_assert_int_eq(frame_recv(sv[1], &got), 0);
        ck_assert_str_eq(json_string_value(json_object_get(got, "type")), "output");
        json_decref(got);
        json_decref(o);
        frame_buffer_done(&b);
        close(sv[0]);
        close(sv[1]);
}
END_TEST

START_TEST(test_frame_recv_eof)
{
        int sv[2];
        json_t *got = NULL;
        uint8_t h[6] = { 0, 0, 0, 9, '{', '"' };

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        ck_assert_int_eq(write(sv[1], h, sizeof(h)), 6);
        close(sv[1]);
        ck_assert_int_eq(frame_recv(sv[0], &got), -EPIPE);
        ck_assert_int_eq(frame_recv(sv[0], &got), -ENODATA);
        close(sv[0]);
}
END_TEST

struct vcase {
        const char *json;
        int code;            /* -1: valid */
        const char *needle;  /* in the message */
};

static const struct vcase vcases[] = {
        { "{\"type\":\"hello\",\"version\":1}", -1, NULL },
        { "{\"type\":\"hello\",\"version\":1,\"client\":\"x/1\",\"req\":3}", -1, NULL },
        { "{\"type\":\"hello\"}", PROTO_E_BAD_REQUEST, "'version' is required" },
        { "{\"type\":\"hello\",\"version\":\"1\"}", PROTO_E_BAD_REQUEST, "'version' must be an integer" },
        { "{\"type\":\"hello\",\"version\":1,\"bogus\":1}", PROTO_E_UNKNOWN_FIELD, "'bogus'" },
        { "{\"type\":\"fly\"}", PROTO_E_UNKNOWN_TYPE, "fly" },
        { "{\"type\":\"status\",\"req\":\"1\"}", PROTO_E_BAD_REQUEST, "'req' must be an integer" },
        { "{\"type\":\"status\",\"req\":1.5}", PROTO_E_BAD_REQUEST, "'req'" },
        { "{\"type\":\"run\",\"project\":\"demo\",\"argv\":[\"/bin/true\"]}", -1, NULL },
        { "{\"type\":\"run\",\"project\":\"demo\",\"script\":\"echo hi\",\"interpreter\":\"/bin/bash\","
          "\"stdin\":\"aGk=\",\"env\":{\"A\":\"b\"},\"timeout_ms\":5,\"labels\":{\"k\":\"v\"},"
          "\"idempotency_key\":\"k1\",\"cancel_on_disconnect\":true,\"retry_safe\":false}", -1, NULL },
        { "{\"type\":\"run\",\"argv\":[\"/bin/true\"]}", PROTO_E_BAD_REQUEST, "'project' is required" },
        { "{\"type\":\"run\",\"project\":\"Demo\",\"argv\":[\"/bin/true\"]}", PROTO_E_BAD_REQUEST, "'project'" },
        { "{\"type\":\"run\",\"project\":\".x\",\"argv\":[\"/bin/true\"]}", PROTO_E_BAD_REQUEST, "'project'" },
        { "{\"type\":\"run\",\"project\":\"../x\",\"argv\":[\"/bin/true\"]}", PROTO_E_BAD_REQUEST, "'project'" },
        { "{\"type\":\"run\",\"project\":\"demo\"}", PROTO_E_BAD_REQUEST, "exactly one of" },
        { "{\"type\":\"run\",\"project\":\"demo\",\"argv\":[\"/bin/true\"],\"script\":\"x\"}", PROTO_E_BAD_REQUEST, "exactly one of" },
        { "{\"type\":\"run\",\"project\":\"demo\",\"argv\":[]}", PROTO_E_BAD_REQUEST, "'argv' must not be empty" },
        { "{\"type\":\"run\",\"project\":\"demo\",\"argv\":\"/bin/true\"}", PROTO_E_BAD_REQUEST, "'argv' must be an array" },
        { "{\"type\":\"run\",\"project\":\"demo\",\"argv\":[\"/bin/true\",3]}", PROTO_E_BAD_REQUEST, "'argv[1]'" },
        { "{\"type\":\"run\",\"project\":\"demo\",\"argv\":[\"\"]}", PROTO_E_BAD_REQUEST, "'argv[0]'" },
        { "{\"type\":\"run\",\"project\":\"demo\",\"argv\":[\"/bin/true\"],\"env\":{\"A=B\":\"x\"}}", PROTO_E_BAD_REQUEST, "not a variable name" },
        { "{\"type\":\"run\",\"project\":\"demo\",\"argv\":[\"/bin/true\"],\"env\":{\"1A\":\"x\"}}", PROTO_E_BAD_REQUEST, "not a variable name" },
        { "{\"type\":\"run\",\"project\":\"demo\",\"argv\":[\"/bin/true\"],\"env\":{\"A\":1}}", PROTO_E_BAD_REQUEST, "'env.A' must be a string" },
        { "{\"type\":\"run\",\"project\":\"demo\",\"argv\":[\"/bin/true\"],\"env\":[]}", PROTO_E_BAD_REQUEST, "'env' must be an object" },
        { "{\"type\":\"run\",\"project\":\"demo\",\"argv\":[\"/bin/true\"],\"timeout_ms\":-1}", PROTO_E_BAD_REQUEST, "'timeout_ms' must be a non-negative integer" },
        { "{\"type\":\"run\",\"project\":\"demo\",\"argv\":[\"/bin/true\"],\"timeout_ms\":\"5s\"}", PROTO_E_BAD_REQUEST, "'timeout_ms'" },
        { "{\"type\":\"run\",\"project\":\"demo\",\"argv\":[\"/bin/true\"],\"stdin\":\"not base64!\"}", PROTO_E_BAD_REQUEST, "'stdin' is not valid base64" },
        { "{\"type\":\"run\",\"project\":\"demo\",\"argv\":[\"/bin/true\"],\"stdin\":\"aGk\"}", PROTO_E_BAD_REQUEST, "'stdin'" },
        { "{\"type\":\"run\",\"project\":\"demo\",\"argv\":[\"/bin/true\"],\"cancel_on_disconnect\":1}", PROTO_E_BAD_REQUEST, "'cancel_on_disconnect' must be a boolean" },
        { "{\"type\":\"run\",\"project\":\"demo\",\"argv\":[\"/bin/true\"],\"idempotency_key\":\"\"}", PROTO_E_BAD_REQUEST, "'idempotency_key'" },
        { "{\"type\":\"run\",\"project\":\"demo\",\"argv\":[\"/bin/true\"],\"interpreter\":\"/bin/sh\"}", PROTO_E_BAD_REQUEST, "'interpreter' needs 'script'" },
        { "{\"type\":\"run\",\"project\":\"demo\",\"script\":\"x\",\"interpreter\":\"sh\"}", PROTO_E_BAD_REQUEST, "absolute" },
        { "{\"type\":\"run\",\"project\":\"demo\",\"argv\":[\"/bin/true\"],\"labels\":{\"k\":1}}", PROTO_E_BAD_REQUEST, "'labels.k'" },
        { "{\"type\":\"run\",\"project\":\"demo\",\"argv\":[\"/bin/true\"],\"timeout\":5}", PROTO_E_UNKNOWN_FIELD, "'timeout'" },
        { "{\"type\":\"attach\",\"step\":\"0067409a3f-1c2d3e4f\",\"offset\":10}", -1, NULL },
        { "{\"type\":\"attach\",\"step\":\"../../etc\"}", PROTO_E_BAD_REQUEST, "'step'" },
        { "{\"type\":\"attach\",\"step\":\"\"}", PROTO_E_BAD_REQUEST, "'step'" },
        { "{\"type\":\"attach\",\"step\":\"abc\",\"offset\":-5}", PROTO_E_BAD_REQUEST, "'offset'" },
        { "{\"type\":\"attach\"}", PROTO_E_BAD_REQUEST, "'step' is required" },
        { "{\"type\":\"cancel\",\"step\":\"abc\",\"offset\":0}", PROTO_E_UNKNOWN_FIELD, "'offset'" },
        { "{\"type\":\"result\",\"step\":5}", PROTO_E_BAD_REQUEST, "'step' must be a string" },
        { "{\"type\":\"list\",\"all\":true}", PROTO_E_UNKNOWN_FIELD, "'all'" },
        { "{\"type\":\"status\"}", -1, NULL },
        { "{\"type\":\"reload\",\"req\":9}", -1, NULL },
        { "{\"type\":\"metrics\"}", -1, NULL },
        { "{\"type\":\"metrics\",\"format\":\"x\"}", PROTO_E_UNKNOWN_FIELD, "'format'" },
};

START_TEST(test_request_validation)
{
        const struct vcase *v = &vcases[_i];
        json_t *o = json_loads(v->json, 0, NULL);
        struct proto_request r;
        struct proto_error e = { 0 };

        ck_assert_msg(o != NULL, "bad test json %s", v->json);
        int k = proto_request_decode(o, &r, &e);
        if (v->code < 0) {
                ck_assert_msg(k == 0, "%s: refused: %s", v->json, e.message);
        } else {
                ck_assert_msg(k < 0, "%s: accepted", v->json);
                ck_assert_msg((int)e.code == v->code, "%s: code %s, want %s (%s)", v->json,
                              proto_error_code_to_string(e.code),
                              proto_error_code_to_string(v->code), e.message);
                ck_assert_msg(strstr(e.message, v->needle), "%s: message '%s' lacks '%s'", v->json,
                              e.message, v->needle);
        }
        proto_request_done(&r);
        json_decref(o);
}
END_TEST

START_TEST(test_run_decoded)
{
        json_t *o = json_loads("{\"type\":\"run\",\"req\":7,\"project\":\"demo\",\"argv\":[\"/bin/echo\",\"a b\"],"
                               "\"env\":{\"K\":\"v=1\"},\"stdin\":\"AAEC/w==\",\"timeout_ms\":250,"
                               "\"cancel_on_disconnect\":true}", 0, NULL);
        struct proto_request r;
        struct proto_error e;

        ck_assert_int_eq(proto_request_decode(o, &r, &e), 0);
        ck_assert(r.has_req && r.req == 7);
        ck_assert_int_eq(r.type, PROTO_RUN);
        ck_assert_str_eq(r.run.argv[1], "a b");
        ck_assert_ptr_null(r.run.argv[2]);
        ck_assert_str_eq(r.run.env[0], "K=v=1");
        ck_assert_uint_eq(r.run.stdin_len, 4);
        ck_assert(memcmp(r.run.stdin_data, "\x00\x01\x02\xff", 4) == 0);
        ck_assert_uint_eq(r.run.timeout_ms, 250);
        ck_assert(r.run.cancel_on_disconnect);
        proto_request_done(&r);
        json_decref(o);
}
END_TEST

START_TEST(test_oversized_members)
{
        size_t n = PROTO_SCRIPT_MAX + 1;
        char *script = malloc(n + 1);
        memset(script, 'x', n);
        script[n] = '\0';
        json_t *o = json_pack("{s:s, s:s, s:s}", "type", "run", "project", "demo", "script", script);
        struct proto_request r;
        struct proto_error e;

        ck_assert_int_lt(proto_request_decode(o, &r, &e), 0);
        ck_assert_int_eq(e.code, PROTO_E_BAD_REQUEST);
        ck_assert(strstr(e.message, "'script'"));
        proto_request_done(&r);
        json_decref(o);

        json_t *argv = json_array();
        for (int i = 0; i <= PROTO_ARGV_MAX; i++)
                json_array_append_new(argv, json_string("x"));
        o = json_pack("{s:s, s:s, s:o}", "type", "run", "project", "demo", "argv", argv);
        ck_assert_int_lt(proto_request_decode(o, &r, &e), 0);
        ck_assert(strstr(e.message, "'argv'"));
        proto_request_done(&r);
        json_decref(o);
        free(script);
}
END_TEST

START_TEST(test_base64)
{
        uint8_t all[256], back[256];
        char enc[400];

        for (int i = 0; i < 256; i++)
                all[i] = (uint8_t)i;
        for (size_t n = 0; n <= 256; n += (n < 8 ? 1 : 37)) {
                size_t k = base64_encode(enc, all, n);
                ck_assert_uint_eq(k, (n + 2) / 3 * 4);
                ck_assert_int_eq(base64_decode(back, enc, k), (ssize_t)n);
                ck_assert(memcmp(all, back, n) == 0);
        }
        ck_assert_int_eq(base64_decode(back, "=AAA", 4), -EINVAL);
        ck_assert_int_eq(base64_decode(back, "AA=A", 4), -EINVAL);
        ck_assert_int_eq(base64_decode(back, "AA==AAAA", 8), -EINVAL);
        ck_assert_int_eq(base64_decode(back, "A", 1), -EINVAL);
}
END_TEST

START_TEST(test_output_format)
{
        uint8_t data[256];
        char *buf = malloc(proto_output_max(sizeof(data)));
        uint8_t back[256];

        for (int i = 0; i < 256; i++)
                data[i] = (uint8_t)(255 - i);
        size_t n = proto_output_format(buf, "0067409a3f-1c2d3e4f", "stderr", 9223372036854775807ull,
                                       data, sizeof(data));
        ck_assert_uint_le(n, proto_output_max(sizeof(data)));
        json_t *o = json_loadb(buf, n, 0, NULL);
        ck_assert_ptr_nonnull(o);
        ck_assert_str_eq(json_string_value(json_object_get(o, "stream")), "stderr");
        ck_assert_str_eq(json_string_value(json_object_get(o, "step")), "0067409a3f-1c2d3e4f");
        const char *b64 = json_string_value(json_object_get(o, "data"));
        ck_assert_int_eq(base64_decode(back, b64, strlen(b64)), 256);
        ck_assert(memcmp(data, back, 256) == 0);
        json_decref(o);
        free(buf);
}
END_TEST

START_TEST(test_result_roundtrip)
{
        struct step_result r = { .reason = STEP_REASON_TIMEOUT, .exit_code = -1, .signal = 15,
                                 .wall_usec = 1234567, .cpu_user_usec = 1000, .memory_peak_bytes = 4096,
                                 .processes_killed = 2 };
        struct step_result back;
        uint64_t out = 0;

        strcpy(r.message, "timed out");
        json_t *o = proto_result_to_json(&r, 99);
        ck_assert_int_eq(proto_result_from_json(o, &back, &out), 0);
        ck_assert_int_eq(back.reason, STEP_REASON_TIMEOUT);
        ck_assert_int_eq(back.signal, 15);
        ck_assert_uint_eq(back.wall_usec, 1234567);
        ck_assert_uint_eq(back.processes_killed, 2);
        ck_assert_str_eq(back.message, "timed out");
        ck_assert_uint_eq(out, 99);
        json_object_set_new(o, "reason", json_string("exploded"));
        ck_assert_int_eq(proto_result_from_json(o, &back, &out), -EINVAL);
        json_decref(o);
}
END_TEST

START_TEST(test_error_codes)
{
        for (int i = 0; i < _PROTO_E_MAX; i++) {
                const char *s = proto_error_code_to_string(i);
                ck_assert_ptr_nonnull(s);
                ck_assert_int_eq(proto_error_code_from_string(s), i);
        }
        ck_assert(proto_error_code_closes(PROTO_E_BAD_FRAME));
        ck_assert(proto_error_code_closes(PROTO_E_SLOW_CLIENT));
        ck_assert(!proto_error_code_closes(PROTO_E_QUEUE_FULL));
        ck_assert_int_eq(proto_error_code_from_string("nope"), -EINVAL);
}
END_TEST

START_TEST(test_groups)
{
        gid_t g[4];

        ck_assert_int_eq(peercred_parse_groups("Name:\tx\nGroups:\t4 24 27 \nNgid:\t0\n", g, 4), 3);
        ck_assert_int_eq(g[0], 4);
        ck_assert_int_eq(g[2], 27);
        ck_assert_int_eq(peercred_parse_groups("Groups:\t\n", g, 4), 0);
        ck_assert_int_eq(peercred_parse_groups("Groups:\t1 2 3 4 5 6\n", g, 4), 4);
        ck_assert_int_eq(peercred_parse_groups("Name:\tx\n", g, 4), -EINVAL);
        ck_assert_int_eq(peercred_parse_groups("Groups:\t1 x\n", g, 4), -EINVAL);
}
END_TEST

START_TEST(test_peercred_self)
{
        int sv[2];
        struct peer_cred c;

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        ck_assert_int_eq(peercred_get(sv[0], &c), 0);
        ck_assert_int_eq(c.uid, getuid());
        ck_assert_int_eq(c.pid, getpid());
        close(sv[0]);
        close(sv[1]);
}
END_TEST

/* A module that is not there: TLS fails cleanly, and what is only text
 * still works without OpenSSL. */
START_TEST(test_tls_without_module)
{
        struct tls_context *ctx = NULL;
        char err[1024] = "", pin[TLS_THUMBPRINT_HEX + 1];

        tls_module_set_path("/nonexistent/stepd-tls.so");
        ck_assert_int_eq(tls_context_new(TLS_CLIENT, "/nonexistent/c.pem", "/nonexistent/k.pem",
                                         NULL, &ctx, err, sizeof(err)),
                         -ELIBACC);
        ck_assert_ptr_null(ctx);
        ck_assert_msg(strstr(err, "cannot load the TLS module") &&
                              strstr(err, "/nonexistent/stepd-tls.so"),
                      "%s", err);
        ck_assert_int_eq(tls_module_load(err, sizeof(err)), -ELIBACC);
        ck_assert_ptr_null(tls_context_free(NULL));
        ck_assert_ptr_null(tls_conn_free(NULL));
        ck_assert_int_eq(tls_pin_parse("SHA256:" "0123456789ABCDEF0123456789abcdef"
                                       "0123456789abcdef0123456789abcdef", pin), 0);
        ck_assert_str_eq(pin, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
        ck_assert_int_eq(tls_key_type_from_string("ed25519"), TLS_KEY_ED25519);
}
END_TEST

int main(void)
{
        Suite *s = suite_create("ipc");
        TCase *tc = tcase_create("frame");
        SRunner *sr;
        int failed;

        tcase_add_test(tc, test_reader_split_bytes);
        tcase_add_test(tc, test_reader_two_frames_and_partial);
        tcase_add_test(tc, test_reader_zero_length);
        tcase_add_test(tc, test_reader_over_cap);
        tcase_add_test(tc, test_reader_fill_from_socket);
        tcase_add_test(tc, test_parse_payload);
        tcase_add_test(tc, test_buffer_flush_and_truncate);
        tcase_add_test(tc, test_frame_recv_eof);
        suite_add_tcase(s, tc);
        tc = tcase_create("proto");
        tcase_add_loop_test(tc, test_request_validation, 0, (int)ARRAY_SIZE(vcases));
        tcase_add_test(tc, test_run_decoded);
        tcase_add_test(tc, test_oversized_members);
        tcase_add_test(tc, test_base64);
        tcase_add_test(tc, test_output_format);
        tcase_add_test(tc, test_result_roundtrip);
        tcase_add_test(tc, test_error_codes);
        tcase_add_test(tc, test_groups);
        tcase_add_test(tc, test_peercred_self);
        tcase_add_test(tc, test_tls_without_module);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed ? 1 : 0;
}
