/*
 * names.h - the small names the addon maps on its own: the string name of
 * an error code (an error's `code`) and the backend and trust names of the
 * sandbox options. Each is one function, so that each can give way to the
 * library's own when libmsb has one.
 */
#ifndef MSB_NODE_NAMES_H
#define MSB_NODE_NAMES_H

#include <msb.h>

/* "MSB_EINVAL" for MSB_EINVAL; "MSB_ERROR" for a code it does not know. */
const char *error_code_name(int code);

/* "auto", "os", "vm": 0 and *out set; anything else: -1. */
int backend_parse(const char *name, msb_backend *out);

/* "default", "untrusted", "trusted": 0 and *out set; anything else: -1. */
int trust_parse(const char *name, msb_trust *out);

#endif
