/*
 * fuzz_frame.c - libFuzzer target for the frame decoder and the control
 * message parser: arbitrary bytes, fed in arbitrary pieces, must give
 * frames or a clean "malformed", never a crash, a hang or an over-read.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msb_decoder d;
	struct msb_frame f;
	const char *why;
	size_t off = 0;
	/* The first byte picks the piece size, so splits get explored. */
	size_t step = size ? (size_t)data[0] % 64 + 1 : 1;

	msb_decoder_init(&d);
	while (off < size) {
		size_t n = size - off < step ? size - off : step;
		int rc;

		if (msb_decoder_feed(&d, data + off, n))
			break;
		off += n;
		while ((rc = msb_decoder_next(&d, &f, &why)) == 1) {
			if (f.len > MSB_FRAME_MAX)
				__builtin_trap();
			if (f.type == MSB_FRAME_CALL || f.type == MSB_FRAME_HELLO ||
			    f.type == MSB_FRAME_REPLY || f.type == MSB_FRAME_EVENT) {
				json_t *j = msb_frame_json(&f, &why);

				json_decref(j);
			} else if (f.len) {
				volatile uint8_t sink = f.data[f.len - 1];
				(void)sink;
			}
		}
		if (rc < 0)
			break;
	}
	msb_decoder_release(&d);
	return 0;
}
