/*
 * repl.c - long-lived interpreters (python, node, shell) whose state
 * persists between runs: the repl.run and repl.context operations. The
 * contexts, runs and interpreter processes are repl_ctx.c's; the
 * languages repl_lang.c's; the shaping of a run's reply repl_reply.c's.
 *
 * A context is one (language, name) pair and, once used, one interpreter
 * process running a driver (guest/repl/driver.*, compiled in). The agent
 * talks to the driver over two pipes, the driver's fd 3 (requests) and
 * fd 4 (responses), both framed as "<decimal length>\n<payload>": a
 * request is the code, a response one JSON object. The interpreter's fds
 * 1 and 2 are pipes of their own, forwarded as the run's STDOUT/STDERR
 * frames; so nothing a program prints can end a run early.
 *
 * Runs on one context go one at a time, in the order their CALLs came;
 * different contexts run in parallel. A run's code comes as STDIN frames
 * after its CALL (an empty one ends it), so code of any size fits.
 *
 * The interpreter's output and answers are read only while the run's
 * client keeps up (agent_watch_client): the answer waits behind the output
 * a slow client has not taken yet, and the code blocks in its writes.
 *
 * What comes from a driver is hostile: the code can write to fd 4 too. It
 * is read without blocking, bounded in size, checked as JSON, and anything
 * malformed gets the interpreter killed, never the agent hurt.
 *
 * state_lost is said once per loss: by the run during which the
 * interpreter died or was killed, or, when it died between runs, by the
 * next run (which starts a fresh one).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"
#include "base.h"
#include "client.h"
#include "repl.h"
#include "repl_ctx.h"
#include "repl_lang.h"
#include "repl_reply.h"

#define MAX_CONTEXTS 64
#define MAX_QUEUE 1024              /* runs waiting on one context */

static int check_target(struct client *c, uint32_t id, const json_t *req,
			const struct repl_language **l, const char **name)
{
	const char *lang = json_string_value(json_object_get(req, "language"));
	const json_t *jname = json_object_get(req, "context");

	if (!jname)
		jname = json_object_get(req, "name");
	*name = jname ? json_string_value(jname) : "default";
	*l = repl_lang_named(lang);
	if (!*l) {
		client_error(c, id, MSB_WIRE_EINVAL, 0, "use python, node or shell",
			     "unknown REPL language \"%.32s\"", lang ? lang : "(none)");
		return -1;
	}
	if (!repl_valid_name(*name)) {
		client_error(c, id, MSB_WIRE_EINVAL, 0, "give a name of 1 to 128 "
			     "printable characters", "invalid REPL context name");
		return -1;
	}
	return 0;
}

void op_repl_run(struct agent *a, struct client *c, uint32_t id, const json_t *req)
{
	const json_t *jt = json_object_get(req, "timeout_ms");
	const struct repl_language *l;
	const char *name;
	struct repl_ctx *x;
	struct repl_run *r, **pp;

	if (check_target(c, id, req, &l, &name) < 0)
		return;
	if (jt && (!json_is_integer(jt) || json_integer_value(jt) < 0)) {
		client_error(c, id, MSB_WIRE_EINVAL, 0, "give the timeout in "
			     "milliseconds, or 0 for none", "invalid timeout_ms");
		return;
	}
	x = repl_ctx_find(l->lang, name);
	if (!x && repl_ctx_count() >= MAX_CONTEXTS) {
		client_error(c, id, MSB_WIRE_EINVAL, 0, "destroy contexts that are no "
			     "longer needed", "too many REPL contexts (%d)",
			     MAX_CONTEXTS);
		return;
	}
	if (x && x->queued >= MAX_QUEUE) {
		client_error(c, id, MSB_WIRE_EINVAL, 0, "wait for earlier runs to "
			     "finish", "too many runs waiting on this context");
		return;
	}
	r = calloc(1, sizeof(*r));
	if (!r || (!x && !(x = repl_ctx_new(l->lang, name)))) {
		free(r);
		client_error(c, id, MSB_WIRE_ENOMEM, ENOMEM, "", "out of memory");
		return;
	}
	if (client_track(c, id, &repl_run_ops, r) < 0) {
		free(r);
		client_error(c, id, MSB_WIRE_EPROTO, 0, "", "request id %u is in use", id);
		return;
	}
	client_ref(c);
	r->c = c;
	r->id = id;
	r->ctx = x;
	r->serial = repl_next_serial();
	r->timeout_ms = jt ? (int64_t)json_integer_value(jt) : 0;
	for (pp = &x->queue; *pp; pp = &(*pp)->next)
		;
	*pp = r;
	x->queued++;
	/* The code comes as STDIN frames; repl_ctx_pump starts it at their EOF. */
}

