/*
 * wire.c - the wire schema (common/wire.c) on its own: what one side
 * encodes the other decodes to the same record, and a hostile peer's
 * values (unknown codes, out-of-range errnos, bad limits, another
 * protocol version, frames cut short or late) are refused or tamed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "tap.h"
#include "proto.h"
#include "wire.h"

static void config_round_trip(void)
{
	char *env[] = { "A=1", "B=two words", NULL };
	struct msb_wire_volume vols[] = {
		{ "/srv/data", "/data", 1 }, { "/tmp/x", "/x", 0 },
	};
	struct msb_wire_config in = {
		.name = "box", .hostname = "web-1", .memory_bytes = 256ll << 20,
		.cpus = 1.5, .pids = 64, .disk_bytes = 1ll << 30,
		.timeout_ms = 5000, .env = env, .workdir = "/workspace",
		.rootfs = "/", .volumes = vols, .volumes_len = 2,
		.socket_path = "/run/box.sock", .ports = 4,
	}, out;
	const char *why = "";
	json_t *hello = msb_wire_hello_encode(&in);

	ok(hello != NULL, "a configuration encodes");
	is_int(msb_wire_hello_decode(hello, &out, &why), 0, "and decodes (%s)", why);
	is_str(out.name, "box", "name");
	is_str(out.hostname, "web-1", "hostname");
	is_int(out.memory_bytes, 256ll << 20, "memory");
	ok(out.cpus == 1.5, "cpus");
	is_int(out.pids, 64, "pids");
	is_int(out.disk_bytes, 1ll << 30, "disk");
	is_int(out.timeout_ms, 5000, "timeout");
	is_str(out.env[1], "B=two words", "env");
	ok(out.env[2] == NULL, "env ends with NULL");
	is_int(out.volumes_len, 2, "volumes");
	is_str(out.volumes[0].sandbox_path, "/data", "volume path");
	ok(out.volumes[0].read_only && !out.volumes[1].read_only, "read-only flags");
	is_str(out.socket_path, "/run/box.sock", "socket");
	is_int(out.ports, 4, "ports");
	msb_wire_config_release(&out);

	/* Defaults: no hostname, no socket, no ports. */
	in.hostname = NULL;
	in.socket_path = NULL;
	in.ports = 0;
	json_decref(hello);
	hello = msb_wire_hello_encode(&in);
	ok(!json_object_get(json_object_get(hello, "config"), "hostname"),
	   "no hostname: the key is left out (older agents ignore it)");
	is_int(msb_wire_hello_decode(hello, &out, &why), 0, "decodes");
	ok(!out.hostname && !out.socket_path && !out.ports,
	   "no hostname, socket or ports");
	msb_wire_config_release(&out);

	/* A hostile or mismatched peer. */
	json_object_set_new(hello, "proto", json_integer(MSB_PROTO_VERSION + 1));
	is_int(msb_wire_hello_decode(hello, &out, &why), -1, "another protocol version is refused");
	is_str(why, "the host speaks another protocol version", "and says so");
	msb_wire_config_release(&out);
	json_object_set_new(hello, "proto", json_integer(MSB_PROTO_VERSION));
	json_object_set_new(json_object_get(hello, "config"), "memory", json_integer(0));
	is_int(msb_wire_hello_decode(hello, &out, &why), -1, "a zero limit is refused");
	is_str(why, "configuration has missing or invalid limits", "and says so");
	msb_wire_config_release(&out);
	json_object_set_new(json_object_get(hello, "config"), "memory", json_integer(1 << 20));
	json_object_set_new(json_object_get(hello, "config"), "hostname",
			    json_string("a-name-that-is-far-too-long-for-a-hostname-because-it-has-64-chars"));
	is_int(msb_wire_hello_decode(hello, &out, &why), -1, "a hostname over 63 chars is refused");
	msb_wire_config_release(&out);
	json_object_set_new(json_object_get(hello, "config"), "hostname", json_string("ok"));
	json_object_set_new(json_object_get(hello, "config"), "ports", json_integer(1000));
	is_int(msb_wire_hello_decode(hello, &out, &why), 0, "absurd ports decode");
	is_int(out.ports, 0, "but are dropped");
	msb_wire_config_release(&out);
	json_object_set_new(json_object_get(hello, "config"), "env", json_string("A=1"));
	is_int(msb_wire_hello_decode(hello, &out, &why), -1, "env that is not an array is refused");
	is_str(why, "malformed configuration", "and says so");
	msb_wire_config_release(&out);
	json_decref(hello);
}

