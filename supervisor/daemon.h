/* SPDX-License-Identifier: MIT */
#pragma once

/* The supervisor's shared state. One thread, one epoll set; every fd in it
 * is a struct watch whose ready() is called with the epoll events.
 *
 *   daemon.c   options, start-up, the loop, signals (drain, reload), stop
 *   listen.c   listening sockets (bound or from systemd), sd_notify
 *   session.c  clients: frames in, requests dispatched, bounded output
 *   request.c  the request handlers (hello, run, attach, cancel, ...)
 *   step.c     a step's life: queued → starting → running → done
 *   attach.c   clients attached to steps: replay from the log, then live
 *   store.c    records on disk: request.json, log, result.json; recovery, prune
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include "common/result.h"
#include "ipc/frame.h"
#include "ipc/peercred.h"
#include "ipc/proto.h"
#include "policy/policy.h"
#include "sandbox/sandbox.h"
#include "supervisor/metrics.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

struct daemon;
struct watch {
        int fd;
        void (*ready)(struct daemon *d, struct watch *w, uint32_t events);
};

int watch_add(struct daemon *d, struct watch *w, uint32_t events);
int watch_mod(struct daemon *d, struct watch *w, uint32_t events);
void watch_del(struct daemon *d, struct watch *w); /* does not close */

enum step_state {
        STEP_QUEUED,
        STEP_STARTING, /* spawned, setup running */
        STEP_RUNNING,
        STEP_DONE,
        _STEP_STATE_MAX,
};
const char *step_state_to_string(enum step_state s);

struct client;
struct step;
struct step_forward; /* supervisor/remote.h */
struct agents;       /* supervisor/agents.h */

/* One client attached to one step. `offset` is the next output byte the
 * client gets; while it is behind the log (`live` false) it is fed from
 * disk as its buffer drains, then it follows the live output. */
struct attachment {
        TAILQ_ENTRY(attachment) by_step;
        TAILQ_ENTRY(attachment) by_client;
        struct step *step;
        struct client *client;
        uint64_t offset;
        uint64_t rec_pos;  /* log position of the record holding offset */
        uint64_t rec_out;  /* output offset where that record starts */
        int log_fd;        /* read side, while replaying */
        bool live;
};
TAILQ_HEAD(attachment_list, attachment);

struct step {
        TAILQ_ENTRY(step) link;   /* d->steps, every step kept */
        TAILQ_ENTRY(step) qlink;  /* d->queue while queued */
        TAILQ_ENTRY(step) rlink;  /* d->releasing: ended, its sandbox not yet removed */
        TAILQ_ENTRY(step) olink;  /* owner->owned */
        struct step *id_next;     /* d->by_id chain */
        char id[STEP_ID_MAX + 1];
        char *project;
        char *idempotency_key;
        uid_t uid;                /* the peer that asked */
        gid_t gid;
        pid_t peer_pid;           /* as of its connect(); 0: not known */
        uint64_t created_usec;    /* realtime */
        uint64_t ended_usec;
        enum step_state state;
        struct step_result result;
        uint64_t output_bytes;    /* bytes of output in the log */
        uint64_t log_size;        /* bytes of the log file (records + headers) */
        struct attachment_list attachments;

        /* live only */
        struct policy_config *config;
        struct launch_spec *spec;
        char *script;
        int stdin_fd;
        int log_fd;
        bool cancel_on_disconnect;
        struct client *owner;     /* the connection that sent run, while connected */
        struct sandbox_step *sbx;
        struct watch sync_w, out_w, err_w, pid_w, timer_w;
        /* *_open: in the epoll set now. A handler whose flag is off was
         * called for an event queued before its fd left the set (in the
         * same batch): the fd may be closed and its number reused. */
        bool sync_open, out_open, err_open, pid_open, reaped, killing;
        bool ended;               /* the init reported the end (ENDED) */
        enum step_reason kill_reason;
        struct step_result reap_result;
        uint64_t start_mono;
        bool has_workdir;
        bool release_pending;     /* on d->releasing */
        struct step_forward *fwd; /* the remote executor's state; NULL: local */
};
TAILQ_HEAD(step_list, step);

