/*
 * wire_abi.h - the one place where the protocol's codes and names
 * (common/wire.h) become the ABI's (include/msb.h) and back. The two sets
 * have the same values today; they are kept apart so that the ABI can
 * grow without the agent including it, and the agent's answers are
 * checked on the way in.
 */
#ifndef MSB_LIB_WIRE_ABI_H
#define MSB_LIB_WIRE_ABI_H

#include "msb.h"
#include "wire.h"

/* An error code from the agent; MSB_ERROR for one this library does not
 * know. */
int msb_code_from_wire(int wire_code);
/* How the agent enforced a limit; MSB_ENFORCE_NONE when unknown. */
msb_enforcement msb_enforcement_from_wire(int wire_enforcement);
/* The wire's index of an ABI limit (both count memory, cpu, pids, disk,
 * time). */
int msb_limit_to_wire(msb_limit limit);
/* A file type from the agent; 0 when unknown. */
msb_file_type msb_file_type_from_wire(int wire_type);
/* MSB_WRITE_* as file.write's "flags"; -1 for an unknown value. */
int msb_write_flags_to_wire(int flags);

#endif