/* Byte strings: text stays a JSON string, anything else travels as
 * {"b64"}, and both come back byte for byte; a hostile peer's malformed
 * ones are refused. */
static void byte_strings(void)
{
	static const struct { const char *s; size_t n; int text; } cases[] = {
		{ "plain", 5, 1 },
		{ "", 0, 1 },
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14, 1 },
		{ "\xff\xfe ok", 5, 0 },          /* never in UTF-8 */
		{ "a\xc3", 2, 0 },                /* cut short */
		{ "\xc0\xaf", 2, 0 },             /* overlong '/' */
		{ "\xed\xa0\x80", 3, 0 },         /* a surrogate */
		{ "\xf4\x90\x80\x80", 4, 0 },     /* above U+10FFFF */
		{ "a\0b", 3, 0 },                 /* NUL */
		{ "\x01\x02", 2, 1 },             /* control bytes are UTF-8 */
		{ "\x80", 1, 0 }, { "\x80\x81", 2, 0 }, { "\x80\x81\x82", 3, 0 },
	};
	char *out;
	size_t len;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *j = msb_wire_bytes_encode(cases[i].s, cases[i].n);

		ok(j && (cases[i].text ? json_is_string(j) :
			 json_is_string(json_object_get(j, "b64"))),
		   "case %zu travels as %s", i, cases[i].text ? "a string" : "b64");
		ok(msb_wire_bytes_decode(j, &out, &len) == 0 && len == cases[i].n &&
		   !memcmp(out, cases[i].s, len) && out[len] == '\0',
		   "case %zu comes back byte for byte", i);
		free(out);
		json_decref(j);
	}

	json_t *j = msb_wire_str_encode("\xff");
	char *dump = json_dumps(j, JSON_COMPACT);
	is_str(dump, "{\"b64\":\"/w==\"}", "the form on the wire");
	free(dump);
	json_decref(j);

	static const char *const bad[] = {
		"{\"b64\":\"/w=\"}", "{\"b64\":\"/w\"}", "{\"b64\":\"/x==\"}",
		"{\"b64\":\"/w==/w==\"}", "{\"b64\":\"a*==\"}", "{\"b64\":7}",
		"{\"b64\":\"/w==\",\"x\":1}", "{}", "[\"a\"]", "12", "null",
		"{\"b64\":\"=AAA\"}", "{\"b64\":\"AA=A\"}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = json_loads(bad[i], JSON_DECODE_ANY, NULL);
		is_int(msb_wire_bytes_decode(j, &out, &len), -1, "%s is refused", bad[i]);
		ok(out == NULL, "and leaves nothing to free");
		json_decref(j);
	}
	is_int(msb_wire_bytes_decode(NULL, &out, &len), -1, "a missing one is refused");

	j = msb_wire_bytes_encode("a\0b", 3);
	is_int(msb_wire_str_decode(j, &out), -1, "a C string with a NUL inside is refused");
	json_decref(j);
	j = json_stringn("a\0b", 3);
	is_int(msb_wire_str_decode(j, &out), -1, "also as \\u0000 in a JSON string");
	json_decref(j);

	/* The configuration's byte strings. */
	char *env[] = { "K\xe9Y=\xff\xfe", NULL };
	struct msb_wire_volume vols[] = { { "/srv/\xff", "/mnt/\xfe", 1 } };
	struct msb_wire_config in = {
		.name = "box", .memory_bytes = 1 << 20, .cpus = 1, .pids = 8,
		.disk_bytes = 1 << 20, .env = env, .workdir = "/w\xff",
		.rootfs = "/r\xfe", .volumes = vols, .volumes_len = 1,
		.socket_path = "/home/\xe9/s",
	}, cfg;
	const char *why = "";
	json_t *hello = msb_wire_hello_encode(&in);

	ok(hello != NULL, "a configuration with bytes that are not UTF-8 encodes");
	is_int(msb_wire_hello_decode(hello, &cfg, &why), 0, "and decodes (%s)", why);
	if (cfg.env && cfg.volumes_len == 1) {
		is_str(cfg.env[0], env[0], "env, exactly");
		is_str(cfg.workdir, in.workdir, "workdir, exactly");
		is_str(cfg.rootfs, in.rootfs, "rootfs, exactly");
		is_str(cfg.volumes[0].host_path, vols[0].host_path, "volume host path");
		is_str(cfg.volumes[0].sandbox_path, vols[0].sandbox_path, "volume path");
		is_str(cfg.socket_path, in.socket_path, "socket path");
	} else {
		skip(6, "no configuration");
	}
	msb_wire_config_release(&cfg);
	json_object_set_new(json_object_get(hello, "config"), "workdir",
			    json_pack("{s:s}", "b64", "!!"));
	is_int(msb_wire_hello_decode(hello, &cfg, &why), -1, "a malformed one is refused");
	ok(strstr(why, "byte string") != NULL, "and says so (%s)", why);
	msb_wire_config_release(&cfg);
	json_decref(hello);

	/* Messages are text: bytes that are not UTF-8 are shown, not lost. */
	struct msb_wire_error e, got;
	json_t *reply;

	msb_wire_fail(&e, MSB_WIRE_ENOTFOUND, 0, "h\xff", "cannot read \"/tmp/\xff\xc3\"");
	reply = msb_wire_failed_reply(&e);
	ok(reply != NULL, "an error naming a path that is not UTF-8 encodes");
	msb_wire_error_decode(json_object_get(reply, "error"), &got);
	is_str(got.message, "cannot read \"/tmp/\\xff\\xc3\"", "its message shows the bytes");
	is_str(got.hint, "h\\xff", "and so does its hint");
	json_decref(reply);
}

