/*
 * names.h - the internal side of names.c: name lookups that raise no
 * error, for callers that have their own answer to an unknown name.
 *
 * The public names and parsers (msb_status_name, msb_backend_parse,
 * msb_error_name, ...) are declared in msb.h.
 */
#ifndef MSB_LIB_NAMES_H
#define MSB_LIB_NAMES_H

#include "msb.h"

/* "auto", "os", "vm": 0 with *out set, or -1 (out untouched). */
int msb_backend_lookup(const char *name, msb_backend *out);

#endif
