/*
 * names.c - the small names of the ABI, and their parsers, in one place:
 * statuses, backends, trust levels, languages, enforcements and error
 * codes.
 *
 * Front ends (the CLI, the bindings) take these names from here instead
 * of keeping tables of their own, so that a name added here is known to
 * all of them at once.
 */
#include <stddef.h>
#include <string.h>

#include "error.h"
#include "names.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

const char *msb_status_name(msb_status status)
{
	switch (status) {
	case MSB_STATUS_CREATED: return "created";
	case MSB_STATUS_RUNNING: return "running";
	case MSB_STATUS_STOPPED: return "stopped";
	case MSB_STATUS_EXITED: return "exited";
	}
	return "unknown";
}

/* Backends -------------------------------------------------------------- */

static const struct {
	const char *name;
	msb_backend backend;
} backend_names[] = {
	{ "auto", MSB_BACKEND_AUTO },
	{ "os", MSB_BACKEND_OS },
	{ "vm", MSB_BACKEND_VM },
};

const char *msb_backend_name(msb_backend backend)
{
	for (size_t i = 0; i < LEN(backend_names); i++)
		if (backend_names[i].backend == backend)
			return backend_names[i].name;
	return "unknown";
}

int msb_backend_lookup(const char *name, msb_backend *out)
{
	for (size_t i = 0; name && i < LEN(backend_names); i++)
		if (!strcmp(backend_names[i].name, name)) {
			*out = backend_names[i].backend;
			return 0;
		}
	return -1;
}

int msb_backend_parse(const char *name, msb_backend *out)
{
	static const char hint[] = "use \"auto\", \"os\" or \"vm\"";

	if (!out)
		return msb_fail(MSB_EINVAL, 0, "pass the address of an "
				"msb_backend", "out is NULL");
	if (!name)
		return msb_fail(MSB_EINVAL, 0, hint, "the backend name is NULL");
	if (msb_backend_lookup(name, out))
		return msb_fail(MSB_EINVAL, 0, hint, "unknown backend \"%.64s\"",
				name);
	return msb_ok();
}

/* Trust levels ------------------------------------------------------------- */

static const struct {
	const char *name;
	msb_trust trust;
} trust_names[] = {
	{ "default", MSB_TRUST_DEFAULT },
	{ "untrusted", MSB_TRUST_UNTRUSTED },
	{ "trusted", MSB_TRUST_TRUSTED },
};

int msb_trust_parse(const char *name, msb_trust *out)
{
	static const char hint[] = "use \"default\", \"untrusted\" or "
				   "\"trusted\"";

	if (!out)
		return msb_fail(MSB_EINVAL, 0, "pass the address of an "
				"msb_trust", "out is NULL");
	if (!name)
		return msb_fail(MSB_EINVAL, 0, hint,
				"the trust level name is NULL");
	for (size_t i = 0; i < LEN(trust_names); i++)
		if (!strcmp(trust_names[i].name, name)) {
			*out = trust_names[i].trust;
			return msb_ok();
		}
	return msb_fail(MSB_EINVAL, 0, hint, "unknown trust level \"%.64s\"",
			name);
}

/* REPL languages: the first name of each is its own. ---------------------- */

static const struct {
	const char *name;
	msb_language lang;
} lang_names[] = {
	{ "python", MSB_LANG_PYTHON }, { "python3", MSB_LANG_PYTHON },
	{ "py", MSB_LANG_PYTHON },
	{ "node", MSB_LANG_NODE }, { "javascript", MSB_LANG_NODE },
	{ "js", MSB_LANG_NODE }, { "nodejs", MSB_LANG_NODE },
	{ "shell", MSB_LANG_SHELL }, { "bash", MSB_LANG_SHELL },
	{ "sh", MSB_LANG_SHELL },
};

const char *msb_language_name(msb_language lang)
{
	switch (lang) {
	case MSB_LANG_PYTHON: return "python";
	case MSB_LANG_NODE: return "node";
	case MSB_LANG_SHELL: return "shell";
	}
	return NULL;
}

msb_language msb_language_parse(const char *name)
{
	for (size_t i = 0; name && i < LEN(lang_names); i++)
		if (!strcmp(lang_names[i].name, name))
			return lang_names[i].lang;
	return 0;
}

/* Enforcements: the public names are also the agent's. -------------------- */

static const char *const enforcement_names[] = {
	[MSB_ENFORCE_NONE] = "none",
	[MSB_ENFORCE_RLIMIT] = "rlimit",
	[MSB_ENFORCE_CGROUP] = "cgroup",
	[MSB_ENFORCE_KERNEL] = "kernel",
};

const char *msb_enforcement_name(msb_enforcement e)
{
	if ((unsigned)e < LEN(enforcement_names))
		return enforcement_names[e];
	return "unknown";
}

/* Error codes: index -code. ----------------------------------------------- */

static const struct {
	const char *name, *description;
} error_codes[] = {
	[-MSB_OK] = { "MSB_OK", "no error" },
	[-MSB_ERROR] = { "MSB_ERROR", "error" },
	[-MSB_EINVAL] = { "MSB_EINVAL", "invalid argument" },
	[-MSB_ENOMEM] = { "MSB_ENOMEM", "out of memory" },
	[-MSB_EVERSION] = { "MSB_EVERSION", "unknown options version" },
	[-MSB_ESTATE] = { "MSB_ESTATE", "sandbox in the wrong state" },
	[-MSB_EUNSUPPORTED] = { "MSB_EUNSUPPORTED",
				"not supported on this host or backend" },
	[-MSB_ESPAWN] = { "MSB_ESPAWN", "sandbox could not be started" },
	[-MSB_EPROTO] = { "MSB_EPROTO", "protocol error" },
	[-MSB_ESANDBOX] = { "MSB_ESANDBOX", "sandbox died" },
	[-MSB_ETIMEDOUT] = { "MSB_ETIMEDOUT", "timed out" },
	[-MSB_ENOTFOUND] = { "MSB_ENOTFOUND", "not found" },
	[-MSB_EPERM] = { "MSB_EPERM", "permission denied" },
	[-MSB_EIO] = { "MSB_EIO", "I/O error" },
	[-MSB_ECANCELED] = { "MSB_ECANCELED", "canceled" },
	[-MSB_EDONE] = { "MSB_EDONE", "no more output" },
	[-MSB_EEXISTS] = { "MSB_EEXISTS", "already exists" },
	[-MSB_ETOOBIG] = { "MSB_ETOOBIG", "larger than the cap" },
};

const char *msb_strerror(int code)
{
	if (code <= 0 && code > -(int)LEN(error_codes))
		return error_codes[-code].description;
	return "unknown error code";
}

const char *msb_error_name(int code)
{
	if (code <= 0 && code > -(int)LEN(error_codes))
		return error_codes[-code].name;
	return "MSB_ERROR";
}