static void ready_round_trip(void)
{
	struct msb_wire_ready in = {
		.agent = "9.9.9", .cgroup = 2, .detached = 1, .pid = 4242,
		.enforcement = { MSB_WIRE_ENFORCE_CGROUP, MSB_WIRE_ENFORCE_NONE,
				 MSB_WIRE_ENFORCE_RLIMIT, MSB_WIRE_ENFORCE_KERNEL,
				 MSB_WIRE_ENFORCE_KERNEL },
	}, out;
	struct msb_wire_error e, got;
	const char *why = "";
	json_t *msg = msb_wire_ready_encode(&in);

	is_int(msb_wire_ready_decode(msg, &out, &got, &why), 0, "a ready answer decodes");
	is_str(out.agent, "9.9.9", "agent version");
	ok(out.cgroup == 2 && out.detached && out.pid == 4242, "cgroup, detached, pid");
	ok(!memcmp(out.enforcement, in.enforcement, sizeof(in.enforcement)), "enforcement");
	is_str(json_string_value(json_object_get(json_object_get(msg, "enforcement"), "memory")),
	       "cgroup", "enforcement travels by name");
	json_object_set_new(msg, "proto", json_integer(0));
	is_int(msb_wire_ready_decode(msg, &out, &got, &why), -1, "another protocol version is refused");
	json_decref(msg);

	msb_wire_fail(&e, MSB_WIRE_EPERM, EACCES, "ask", "cannot %s", "mount");
	is_str(e.message, "cannot mount: Permission denied", "errno appends strerror");
	msg = msb_wire_refusal_encode(&e);
	is_int(msb_wire_ready_decode(msg, &out, &got, &why), 1, "a refusal decodes as one");
	is_int(got.code, MSB_WIRE_EPERM, "with its code");
	is_str(got.message, e.message, "message");
	is_str(got.hint, "ask", "hint");
	is_int(got.os_errno, EACCES, "errno");
	json_decref(msg);
}