struct client {
        struct watch w;
        TAILQ_ENTRY(client) link;
        TAILQ_ENTRY(client) dirty_link;
        struct peer_cred cred;
        struct frame_reader in;
        struct frame_buffer out;
        struct attachment_list attachments;
        struct step_list owned;   /* steps it sent run for (step.owner) */
        uint64_t id;
        uint64_t closing_since;   /* monotonic usec; 0: not closing */
        uint64_t connected_usec;  /* monotonic */
        bool hello;
        bool dirty;
        bool want_out;            /* EPOLLOUT registered */
        bool closing;             /* flush what is left, then close */
        bool read_shut;           /* the peer shut its sending side */
        bool dropped_slow;        /* we dropped it: its steps are unaffected */
};
TAILQ_HEAD(client_list, client);

struct daemon_metrics {
        uint64_t steps_accepted;
        uint64_t steps_started;
        uint64_t steps_ended[_STEP_REASON_MAX];
        uint64_t requests_refused[_PROTO_E_MAX];
        uint64_t step_wall_usec_total;
        uint64_t clients_accepted;
        uint64_t clients_dropped_slow;
        uint64_t output_bytes;
        struct metrics_histogram durations; /* wall time of steps that started */
};

struct daemon_options {
        const char *config_dir;
        const char *socket_path;
        const char *state_dir;
        long capacity;            /* < 0: from the configuration */
        long queue_limit;
        uint64_t client_buffer_max;
        uint64_t drain_grace_ms;
        unsigned max_connections_per_uid;
        mode_t socket_mode;       /* 0: from the configuration */
        const char *metrics_file; /* textfile collector output, or NULL */
        uint64_t metrics_interval_ms; /* how often it is rewritten */
        bool agent_mode;          /* stepd agent: serve supervisors over TLS */
};

#define LISTENERS_MAX 8
#define CLIENT_REPLAY_LOW_WATER (256u * 1024u)
#define CLIENT_BUFFER_MAX_DEFAULT (16u * 1024u * 1024u)
#define OUTPUT_CHUNK (64u * 1024u)

struct daemon {
        int epfd;
        struct daemon_options opt;
        struct policy_config *config;
        struct sandbox_context *sandbox;
        struct agents *agents;    /* remote executor; NULL: this host only */
        char *state_dir;
        int state_fd, steps_fd, work_fd;

        struct watch listeners[LISTENERS_MAX];
        size_t n_listeners;
        char *socket_path;        /* the path we bound (removed at stop), or NULL */
        struct watch signal_w;
        struct watch tick_w;

        struct client_list clients;
        struct client_list dirty;
        struct step_list steps;
        struct step_list queue;
        struct step_list releasing; /* see steps_release_pending() */
        struct step **by_id;        /* every step of d->steps, hashed by id */
        size_t by_id_cap, n_steps;
        unsigned n_queued, n_live;  /* live: starting or running */
        unsigned n_clients;
        uint64_t next_client_id;
        uint64_t last_prune_usec;
        uint64_t last_metrics_usec;

        bool draining;
        uint64_t drain_deadline;  /* monotonic usec */
        bool tick_due;
        bool listen_paused;

        uint8_t iobuf[OUTPUT_CHUNK];
        char *encbuf;             /* an output frame being built */
        size_t encbuf_len;
        struct daemon_metrics metrics;
        struct agent_server *agent_server; /* agent_server.h: agent mode; NULL: not an agent */
};

unsigned daemon_capacity(const struct daemon *d);
unsigned daemon_queue_limit(const struct daemon *d);
int daemon_reload(struct daemon *d, char *err, size_t err_len);

