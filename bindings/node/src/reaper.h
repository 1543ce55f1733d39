/*
 * reaper.h - one background thread that frees handles whose last reference
 * went on the JavaScript thread, where a blocking free must not run.
 */
#ifndef MSB_NODE_REAPER_H
#define MSB_NODE_REAPER_H

/* Run fn(arg) on the reaper thread; in place if that is impossible. */
void reaper_push(void (*fn)(void *), void *arg);

/* Wait until every queued free has been done. */
void reaper_flush(void);

/* How many frees are queued or running (for the leak tests). */
long reaper_pending(void);

#endif
