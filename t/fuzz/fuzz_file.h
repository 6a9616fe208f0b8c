/* fuzz_file.h: hand a fuzz input to a loader that wants a path (a memfd). */
#ifndef MANDOS_FUZZ_FILE_H
#define MANDOS_FUZZ_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* The input as the file behind the returned path (static, reused). */
static const char *
fuzz_file(const uint8_t *data, size_t len)
{
	static int	 fd = -1;
	static char	 path[64];

	if (fd == -1) {
		if ((fd = memfd_create("fuzz-input", 0)) == -1)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) == -1 || pwrite(fd, data, len, 0) != (ssize_t)len)
		abort();
	return (path);
}

#endif
