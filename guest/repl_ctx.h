/*
 * repl_ctx.h - the REPL's contexts, runs and interpreter processes
 * (repl_ctx.c), for the operations in repl.c.
 */
#ifndef MSB_AGENT_REPL_CTX_H
#define MSB_AGENT_REPL_CTX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base.h"
#include "client.h"
#include "loop.h"
#include "repl_lang.h"

struct repl_ctx;

/* One interpreter process. Abandoned (ctx NULL) once its context let go of
 * it: it is then only waited for and freed. */
struct repl_proc {
	struct repl_ctx *ctx;
	pid_t pid;
	int in_fd, resp_fd, out_fd, err_fd; /* -1 once closed */
	uint8_t *wbuf;                      /* the request being written */
	size_t wlen, woff;
	uint8_t *rbuf;                      /* the response being read */
	size_t rlen, rcap;
	int exited;                         /* seen dead: start nothing on it */
};

struct repl_run {
	struct repl_run *next;
	struct repl_ctx *ctx;
	struct client *c;
	uint32_t id;
	uint64_t serial;
	uint8_t *code;
	size_t len, cap;
	int code_done, too_big, has_nul;
	int64_t timeout_ms;
	uint64_t start_ns;
	uint64_t timer;         /* the timeout, then the kill grace */
	int interrupted, killed, detached, state_lost;
	int asked;              /* interrupted on request, not by the timeout */
};

struct repl_ctx {
	struct repl_ctx *next;
	enum repl_lang_id lang;
	char *name;
	struct repl_proc *proc; /* NULL: not running */
	struct repl_run *cur;   /* the run in the interpreter */
	struct repl_run *queue; /* the runs waiting, oldest first */
	size_t queued;
	int lost;               /* died between runs: the next run says so */
};

/* The contexts (a list through ->next), and how many there are. */
struct repl_ctx *repl_ctx_first(void);
size_t repl_ctx_count(void);
struct repl_ctx *repl_ctx_find(enum repl_lang_id lang, const char *name);
/* A new context, without an interpreter; NULL without memory. */
struct repl_ctx *repl_ctx_new(enum repl_lang_id lang, const char *name);
/* Forget a context (its interpreter and runs must be gone). */
void repl_ctx_free(struct repl_ctx *x);
/* Start the next run whose code is complete, if the interpreter is free
 * (starting one if there is none). */
void repl_ctx_pump(struct agent *a, struct repl_ctx *x);

/* Start the context's interpreter. Returns 0 or -1 with *err. */
int repl_proc_start(struct agent *a, struct repl_ctx *x, struct msb_wire_error *err);
/* Let go of the interpreter: kill it (and whatever it started) and only
 * wait for it from now on. */
void repl_proc_abandon(struct agent *a, struct repl_proc *p);
/* Read what the driver answered; returns -1 if p is gone. */
int repl_read_responses(struct agent *a, struct repl_proc *p);

/* The serial of a new run (never 0). */
uint64_t repl_next_serial(void);
/* A queued run's STDIN (its code), CANCEL and client's end. */
extern const struct request_ops repl_run_ops;
/* Forget a run: its reply (if any) was sent. The context must no longer
 * point to it. */
void repl_run_free(struct agent *a, struct repl_run *r);
void repl_queue_remove(struct repl_ctx *x, struct repl_run *r);
/* End the run in the interpreter with an error of this type. */
void repl_run_fail(struct agent *a, struct repl_ctx *x, const char *type, const char *msg);
/* SIGINT to the interpreter's process group; SIGKILL if it does not
 * answer within the grace. */
void repl_run_interrupt(struct agent *a, struct repl_run *r);

#endif
