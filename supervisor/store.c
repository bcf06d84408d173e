/* SPDX-License-Identifier: MIT */
/*
 * Records on disk. The state folder (0700, root) holds
 *
 *   steps/<id>/request.json   who asked for what (stdin as its length only)
 *   steps/<id>/log            the output: records of an 8-byte header
 *                             (stream: 1 stdout, 2 stderr; 3 bytes zero;
 *                             length: uint32 little endian) and the bytes
 *   steps/<id>/result.json    {"step", "ended_usec", "result": {...}}
 *   work/<project>/<id>       the step's working folder while it runs
 *
 * A step's output offset counts data bytes only, so it is stable and the
 * log can be replayed per stream. A record without result.json at start
 * was running when the supervisor died: it becomes `lost`. Everything is
 * created and removed relative to dirfds with O_NOFOLLOW. No fsync per
 * chunk: the log is as durable as the page cache, the result is renamed
 * into place.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "supervisor/audit.h"
#include "supervisor/daemon.h"

static int open_dir_at(int dfd, const char *name, bool create)
{
        int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

        if (fd >= 0 || errno != ENOENT || !create)
                return fd >= 0 ? fd : -errno;
        if (mkdirat(dfd, name, 0700) < 0 && errno != EEXIST)
                return -errno;
        fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

int store_open(struct daemon *d)
{
        struct stat st;
        int r = mkdir_p(d->state_dir, 0700);

        if (r < 0)
                return log_errno(r, "event=state-error path=%s cannot create", d->state_dir);
        d->state_fd = open(d->state_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (d->state_fd < 0)
                return log_errno(-errno, "event=state-error path=%s cannot open", d->state_dir);
        if (fstat(d->state_fd, &st) < 0)
                return -errno;
        if ((st.st_uid != 0 || st.st_gid != 0) && fchown(d->state_fd, 0, 0) < 0)
                return log_errno(-errno, "event=state-error path=%s chown", d->state_dir);
        if ((st.st_mode & 07777) != 0700 && fchmod(d->state_fd, 0700) < 0)
                return log_errno(-errno, "event=state-error path=%s chmod", d->state_dir);
        d->steps_fd = open_dir_at(d->state_fd, "steps", true);
        if (d->steps_fd < 0)
                return log_errno(d->steps_fd, "event=state-error path=%s/steps", d->state_dir);
        d->work_fd = open_dir_at(d->state_fd, "work", true);
        if (d->work_fd < 0)
                return log_errno(d->work_fd, "event=state-error path=%s/work", d->state_dir);
        return 0;
}

int store_work_dir(struct daemon *d, const char *project, bool create)
{
        if (!project_name_valid(project))
                return -EINVAL;
        return open_dir_at(d->work_fd, project, create);
}

/* <state>/cache/<project>, the project's persistent cache: made once,
 * owned by the project's ids; its path goes to *ret_path. */
int store_cache_dir(struct daemon *d, const char *project, uid_t uid, gid_t gid,
                    char **ret_path)
{
        _cleanup_close_ int cfd = -1;
        int r;

        if (!project_name_valid(project))
                return -EINVAL;
        cfd = open_dir_at(d->state_fd, "cache", true);
        if (cfd < 0)
                return cfd;
        r = workdir_create(cfd, project, uid, gid, 0700);
        if (r < 0 && r != -EEXIST)
                return r;
        if (asprintf(ret_path, "%s/cache/%s", d->state_dir, project) < 0)
                return -ENOMEM;
        return 0;
}

static int write_json_at(int dfd, const char *name, const json_t *o)
{
        _cleanup_free_ char *text = json_dumps(o, JSON_COMPACT);
        _cleanup_close_ int fd = -1;

        if (!text)
                return -ENOMEM;
        fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        size_t len = strlen(text);
        text[len] = '\n';
        return loop_write(fd, text, len + 1);
}

int store_step_create(struct daemon *d, struct step *s, const json_t *request)
{
        _cleanup_close_ int dfd = -1;
        int r;

        if (mkdirat(d->steps_fd, s->id, 0700) < 0)
                return -errno;
        dfd = open_dir_at(d->steps_fd, s->id, false);
        if (dfd < 0)
                return dfd;
        r = write_json_at(dfd, "request.json", request);
        if (r < 0)
                return r;
        s->log_fd = openat(dfd, "log", O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_NOFOLLOW | O_CLOEXEC,
                           0600);
        if (s->log_fd < 0)
                return -errno;
        return 0;
}