/* End the run in the interpreter because its context is going away. */
static void ctx_stop(struct agent *a, struct repl_ctx *x, const char *type,
		     const char *msg)
{
	if (x->proc)
		repl_proc_abandon(a, x->proc);
	if (x->cur) {
		x->cur->killed = x->cur->interrupted = 0;
		repl_run_fail(a, x, type, msg);
	}
}

void op_repl_context(struct agent *a, struct client *c, uint32_t id, const json_t *req)
{
	const char *action = json_string_value(json_object_get(req, "action"));
	const struct repl_language *l;
	const char *name;
	struct msb_wire_error err;
	struct repl_ctx *x;

	memset(&err, 0, sizeof(err));
	if (action && !strcmp(action, "list")) {
		json_t *list = json_array();

		for (x = repl_ctx_first(); x; x = x->next) {
			const struct repl_language *xl = repl_lang_of(x->lang);

			json_array_append_new(list, json_pack("{s:s,s:s,s:b}",
				"language", xl ? xl->name : "", "name", x->name,
				"running", x->proc != NULL));
		}
		client_reply(c, id, json_pack("{s:b,s:o}", "ok", 1, "contexts", list));
		return;
	}
	if (!action || (strcmp(action, "create") && strcmp(action, "reset") &&
			strcmp(action, "destroy") && strcmp(action, "interrupt"))) {
		client_error(c, id, MSB_WIRE_EINVAL, 0, "use create, reset, destroy, "
			     "interrupt or list", "unknown REPL context action");
		return;
	}
	if (check_target(c, id, req, &l, &name) < 0)
		return;
	x = repl_ctx_find(l->lang, name);
	if (!strcmp(action, "create")) {
		if (x) {
			client_error(c, id, MSB_WIRE_EEXISTS, 0, "use it, or reset or "
				     "destroy it first", "the %s context \"%.128s\" "
				     "exists", l->name, name);
			return;
		}
		if (repl_ctx_count() >= MAX_CONTEXTS) {
			client_error(c, id, MSB_WIRE_EINVAL, 0, "destroy contexts that "
				     "are no longer needed", "too many REPL "
				     "contexts (%d)", MAX_CONTEXTS);
			return;
		}
		if (!(x = repl_ctx_new(l->lang, name))) {
			client_error(c, id, MSB_WIRE_ENOMEM, ENOMEM, "", "out of memory");
			return;
		}
		if (repl_proc_start(a, x, &err) < 0) {
			repl_ctx_free(x);
			client_error(c, id, err.code, err.os_errno, err.hint, "%s",
				     err.message);
			return;
		}
		client_reply(c, id, json_pack("{s:b}", "ok", 1));
		return;
	}
	if (!x) {
		client_error(c, id, MSB_WIRE_ENOTFOUND, 0, "create it, or run code in "
			     "it", "no %s context \"%.128s\"", l->name, name);
		return;
	}
	if (!strcmp(action, "interrupt")) {
		int running = x->cur && x->proc && !x->cur->interrupted;

		if (running) {
			/* an answer already there wins, as for a timeout (and
			 * the run it let start is not the one asked about) */
			uint64_t serial = x->cur->serial;

			repl_read_responses(a, x->proc);
			running = x->cur && x->proc && x->cur->serial == serial &&
				  !x->cur->interrupted;
		}
		if (running) {
			x->cur->asked = 1;
			repl_run_interrupt(a, x->cur);
		}
		client_reply(c, id, json_pack("{s:b,s:b}", "ok", 1, "interrupted",
					      running));
		return;
	}
	if (!strcmp(action, "reset")) {
		ctx_stop(a, x, "ContextReset", "the context was reset while the "
			 "code ran");
		x->lost = 0; /* asked for: not a loss to report */
		if (repl_proc_start(a, x, &err) < 0) {
			client_error(c, id, err.code, err.os_errno, err.hint, "%s",
				     err.message);
			repl_ctx_pump(a, x);
			return;
		}
		client_reply(c, id, json_pack("{s:b}", "ok", 1));
		repl_ctx_pump(a, x);
		return;
	}
	/* destroy */
	ctx_stop(a, x, "ContextDestroyed", "the context was destroyed while "
		 "the code ran");
	while (x->queue) {
		struct repl_run *r = x->queue;

		x->queue = r->next;
		x->queued--;
		if (!r->detached)
			client_error(r->c, r->id, MSB_WIRE_ECANCELED, 0, "", "the REPL "
				     "context was destroyed before the run started");
		repl_run_free(a, r);
	}
	repl_ctx_free(x);
	client_reply(c, id, json_pack("{s:b}", "ok", 1));
}
