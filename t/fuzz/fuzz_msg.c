/*
 * fuzz_msg.c: libFuzzer harness for the authority's side of the worker
 * channel: bytes a compromised worker could send, decoded frame by frame
 * as src/authority/proc.c does. msg_decode must never read past the
 * buffer, and a frame it accepts must re-encode to the same bytes.
 *
 * Standalone build (from the source tree, after ./configure):
 *   clang -fsanitize=fuzzer,address,undefined -I. -Ibuild -Ilib -Isrc \
 *       t/fuzz/fuzz_msg.c src/msg.c -o fuzz_msg
 *   ./fuzz_msg -max_total_time=60 NEWDIR t/fuzz/corpus/msg/  (NEWDIR first: libFuzzer adds to it)
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t	 out[MSG_FRAME_MAX];
	struct msg	 m;
	const char	*why;
	ssize_t		 r;
	size_t		 off = 0, n;

	/* The first byte picks the direction; the rest is the stream. */
	if (size < 1)
		return (0);
	int from_worker = !(data[0] & 1);
	data++;
	size--;
	while (off < size && (r = msg_decode(data + off, size - off,
	    from_worker, &m, &why)) > 0) {
		n = msg_encode(&m, out);
		/* DONE's reason is normalised (NUL-terminated); others are exact. */
		if (n != (size_t)r || memcmp(out, data + off, n) != 0)
			abort();
		off += (size_t)r;
	}
	return (0);
}
