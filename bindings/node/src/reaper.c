/*
 * reaper.c - frees handles whose last reference went on the JavaScript
 * thread (a GC finalizer, the completion of a call). Freeing a running
 * sandbox or process can block (it stops the sandbox, kills the process),
 * so the free is handed to this one detached thread, started on first use.
 * At environment teardown the cleanup hook drains it with reaper_flush().
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "reaper.h"

typedef struct job {
	void (*fn)(void *);
	void *arg;
	struct job *next;
} job;

static pthread_mutex_t reaper_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reaper_cond = PTHREAD_COND_INITIALIZER;
static pthread_cond_t reaper_idle = PTHREAD_COND_INITIALIZER;
static job *reaper_head, *reaper_tail;
static int reaper_started, reaper_busy;
static atomic_long pending;

static void *reaper_main(void *unused)
{
	(void)unused;
	pthread_mutex_lock(&reaper_lock);
	for (;;) {
		while (!reaper_head)
			pthread_cond_wait(&reaper_cond, &reaper_lock);
		job *j = reaper_head;
		reaper_head = j->next;
		if (!reaper_head)
			reaper_tail = NULL;
		reaper_busy = 1;
		pthread_mutex_unlock(&reaper_lock);
		j->fn(j->arg);
		free(j);
		atomic_fetch_sub(&pending, 1);
		pthread_mutex_lock(&reaper_lock);
		reaper_busy = 0;
		if (!reaper_head)
			pthread_cond_broadcast(&reaper_idle);
	}
	return NULL;
}

/* Run fn(arg) on the reaper thread; in place if that is impossible. */
void reaper_push(void (*fn)(void *), void *arg)
{
	job *j = malloc(sizeof(*j));
	pthread_t t;
	pthread_attr_t attr;

	if (!j) {
		fn(arg);
		return;
	}
	j->fn = fn;
	j->arg = arg;
	j->next = NULL;
	pthread_mutex_lock(&reaper_lock);
	if (!reaper_started) {
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &attr, reaper_main, NULL) == 0)
			reaper_started = 1;
		pthread_attr_destroy(&attr);
		if (!reaper_started) {
			pthread_mutex_unlock(&reaper_lock);
			free(j);
			fn(arg);
			return;
		}
	}
	atomic_fetch_add(&pending, 1);
	if (reaper_tail)
		reaper_tail->next = j;
	else
		reaper_head = j;
	reaper_tail = j;
	pthread_cond_signal(&reaper_cond);
	pthread_mutex_unlock(&reaper_lock);
}

/* Wait until every queued free has been done. */
void reaper_flush(void)
{
	pthread_mutex_lock(&reaper_lock);
	while (reaper_head || reaper_busy)
		pthread_cond_wait(&reaper_idle, &reaper_lock);
	pthread_mutex_unlock(&reaper_lock);
}

long reaper_pending(void)
{
	return atomic_load(&pending);
}
