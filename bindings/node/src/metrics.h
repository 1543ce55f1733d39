/*
 * metrics.h - the JavaScript entry points of a sandbox's metrics and of
 * the host probe.
 */
#ifndef MSB_NODE_METRICS_H
#define MSB_NODE_METRICS_H

#include <node_api.h>

napi_value js_metrics(napi_env env, napi_callback_info info);
napi_value js_host_probe(napi_env env, napi_callback_info info);

#endif
