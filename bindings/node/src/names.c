/*
 * names.c - the small names the addon maps on its own (see names.h): error
 * code names, backend names, trust names. Nothing else in the addon spells
 * them.
 */
#include <string.h>

#include "names.h"

static const char *const code_names[] = {
	"MSB_OK", "MSB_ERROR", "MSB_EINVAL", "MSB_ENOMEM", "MSB_EVERSION",
	"MSB_ESTATE", "MSB_EUNSUPPORTED", "MSB_ESPAWN", "MSB_EPROTO",
	"MSB_ESANDBOX", "MSB_ETIMEDOUT", "MSB_ENOTFOUND", "MSB_EPERM",
	"MSB_EIO", "MSB_ECANCELED", "MSB_EDONE", "MSB_EEXISTS", "MSB_ETOOBIG",
};

const char *error_code_name(int code)
{
	if (code <= 0 && -code < (int)(sizeof(code_names) / sizeof(*code_names)))
		return code_names[-code];
	return "MSB_ERROR";
}

int backend_parse(const char *name, msb_backend *out)
{
	if (!strcmp(name, "auto"))
		*out = MSB_BACKEND_AUTO;
	else if (!strcmp(name, "os"))
		*out = MSB_BACKEND_OS;
	else if (!strcmp(name, "vm"))
		*out = MSB_BACKEND_VM;
	else
		return -1;
	return 0;
}

int trust_parse(const char *name, msb_trust *out)
{
	if (!strcmp(name, "default"))
		*out = MSB_TRUST_DEFAULT;
	else if (!strcmp(name, "untrusted"))
		*out = MSB_TRUST_UNTRUSTED;
	else if (!strcmp(name, "trusted"))
		*out = MSB_TRUST_TRUSTED;
	else
		return -1;
	return 0;
}