int store_log_append(struct daemon *d, struct step *s, int stream, const uint8_t *data, size_t n)
{
        uint8_t hdr[LOG_RECORD_HEADER] = { (uint8_t)stream, 0, 0, 0, (uint8_t)n,
                                           (uint8_t)(n >> 8), (uint8_t)(n >> 16),
                                           (uint8_t)(n >> 24) };
        struct iovec iov[2] = { { hdr, sizeof(hdr) }, { (void *)data, n } };
        size_t want = sizeof(hdr) + n, done = 0;

        while (done < want) {
                ssize_t k = writev(s->log_fd, iov, 2);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return log_errno(k < 0 ? -errno : -EIO,
                                         "event=log-error step=%s cannot write the log", s->id);
                done += (size_t)k;
                /* a short write (disk full): advance the iovecs */
                for (int i = 0; i < 2; i++) {
                        size_t t = MIN((size_t)k, iov[i].iov_len);
                        iov[i].iov_base = (uint8_t *)iov[i].iov_base + t;
                        iov[i].iov_len -= t;
                        k -= (ssize_t)t;
                }
        }
        s->log_size += want;
        return 0;
}

int store_write_result(struct daemon *d, struct step *s)
{
        _cleanup_close_ int dfd = open_dir_at(d->steps_fd, s->id, false);
        json_auto_t *res = proto_result_to_json(&s->result, s->output_bytes);
        json_auto_t *o = NULL;
        int r;

        if (dfd < 0)
                return dfd;
        if (!res)
                return -ENOMEM;
        o = json_pack("{s:s, s:I, s:O}", "step", s->id, "ended_usec", (json_int_t)s->ended_usec,
                      "result", res);
        if (!o)
                return -ENOMEM;
        r = write_json_at(dfd, "result.json.tmp", o);
        if (r < 0)
                return r;
        if (renameat(dfd, "result.json.tmp", dfd, "result.json") < 0)
                return -errno;
        return 0;
}

