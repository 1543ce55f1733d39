/*
 * fuzz_wire.c - libFuzzer target for the wire schema's decoders
 * (common/wire.c), the JSON bodies each side takes from the other: the
 * host's HELLO (the agent decodes it), the agent's answer and error
 * objects (libmsb decodes them), byte strings ({"b64"} or text) and
 * string vectors. Arbitrary bytes are parsed as JSON as the frame layer
 * does, then handed to every decoder: each must answer or refuse, never
 * crash, leak or read past what it was given; what decodes must encode
 * again and decode to the same.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msb_wire_config cfg;
	struct msb_wire_ready ready;
	struct msb_wire_error err;
	const char *why = "";
	json_error_t jerr;
	char *bytes = NULL, **strv = NULL;
	size_t len = 0, bad = 0;
	json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);

	if (!j)
		return 0;
	if (msb_wire_hello_decode(j, &cfg, &why) == 0) {
		/* a decoded configuration encodes and decodes to the same */
		struct msb_wire_config again;
		json_t *e = msb_wire_hello_encode(&cfg);

		if (!e || msb_wire_hello_decode(e, &again, &why) != 0 ||
		    again.memory_bytes != cfg.memory_bytes || again.pids != cfg.pids ||
		    again.volumes_len != cfg.volumes_len || strcmp(again.name, cfg.name))
			__builtin_trap();
		msb_wire_config_release(&again);
		json_decref(e);
	}
	msb_wire_config_release(&cfg);
	msb_wire_ready_decode(j, &ready, &err, &why);
	msb_wire_error_decode(j, &err);
	if (err.code > 0 || err.code < MSB_WIRE_CODE_LAST || err.os_errno < 0 ||
	    err.os_errno >= 4096)
		__builtin_trap();
	msb_wire_vm_ready_decode(j);
	if (msb_wire_bytes_decode(j, &bytes, &len) == 0) {
		/* bytes round-trip exactly */
		json_t *e = msb_wire_bytes_encode(bytes, len);
		char *back = NULL;
		size_t blen = 0;

		if (!e || msb_wire_bytes_decode(e, &back, &blen) != 0 || blen != len ||
		    memcmp(back, bytes, len))
			__builtin_trap();
		free(back);
		json_decref(e);
	}
	free(bytes);
	bytes = NULL;
	msb_wire_str_decode(j, &bytes);
	free(bytes);
	if (msb_wire_strv_decode(j, &strv, &bad) == 0)
		msb_wire_strv_free(strv);
	json_decref(j);
	return 0;
}