static void error_taming(void)
{
	struct msb_wire_error e;
	json_t *o = json_pack("{s:i,s:i}", "code", 7, "errno", 99999);

	msb_wire_error_decode(o, &e);
	is_int(e.code, MSB_WIRE_ERROR, "a positive code becomes MSB_WIRE_ERROR");
	is_int(e.os_errno, 0, "an errno out of range becomes 0");
	is_str(e.message, "the sandbox reported an error", "a missing message gets words");
	json_object_set_new(o, "code", json_integer(MSB_WIRE_CODE_LAST - 1));
	msb_wire_error_decode(o, &e);
	is_int(e.code, MSB_WIRE_ERROR, "a code past the last one becomes MSB_WIRE_ERROR");
	json_decref(o);
	msb_wire_error_decode(NULL, &e);
	is_int(e.code, MSB_WIRE_ERROR, "no error object at all is MSB_WIRE_ERROR");
}

static void names(void)
{
	for (int i = MSB_WIRE_ENFORCE_NONE; i <= MSB_WIRE_ENFORCE_KERNEL; i++)
		is_int(msb_wire_enforcement_parse(msb_wire_enforcement_name(i)), i,
		       "enforcement %s round-trips", msb_wire_enforcement_name(i));
	is_str(msb_wire_enforcement_name(77), "none", "an unknown enforcement is none");
	is_int(msb_wire_enforcement_parse("bogus"), MSB_WIRE_ENFORCE_NONE, "an unknown name is none");
	for (int i = MSB_WIRE_FILE_REGULAR; i <= MSB_WIRE_FILE_OTHER; i++)
		is_int(msb_wire_file_type_parse(msb_wire_file_type_name(i)), i,
		       "file type %s round-trips", msb_wire_file_type_name(i));
	is_int(msb_wire_file_type_parse(NULL), 0, "no file type name is 0");
	ok(msb_wire_limit_name(MSB_WIRE_LIMITS) == NULL, "no limit past the last");
}

static void frame_read(void)
{
	struct msb_decoder d;
	struct msb_frame f;
	const char *why = "preset";
	uint8_t hdr[MSB_FRAME_HEADER];
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		bail_out("socketpair: %s", strerror(errno));
	msb_decoder_init(&d);
	/* Half a header, then nothing: the deadline ends the wait. */
	msb_frame_header(hdr, MSB_FRAME_HELLO, 0, 2);
	if (write(sv[1], hdr, 6) != 6)
		bail_out("write");
	is_int(msb_frame_read(sv[0], &d, &f, msb_clock_ns() + 50000000ull, &why), 0,
	       "a frame cut short waits for the deadline, then gives up");
	if (write(sv[1], hdr + 6, sizeof(hdr) - 6) != (ssize_t)sizeof(hdr) - 6 ||
	    write(sv[1], "{}", 2) != 2)
		bail_out("write");
	is_int(msb_frame_read(sv[0], &d, &f, msb_clock_ns() + 1000000000ull, &why), 1,
	       "the rest arrives: one frame");
	ok(f.type == MSB_FRAME_HELLO && f.len == 2 && !memcmp(f.data, "{}", 2), "the right frame");
	close(sv[1]);
	why = "preset";
	is_int(msb_frame_read(sv[0], &d, &f, 0, &why), -1, "end of stream is -1");
	is_str(why, "preset", "and leaves the caller's words");
	msb_decoder_release(&d);
	close(sv[0]);

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		bail_out("socketpair: %s", strerror(errno));
	msb_decoder_init(&d);
	memset(hdr, 0xff, sizeof(hdr));
	if (write(sv[1], hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr))
		bail_out("write");
	is_int(msb_frame_read(sv[0], &d, &f, 0, &why), -1, "garbage is -1");
	ok(strcmp(why, "preset") != 0, "with the decoder's reason (%s)", why);
	msb_decoder_release(&d);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	config_round_trip();
	byte_strings();
	ready_round_trip();
	error_taming();
	names();
	frame_read();
	return done_testing();
}
