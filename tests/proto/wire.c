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
	ready_round_trip();
	error_taming();
	names();
	frame_read();
	return done_testing();
}
