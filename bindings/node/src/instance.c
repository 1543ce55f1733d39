/*
 * instance.c - the addon's per-environment state and its teardown. At
 * teardown the cleanup hook runs before the environment's finalizers: it
 * marks the state shutting down, so that the finalizers that run after it
 * free handles in place (blocking at exit is fine), and drains the reaper.
 */
#include <stdlib.h>

#include "instance.h"
#include "reaper.h"

static void cleanup_hook(void *arg)
{
	addon *ad = arg;

	/* Runs before the environment's finalizers: from now on they free
	 * in place, and what the reaper holds is freed before we go. */
	ad->shutting_down = 1;
	reaper_flush();
}

static void addon_finalize(napi_env env, void *data, void *hint)
{
	addon *ad = data;

	(void)hint;
	if (ad->error_class)
		napi_delete_reference(env, ad->error_class);
	free(ad);
}

int instance_init(napi_env env)
{
	addon *ad = calloc(1, sizeof(*ad));

	if (!ad || napi_set_instance_data(env, ad, addon_finalize, NULL) != napi_ok) {
		free(ad);
		return -1;
	}
	napi_add_env_cleanup_hook(env, cleanup_hook, ad);
	return 0;
}

addon *instance_get(napi_env env)
{
	addon *ad = NULL;

	napi_get_instance_data(env, (void **)&ad);
	return ad;
}