int store_open_log(struct daemon *d, const struct step *s)
{
        _cleanup_close_ int dfd = open_dir_at(d->steps_fd, s->id, false);

        if (dfd < 0)
                return dfd;
        int fd = openat(dfd, "log", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

int store_read_record(int log_fd, uint64_t pos, int *ret_stream, uint32_t *ret_len)
{
        uint8_t h[LOG_RECORD_HEADER];
        ssize_t n = pread(log_fd, h, sizeof(h), (off_t)pos);

        if (n < 0)
                return -errno;
        if (n < (ssize_t)sizeof(h))
                return 0;
        if ((h[0] != LOG_STREAM_STDOUT && h[0] != LOG_STREAM_STDERR) || h[1] || h[2] || h[3])
                return -EBADMSG;
        *ret_stream = h[0];
        *ret_len = (uint32_t)h[4] | (uint32_t)h[5] << 8 | (uint32_t)h[6] << 16 |
                   (uint32_t)h[7] << 24;
        return 1;
}

/* Count the whole records of a log; cut a torn tail (a crash mid-write) so
 * offsets stay stable. */
static int scan_log(int dfd, struct step *s, bool may_truncate)
{
        _cleanup_close_ int fd = openat(dfd, "log", (may_truncate ? O_RDWR : O_RDONLY) |
                                                            O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        uint64_t pos = 0, out = 0;

        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        for (;;) {
                int stream;
                uint32_t len;
                int r = store_read_record(fd, pos, &stream, &len);
                if (r <= 0 || pos + LOG_RECORD_HEADER + len > (uint64_t)st.st_size)
                        break;
                pos += LOG_RECORD_HEADER + len;
                out += len;
        }
        if (pos < (uint64_t)st.st_size && may_truncate && ftruncate(fd, (off_t)pos) < 0)
                return -errno;
        s->log_size = pos;
        s->output_bytes = out;
        return 0;
}

/* A record's JSON file in the step's folder, never through a link. */
static int read_json_at(int dfd, const char *name, json_t **ret)
{
        _cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r;

        if (fd < 0)
                return -errno;
        r = read_full_fd(fd, &text, &len);
        if (r < 0)
                return r;
        *ret = json_loadb(text, len, 0, NULL);
        return *ret ? 0 : -EBADMSG;
}

static int load_request(int dfd, struct step *s)
{
        json_auto_t *o = NULL;
        int r = read_json_at(dfd, "request.json", &o);

        if (r < 0)
                return r;
        const char *project = json_string_value(json_object_get(o, "project"));
        if (!o || !project || !project_name_valid(project))
                return -EBADMSG;
        s->project = strdup(project);
        const char *key = json_string_value(json_object_get(o, "idempotency_key"));
        if (key)
                s->idempotency_key = strdup(key);
        s->uid = (uid_t)json_integer_value(json_object_get(o, "uid"));
        s->gid = (gid_t)json_integer_value(json_object_get(o, "gid"));
        s->peer_pid = (pid_t)json_integer_value(json_object_get(o, "pid"));
        s->created_usec = (uint64_t)json_integer_value(json_object_get(o, "created_usec"));
        return s->project ? 0 : -ENOMEM;
}

static int load_result(int dfd, struct step *s)
{
        json_auto_t *o = NULL;
        int r = read_json_at(dfd, "result.json", &o);

        if (r < 0)
                return r;
        s->ended_usec = (uint64_t)json_integer_value(json_object_get(o, "ended_usec"));
        return proto_result_from_json(json_object_get(o, "result"), &s->result, NULL);
}

static void insert_sorted(struct daemon *d, struct step *s)
{
        struct step *t;

        TAILQ_FOREACH_REVERSE(t, &d->steps, step_list, link)
                if (t->created_usec <= s->created_usec) {
                        steps_add(d, s, t);
                        return;
                }
        steps_add(d, s, NULL);
}

/* A step that has request.json but no result.json was running when the
 * supervisor stopped: it is lost. Its working folder goes too. */
static int recover_one(struct daemon *d, const char *name)
{
        _cleanup_close_ int dfd = open_dir_at(d->steps_fd, name, false);
        struct step *s;
        int r;

        if (dfd < 0)
                return dfd;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        if (strlen(name) >= sizeof(s->id)) {
                free(s);
                return -EINVAL;
        }
        memcpy(s->id, name, strlen(name) + 1);
        s->state = STEP_DONE;
        s->log_fd = s->stdin_fd = -1;
        s->timer_w.fd = s->sync_w.fd = s->out_w.fd = s->err_w.fd = s->pid_w.fd = -1;
        TAILQ_INIT(&s->attachments);
        r = load_request(dfd, s);
        if (r < 0) {
                step_free(d, s);
                return r;
        }
        bool lost = load_result(dfd, s) == -ENOENT;
        r = scan_log(dfd, s, lost);
        if (r < 0)
                log_warning_errno(r, "event=recover-warning step=%s cannot read the log", name);
        if (lost) {
                s->result = (struct step_result){ .reason = STEP_REASON_LOST, .exit_code = -1 };
                snprintf(s->result.message, sizeof(s->result.message),
                         "the supervisor stopped while the step was running");
                s->ended_usec = now_realtime_usec();
                r = store_write_result(d, s);
                if (r < 0)
                        log_warning_errno(r, "event=recover-warning step=%s cannot write result", name);
                log_notice("event=step-lost step=%s project=%s", s->id, s->project);
                audit_step_log(&(struct audit_step){ .step = s->id, .project = s->project,
                                                     .peer_uid = s->uid, .peer_pid = s->peer_pid,
                                                     .run_uid = (uid_t)-1, .run_gid = (gid_t)-1,
                                                     .result = &s->result });
                d->metrics.steps_ended[STEP_REASON_LOST]++;
        }
        _cleanup_close_ int wfd = store_work_dir(d, s->project, false);
        if (wfd >= 0) {
                r = workdir_remove(wfd, s->id);
                if (r < 0 && r != -ENOENT)
                        log_warning_errno(r, "event=recover-warning step=%s cannot remove "
                                          "the working folder", name);
        }
        insert_sorted(d, s);
        return 0;
}

int store_recover(struct daemon *d)
{
        int fd = fcntl(d->steps_fd, F_DUPFD_CLOEXEC, 3);
        DIR *dir;
        struct dirent *de;
        unsigned n = 0;

        if (fd < 0)
                return -errno;
        dir = fdopendir(fd);
        if (!dir) {
                safe_close(fd);
                return -errno;
        }
        rewinddir(dir);
        while ((de = readdir(dir))) {
                if (!step_id_valid(de->d_name))
                        continue;
                int r = recover_one(d, de->d_name);
                if (r < 0)
                        log_warning_errno(r, "event=recover-warning step=%s skipped", de->d_name);
                else
                        n++;
        }
        closedir(dir);
        log_info("event=recovered steps=%u", n);
        return 0;
}

static int remove_record(struct daemon *d, const char *id)
{
        static const char *const files[] = { "request.json", "log", "result.json",
                                              "result.json.tmp" };
        _cleanup_close_ int dfd = open_dir_at(d->steps_fd, id, false);

        if (dfd < 0)
                return dfd;
        for (size_t i = 0; i < ARRAY_SIZE(files); i++)
                if (unlinkat(dfd, files[i], 0) < 0 && errno != ENOENT)
                        return -errno;
        if (unlinkat(d->steps_fd, id, AT_REMOVEDIR) < 0)
                return -errno;
        return 0;
}

void store_prune(struct daemon *d, uint64_t now_usec)
{
        uint64_t keep = policy_settings(d->config)->retention_sec * 1000000ull;
        struct step *s, *next;
        unsigned n = 0;

        for (s = TAILQ_FIRST(&d->steps); s; s = next) {
                next = TAILQ_NEXT(s, link);
                /* (pid_open: its init is still exiting; its sandbox goes first) */
                if (s->state != STEP_DONE || !TAILQ_EMPTY(&s->attachments) || s->pid_open ||
                    s->ended_usec + keep > now_usec)
                        continue;
                int r = remove_record(d, s->id);
                if (r < 0) {
                        log_warning_errno(r, "event=prune-error step=%s", s->id);
                        continue;
                }
                steps_remove(d, s);
                step_free(d, s);
                n++;
        }
        if (n > 0)
                log_info("event=pruned steps=%u", n);
        d->last_prune_usec = now_usec;
}