/* listen.c */
int listen_setup(struct daemon *d);
void listen_close(struct daemon *d);
void listen_pause(struct daemon *d);
void listen_resume(struct daemon *d);
void notify(const char *state); /* sd_notify when NOTIFY_SOCKET is set */

/* session.c */
void client_accept(struct daemon *d, int listen_fd);
/* A connected stream socket as a new client (agent mode's TLS front). */
int client_adopt(struct daemon *d, int fd);
int client_send(struct daemon *d, struct client *c, const json_t *o);
int client_send_raw(struct daemon *d, struct client *c, const void *frame, size_t len);
int client_send_error(struct daemon *d, struct client *c, bool has_req, int64_t req,
                      const char *step, enum proto_error_code code, const char *fmt, ...)
        _printf_(7, 8);
void client_drop(struct daemon *d, struct client *c, enum proto_error_code code, const char *msg);
void client_free(struct daemon *d, struct client *c);
void clients_flush_dirty(struct daemon *d);
void clients_tick(struct daemon *d, uint64_t now);
void client_mark_dirty(struct daemon *d, struct client *c);

/* admit.c */
int daemon_authorize(struct daemon *d, const struct client *c, const char *project,
                     enum policy_action a, struct proto_error *err);

/* request.c */
void request_dispatch(struct daemon *d, struct client *c, json_t *obj);

/* step.c */
struct step *step_find(struct daemon *d, const char *id);
int steps_index_init(struct daemon *d);
void steps_add(struct daemon *d, struct step *s, struct step *after); /* after NULL: head */
void steps_remove(struct daemon *d, struct step *s);
void step_set_owner(struct step *s, struct client *c);
/* What drives a step, whoever runs it (the local sandbox here; an
 * executor elsewhere can call the same): started, a chunk of output
 * (LOG_STREAM_*; to the log, then to attached clients), the one end. */
void step_mark_running(struct daemon *d, struct step *s);
void step_output(struct daemon *d, struct step *s, int stream, const uint8_t *data, size_t n);
void step_finish(struct daemon *d, struct step *s, const struct step_result *r);
int step_create(struct daemon *d, struct client *c, const struct proto_request *req,
                struct step **ret, struct proto_error *err);
void step_schedule(struct daemon *d);
int step_cancel(struct daemon *d, struct step *s, enum step_reason why, const char *message);
void step_free(struct daemon *d, struct step *s);
void steps_release_pending(struct daemon *d);
void steps_drain_tick(struct daemon *d, uint64_t now);
unsigned step_queue_position(struct daemon *d, const struct step *s);
void step_client_gone(struct daemon *d, struct client *c);

/* attach.c */
int attach_client(struct daemon *d, struct client *c, struct step *s, uint64_t offset);
void attach_detach(struct attachment *a);
void attach_broadcast_output(struct daemon *d, struct step *s, const char *stream,
                             uint64_t offset, const uint8_t *data, size_t n);
void attach_broadcast(struct daemon *d, struct step *s, const json_t *event);
void attach_step_done(struct daemon *d, struct step *s);
bool attach_pump(struct daemon *d, struct client *c);
json_t *attach_exit_event(const struct step *s);

/* store.c */
#define LOG_STREAM_STDOUT 1
#define LOG_STREAM_STDERR 2
#define LOG_RECORD_HEADER 8
int store_open(struct daemon *d);
int store_step_create(struct daemon *d, struct step *s, const json_t *request);
int store_log_append(struct daemon *d, struct step *s, int stream, const uint8_t *data,
                     size_t n);
int store_write_result(struct daemon *d, struct step *s);
int store_open_log(struct daemon *d, const struct step *s);
int store_read_record(int log_fd, uint64_t pos, int *ret_stream, uint32_t *ret_len);
int store_recover(struct daemon *d);
void store_prune(struct daemon *d, uint64_t now_usec);
int store_work_dir(struct daemon *d, const char *project, bool create);
int store_cache_dir(struct daemon *d, const char *project, uid_t uid, gid_t gid,
                    char **ret_path);
