/*
 * wire_abi.c - the protocol's codes and names as the ABI's (see
 * wire_abi.h). Every case is spelled out, so that a code added on one side
 * only is a compile-time question here, not a silent shift.
 */
#include "wire_abi.h"

int msb_code_from_wire(int wire_code)
{
	switch (wire_code) {
	case MSB_WIRE_OK: return MSB_OK;
	case MSB_WIRE_ERROR: return MSB_ERROR;
	case MSB_WIRE_EINVAL: return MSB_EINVAL;
	case MSB_WIRE_ENOMEM: return MSB_ENOMEM;
	case MSB_WIRE_EVERSION: return MSB_EVERSION;
	case MSB_WIRE_ESTATE: return MSB_ESTATE;
	case MSB_WIRE_EUNSUPPORTED: return MSB_EUNSUPPORTED;
	case MSB_WIRE_ESPAWN: return MSB_ESPAWN;
	case MSB_WIRE_EPROTO: return MSB_EPROTO;
	case MSB_WIRE_ESANDBOX: return MSB_ESANDBOX;
	case MSB_WIRE_ETIMEDOUT: return MSB_ETIMEDOUT;
	case MSB_WIRE_ENOTFOUND: return MSB_ENOTFOUND;
	case MSB_WIRE_EPERM: return MSB_EPERM;
	case MSB_WIRE_EIO: return MSB_EIO;
	case MSB_WIRE_ECANCELED: return MSB_ECANCELED;
	case MSB_WIRE_EDONE: return MSB_EDONE;
	case MSB_WIRE_EEXISTS: return MSB_EEXISTS;
	case MSB_WIRE_ETOOBIG: return MSB_ETOOBIG;
	default: return MSB_ERROR;
	}
}

msb_enforcement msb_enforcement_from_wire(int wire_enforcement)
{
	switch (wire_enforcement) {
	case MSB_WIRE_ENFORCE_RLIMIT: return MSB_ENFORCE_RLIMIT;
	case MSB_WIRE_ENFORCE_CGROUP: return MSB_ENFORCE_CGROUP;
	case MSB_WIRE_ENFORCE_KERNEL: return MSB_ENFORCE_KERNEL;
	default: return MSB_ENFORCE_NONE;
	}
}

int msb_limit_to_wire(msb_limit limit)
{
	switch (limit) {
	case MSB_LIMIT_MEMORY: return MSB_WIRE_LIMIT_MEMORY;
	case MSB_LIMIT_CPU: return MSB_WIRE_LIMIT_CPU;
	case MSB_LIMIT_PIDS: return MSB_WIRE_LIMIT_PIDS;
	case MSB_LIMIT_DISK: return MSB_WIRE_LIMIT_DISK;
	case MSB_LIMIT_TIME: return MSB_WIRE_LIMIT_TIME;
	}
	return -1;
}

msb_file_type msb_file_type_from_wire(int wire_type)
{
	switch (wire_type) {
	case MSB_WIRE_FILE_REGULAR: return MSB_FILE_REGULAR;
	case MSB_WIRE_FILE_DIRECTORY: return MSB_FILE_DIRECTORY;
	case MSB_WIRE_FILE_SYMLINK: return MSB_FILE_SYMLINK;
	case MSB_WIRE_FILE_OTHER: return MSB_FILE_OTHER;
	default: return (msb_file_type)0;
	}
}

int msb_write_flags_to_wire(int flags)
{
	switch (flags) {
	case MSB_WRITE_TRUNCATE: return MSB_WIRE_WRITE_TRUNCATE;
	case MSB_WRITE_APPEND: return MSB_WIRE_WRITE_APPEND;
	case MSB_WRITE_EXCL: return MSB_WIRE_WRITE_EXCL;
	default: return -1;
	}
}
