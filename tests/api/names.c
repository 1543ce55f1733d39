/*
 * names.c - the small names of the ABI and their parsers: every backend
 * and trust level round-trips through its name, every error code has a
 * distinct stable name, and bad names are MSB_EINVAL with a message naming
 * the value and a hint listing the accepted ones, leaving *out alone.
 * Needs no sandbox.
 */
#include "tap.h"
#include "msbt.h"

/* The last call failed with MSB_EINVAL, explained and hinted. */
static void check_einval(int rc, const char *what, const char *in_message)
{
	const msb_error *e = msb_error_last();

	is_int(rc, MSB_EINVAL, "%s is MSB_EINVAL", what);
	ok(e->code == MSB_EINVAL && e->message[0] && e->hint[0],
	   "%s: msb_error_last() has the code, a message and a hint (\"%s\" / "
	   "\"%s\")", what, e->message, e->hint);
	if (in_message)
		ok(strstr(e->message, in_message) != NULL,
		   "%s: the message names the bad value", what);
}

static void backends(void)
{
	static const msb_backend all[] = {
		MSB_BACKEND_AUTO, MSB_BACKEND_OS, MSB_BACKEND_VM
	};
	static const char *const accepted[] = { "auto", "os", "vm" };
	msb_backend b;
	int rc;

	for (size_t i = 0; i < sizeof(all) / sizeof(*all); i++) {
		const char *name = msb_backend_name(all[i]);

		is_str(name, accepted[i], "backend %d is named \"%s\"",
		       (int)all[i], accepted[i]);
		b = (msb_backend)42;
		rc = msb_backend_parse(name, &b);
		ok(rc == 0 && b == all[i] && msb_error_last()->code == MSB_OK,
		   "msb_backend_parse(\"%s\") gives it back", name);
	}
	b = (msb_backend)42;
	rc = msb_backend_parse("kvm", &b);
	check_einval(rc, "msb_backend_parse(\"kvm\")", "kvm");
	ok(strstr(msb_error_last()->hint, "\"auto\"") &&
	   strstr(msb_error_last()->hint, "\"os\"") &&
	   strstr(msb_error_last()->hint, "\"vm\""),
	   "... the hint lists auto, os and vm");
	ok(b == (msb_backend)42, "... and *out is untouched");
	rc = msb_backend_parse("OS", &b);
	check_einval(rc, "msb_backend_parse(\"OS\") (names are lowercase)", "OS");
	rc = msb_backend_parse("", &b);
	check_einval(rc, "msb_backend_parse(\"\")", NULL);
	rc = msb_backend_parse(NULL, &b);
	check_einval(rc, "msb_backend_parse(NULL)", NULL);
	ok(b == (msb_backend)42, "... and *out is untouched");
	rc = msb_backend_parse("os", NULL);
	check_einval(rc, "msb_backend_parse(\"os\", NULL)", NULL);
}

static void trust_levels(void)
{
	static const struct {
		const char *name;
		msb_trust trust;
	} all[] = {
		{ "default", MSB_TRUST_DEFAULT },
		{ "untrusted", MSB_TRUST_UNTRUSTED },
		{ "trusted", MSB_TRUST_TRUSTED },
	};
	msb_trust t;
	int rc;

	for (size_t i = 0; i < sizeof(all) / sizeof(*all); i++) {
		t = (msb_trust)42;
		rc = msb_trust_parse(all[i].name, &t);
		ok(rc == 0 && t == all[i].trust && msb_error_last()->code == MSB_OK,
		   "msb_trust_parse(\"%s\") is %d", all[i].name, (int)all[i].trust);
	}
	t = (msb_trust)42;
	rc = msb_trust_parse("semi-trusted", &t);
	check_einval(rc, "msb_trust_parse(\"semi-trusted\")", "semi-trusted");
	ok(strstr(msb_error_last()->hint, "\"default\"") &&
	   strstr(msb_error_last()->hint, "\"untrusted\"") &&
	   strstr(msb_error_last()->hint, "\"trusted\""),
	   "... the hint lists default, untrusted and trusted");
	ok(t == (msb_trust)42, "... and *out is untouched");
	rc = msb_trust_parse(NULL, &t);
	check_einval(rc, "msb_trust_parse(NULL)", NULL);
	ok(t == (msb_trust)42, "... and *out is untouched");
	rc = msb_trust_parse("trusted", NULL);
	check_einval(rc, "msb_trust_parse(\"trusted\", NULL)", NULL);
}

static void error_names(void)
{
	static const struct {
		int code;
		const char *name;
	} all[] = {
		{ MSB_OK, "MSB_OK" }, { MSB_ERROR, "MSB_ERROR" },
		{ MSB_EINVAL, "MSB_EINVAL" }, { MSB_ENOMEM, "MSB_ENOMEM" },
		{ MSB_EVERSION, "MSB_EVERSION" }, { MSB_ESTATE, "MSB_ESTATE" },
		{ MSB_EUNSUPPORTED, "MSB_EUNSUPPORTED" },
		{ MSB_ESPAWN, "MSB_ESPAWN" }, { MSB_EPROTO, "MSB_EPROTO" },
		{ MSB_ESANDBOX, "MSB_ESANDBOX" },
		{ MSB_ETIMEDOUT, "MSB_ETIMEDOUT" },
		{ MSB_ENOTFOUND, "MSB_ENOTFOUND" }, { MSB_EPERM, "MSB_EPERM" },
		{ MSB_EIO, "MSB_EIO" }, { MSB_ECANCELED, "MSB_ECANCELED" },
		{ MSB_EDONE, "MSB_EDONE" }, { MSB_EEXISTS, "MSB_EEXISTS" },
		{ MSB_ETOOBIG, "MSB_ETOOBIG" },
	};
	size_t n = sizeof(all) / sizeof(*all);
	int distinct = 1;

	for (size_t i = 0; i < n; i++)
		is_str(msb_error_name(all[i].code), all[i].name,
		       "msb_error_name(%d)", all[i].code);
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (!strcmp(msb_error_name(all[i].code),
				    msb_error_name(all[j].code)))
				distinct = 0;
	ok(distinct, "every code has a name of its own");
	is_str(msb_error_name(MSB_ETOOBIG - 1), "MSB_ERROR",
	       "a code past the last known one is \"MSB_ERROR\"");
	is_str(msb_error_name(1), "MSB_ERROR", "a positive code is \"MSB_ERROR\"");
	is_str(msb_error_name(-2147483647 - 1), "MSB_ERROR",
	       "INT_MIN is \"MSB_ERROR\"");
	is_str(msb_strerror(MSB_EINVAL), "invalid argument",
	       "msb_strerror still describes the code");
	is_str(msb_strerror(-2147483647 - 1), "unknown error code",
	       "msb_strerror of INT_MIN is \"unknown error code\"");
}

int main(void)
{
	backends();
	trust_levels();
	error_names();
	return done_testing();
}
