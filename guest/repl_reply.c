/*
 * repl_reply.c - a run's result as one REPLY frame: the driver's value,
 * error and rich outputs, cut (at character boundaries) and dropped in
 * rounds until the reply fits in a frame.
 */
#include <stdlib.h>
#include <string.h>

#include "wire.h"
#include "base.h"
#include "client.h"
#include "proto.h"
#include "repl_reply.h"

#define MAX_NAME 128
#define REPLY_ROOM (MSB_FRAME_MAX - 4096)

/* A JSON string of at most max bytes of s, cut at a character boundary;
 * *cut is set when it was. */
static json_t *str_cut(const char *s, size_t max, int *cut)
{
	size_t n = s ? strlen(s) : 0;

	if (n > max) {
		*cut = 1;
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	return json_stringn(s ? s : "", n);
}

int repl_valid_name(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > MAX_NAME)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

void repl_reply(struct client *c, uint32_t id, uint64_t start_ns, int state_lost,
		const char *status, const json_t *value, const json_t *error,
		const json_t *outputs)
{
	static const size_t value_max[] = { 256 << 10, 64 << 10, 4 << 10 };
	static const size_t text_max[] = { 64 << 10, 16 << 10, 2 << 10 };
	uint64_t elapsed = start_ns ? (agent_now_ns() - start_ns) / 1000 : 0;

	for (size_t round = 0; round < 3; round++) {
		json_t *res, *err = json_null(), *outs = json_array();
		char *s;
		size_t total = 0;
		int cut = 0; /* anything cut or dropped: the reply says so */

		if (json_is_object(error)) {
			err = json_pack("{s:o,s:o,s:o}",
				"type", str_cut(json_string_value(json_object_get(error, "type")), 256, &cut),
				"message", str_cut(json_string_value(json_object_get(error, "message")), text_max[round], &cut),
				"traceback", str_cut(json_string_value(json_object_get(error, "traceback")), text_max[round], &cut));
		}
		if (json_array_size(outputs) > (round < 2 ? 16 : 0))
			cut = 1;
		for (size_t i = 0; round < 2 && i < json_array_size(outputs) && i < 16; i++) {
			const json_t *o = json_array_get(outputs, i);
			const char *mime = json_string_value(json_object_get(o, "mime"));
			const char *data = json_string_value(json_object_get(o, "data"));
			size_t dn = data ? strlen(data) : 0;

			if (!repl_valid_name(mime) || !data)
				continue;
			if (total + dn > (round == 0 ? 512u << 10 : 128u << 10)) {
				cut = 1;
				continue;
			}
			total += dn;
			json_array_append_new(outs, json_pack("{s:s,s:s}", "mime", mime, "data", data));
		}
		json_t *val = str_cut(json_string_value(value), value_max[round], &cut);
		res = json_pack("{s:b,s:s,s:o,s:o,s:o,s:b,s:I,s:b}", "ok", 1,
				"status", status,
				"value", val,
				"error", err ? err : json_null(),
				"outputs", outs ? outs : json_array(),
				"state_lost", state_lost,
				"elapsed_us", (json_int_t)elapsed,
				"truncated", cut);
		s = res ? json_dumps(res, JSON_COMPACT) : NULL;
		if (s && strlen(s) <= REPLY_ROOM) {
			free(s);
			client_reply(c, id, res);
			return;
		}
		free(s);
		json_decref(res);
	}
	client_error(c, id, MSB_WIRE_ERROR, 0, "", "the result does not fit in a reply");
}

