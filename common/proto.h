/*
 * proto.h - the framed protocol between libmsb and msb-agent.
 *
 * A frame is a 12-byte header followed by `len` payload bytes:
 *
 *   u32 len    payload length, little-endian, at most MSB_FRAME_MAX
 *   u8  type   an msb_frame_type
 *   u8  flags  0 (reserved)
 *   u16 rsvd   0 (reserved)
 *   u32 id     request id (0 for connection-level frames)
 *
 * Control frames (HELLO, CALL, REPLY, EVENT) carry one JSON object; data
 * frames (STDIN, STDOUT, STDERR) carry raw bytes. See docs/PROTOCOL.md.
 *
 * Both ends treat the peer's bytes as hostile: the decoder rejects unknown
 * types, non-zero reserved fields and oversized frames, and never reads
 * past what it was given.
 */
#ifndef MSB_PROTO_H
#define MSB_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#define MSB_PROTO_VERSION 1
#define MSB_FRAME_HEADER 12
#define MSB_FRAME_MAX (1u << 20)   /* payload bytes per frame */
#define MSB_DATA_CHUNK (64u << 10) /* data frames are split at this size */

enum msb_frame_type {
	MSB_FRAME_HELLO = 1,  /* handshake, JSON, both ways */
	MSB_FRAME_CALL = 2,   /* request, JSON, host -> agent */
	MSB_FRAME_REPLY = 3,  /* final answer to a request, JSON */
	MSB_FRAME_EVENT = 4,  /* intermediate notice for a request, JSON */
	MSB_FRAME_STDIN = 5,  /* raw bytes for a request's stdin; len 0 = EOF */
	MSB_FRAME_STDOUT = 6, /* raw bytes from a request's stdout */
	MSB_FRAME_STDERR = 7, /* raw bytes from a request's stderr */
	MSB_FRAME_CANCEL = 8, /* kill a running request, JSON {"signal":N} */
	MSB_FRAME_TYPE_MAX = 8
};

struct msb_frame {
	uint8_t type;
	uint32_t id;
	uint32_t len;
	const uint8_t *data; /* points into the decoder's buffer */
};

/* An incremental decoder over a growing byte buffer. */
struct msb_decoder {
	uint8_t *buf;
	size_t len;  /* bytes held */
	size_t off;  /* bytes consumed */
	size_t cap;
	int failed;  /* sticky: once malformed, always malformed */
};

void msb_decoder_init(struct msb_decoder *d);
void msb_decoder_release(struct msb_decoder *d);

/* Room to read into: returns a pointer to at least `want` free bytes, or
 * NULL on allocation failure. Call msb_decoder_commit() with what was read. */
uint8_t *msb_decoder_space(struct msb_decoder *d, size_t want);
void msb_decoder_commit(struct msb_decoder *d, size_t n);

/* Append bytes (copying). Returns 0 or -1 on allocation failure. */
int msb_decoder_feed(struct msb_decoder *d, const void *data, size_t n);

/*
 * Take the next complete frame. Returns 1 and fills *f (valid until the next
 * call that changes the decoder), 0 when more bytes are needed, -1 when the
 * stream is malformed (a description goes to *why).
 */
int msb_decoder_next(struct msb_decoder *d, struct msb_frame *f,
		     const char **why);

/* Encode a header into out[MSB_FRAME_HEADER]. */
void msb_frame_header(uint8_t *out, uint8_t type, uint32_t id, uint32_t len);

/*
 * Write one frame to a blocking fd, retrying short writes and EINTR.
 * Returns 0 or -errno. len must be <= MSB_FRAME_MAX.
 */
int msb_frame_write(int fd, uint8_t type, uint32_t id, const void *data,
		    size_t len);

/* The same on a non-blocking fd: when it is full, wait(arg) is called
 * (it returns 0 to retry, or -errno to give up). */
int msb_frame_write_wait(int fd, uint8_t type, uint32_t id, const void *data,
			 size_t len, int (*wait)(void *arg), void *arg);

/* Encode a JSON object and write it as one frame. Returns 0 or -errno
 * (-EMSGSIZE when the JSON is too large). */
int msb_frame_write_json(int fd, uint8_t type, uint32_t id,
			 const json_t *obj);

/* Parse a control frame's payload as a JSON object; NULL when it is not
 * one (a description goes to *why). */
json_t *msb_frame_json(const struct msb_frame *f, const char **why);

/* CLOCK_MONOTONIC in nanoseconds: the clock of every deadline here. */
uint64_t msb_clock_ns(void);

/*
 * Read from fd (blocking or not) until d holds one whole frame, waiting
 * at most until deadline_ns (msb_clock_ns(); 0: no deadline). Returns 1
 * with *f (valid as for msb_decoder_next()), 0 when the deadline passed,
 * or -1: at the end of the stream (or a reset: the peer hung up) with
 * *why untouched (callers preset their own words for it), on a malformed
 * stream, a read error or no memory with *why saying which (errno is kept
 * for the last two).
 */
int msb_frame_read(int fd, struct msb_decoder *d, struct msb_frame *f,
		   uint64_t deadline_ns, const char **why);

#endif
