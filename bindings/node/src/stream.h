/*
 * stream.h - streaming a call's output to a JavaScript callback (see
 * stream.c for the order it guarantees).
 */
#ifndef MSB_NODE_STREAM_H
#define MSB_NODE_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include <node_api.h>

#include "call.h"

/* Stream c's output to the JS function cb (undefined/null: no streaming;
 * c->tsfn stays NULL). -1 with an exception pending on a bad cb. */
int stream_open(napi_env env, call *c, napi_value cb);

/* The libmsb output callback (msb_output_fn); payload is the call. */
int stream_chunk(int stream, const uint8_t *data, size_t len, void *payload);

#endif
