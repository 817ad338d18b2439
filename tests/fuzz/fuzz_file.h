/* fuzz_file.h - hands a fuzz input to readers that take a path: the bytes are written to
 * an in-memory file (memfd) once per input and its /proc/self/fd path is returned, so
 * the path APIs (stat checks, stdio, libzip and FFmpeg opening by name) run as they do on
 * disk without touching the file system. */
#ifndef RFS_FUZZ_FILE_H
#define RFS_FUZZ_FILE_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static const char *fuzz_file(const uint8_t *data, size_t size) {
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("rfs-fuzz", MFD_CLOEXEC);
        if (fd < 0) abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0) abort();
    size_t done = 0;
    while (done < size) {
        ssize_t k = pwrite(fd, data + done, size - done, (off_t)done);
        if (k <= 0) abort();
        done += (size_t)k;
    }
    return path;
}

#endif
