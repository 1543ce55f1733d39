/*
 * instance.h - the addon's per-environment state (the main thread and each
 * worker thread that loads the addon have their own).
 */
#ifndef MSB_NODE_INSTANCE_H
#define MSB_NODE_INSTANCE_H

#include <node_api.h>

typedef struct addon {
	napi_ref error_class; /* MsbError, set by index.js */
	int shutting_down;    /* the environment is being torn down */
} addon;

/* Create this environment's state and its teardown hook; -1 on failure. */
int instance_init(napi_env env);

/* This environment's state, or NULL. */
addon *instance_get(napi_env env);

#endif
