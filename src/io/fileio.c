/* fileio.c - regular-file checks for inputs, temporary file + rename for outputs
 * (see fileio.h for the rules). */
#include "io/fileio.h"
#include "util/err.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *rfs_file_kind(mode_t m) {
    if (S_ISREG(m)) return "a regular file";
    if (S_ISDIR(m)) return "a directory";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISSOCK(m)) return "a socket";
    return "not a regular file";
}

static rfs_status not_regular(const char *path, mode_t m) {
    return RFS_FAIL(RFS_ERR_IO, "%s: %s, not a regular file", path, rfs_file_kind(m));
}

rfs_status rfs_file_open_read(FILE **out, const char *path, struct stat *sbp) {
    *out = NULL;
    if (!path || !*path) return RFS_FAIL(RFS_ERR_ARG, "empty file name");
    /* O_NONBLOCK: opening a FIFO that has no writer returns at once instead of waiting;
     * the descriptor is checked before anything is read from it. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return RFS_FAIL(RFS_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return RFS_FAIL(RFS_ERR_IO, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return not_regular(path, sb.st_mode);
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        int e = errno;
        close(fd);
        return RFS_FAIL(RFS_ERR_IO, "%s: %s", path, strerror(e));
    }
    if (sbp) *sbp = sb;
    *out = f;
    return RFS_OK;
}

rfs_status rfs_file_check_regular(const char *path) {
    if (!path || !*path) return RFS_FAIL(RFS_ERR_ARG, "empty file name");
    struct stat sb;
    if (stat(path, &sb) != 0) return RFS_FAIL(RFS_ERR_IO, "%s: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) return not_regular(path, sb.st_mode);
    return RFS_OK;
}

/* ---- outputs ------------------------------------------------------------------------------ */

static void outfile_release(rfs_outfile *o) {
    free(o->path);
    free(o->tmp);
    o->path = o->tmp = NULL;
    o->f = NULL;
    o->failed = 0;
}

rfs_status rfs_outfile_open(rfs_outfile *o, const char *path, int with_stdio) {
    memset(o, 0, sizeof *o);
    if (!path || !*path) return RFS_FAIL(RFS_ERR_ARG, "empty output file name");
    struct stat sb;
    char *dest;
    if (lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode)) {
        /* writing "through" a link: the new file replaces the link's target */
        dest = realpath(path, NULL);
        if (!dest)
            return RFS_FAIL(RFS_ERR_IO, "%s: symbolic link to a missing or unreachable file (%s)", path,
                            strerror(errno));
    } else {
        dest = strdup(path);
        if (!dest) return RFS_ERR_NOMEM;
    }
    if (stat(dest, &sb) == 0 && !S_ISREG(sb.st_mode)) {
        rfs_status st = RFS_FAIL(RFS_ERR_IO, "%s: %s, not a regular file; refusing to write to it", path,
                                 rfs_file_kind(sb.st_mode));
        free(dest);
        return st;
    }
    if (dest[strlen(dest) - 1] == '/') {
        free(dest);
        return RFS_FAIL(RFS_ERR_IO, "%s: names a directory, not a file", path);
    }
    /* "<dir>/.<base>.<pid>-<n>-<random>.tmp", the base cut so the name stays short */
    const char *slash = strrchr(dest, '/');
    size_t dirlen = slash ? (size_t)(slash - dest) + 1 : 0;
    const char *base = dest + dirlen;
    size_t baselen = strlen(base);
    if (baselen > 160) baselen = 160;
    size_t cap = dirlen + baselen + 64;
    char *tmp = malloc(cap);
    if (!tmp) {
        free(dest);
        return RFS_ERR_NOMEM;
    }
    static atomic_uint counter;
    int fd = -1, err = 0;
    for (int attempt = 0; attempt < 64 && fd < 0; attempt++) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        unsigned n = atomic_fetch_add(&counter, 1);
        uint32_t r = (uint32_t)ts.tv_nsec * 2654435761u ^ (uint32_t)(uintptr_t)o ^ n * 40503u;
        snprintf(tmp, cap, "%.*s.%.*s.%ld-%u-%08x.tmp", (int)dirlen, dest, (int)baselen, base,
                 (long)getpid(), n, r);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0666);
        err = errno;
        if (fd < 0 && err != EEXIST) break;
    }
    if (fd < 0) {
        rfs_status st = RFS_FAIL(RFS_ERR_IO, "%s: cannot create a file in its directory: %s", path, strerror(err));
        free(tmp);
        free(dest);
        return st;
    }
    o->path = dest;
    o->tmp = tmp;
    if (with_stdio) {
        o->f = fdopen(fd, "wb");
        if (!o->f) {
            err = errno;
            close(fd);
            unlink(tmp);
            outfile_release(o);
            return RFS_FAIL(RFS_ERR_IO, "%s: %s", path, strerror(err));
        }
    } else {
        close(fd);
    }
    return RFS_OK;
}

rfs_status rfs_outfile_commit(rfs_outfile *o) {
    if (!o->tmp) return RFS_FAIL(RFS_ERR_ARG, "output file not open");
    rfs_status st = RFS_OK;
    if (o->failed) {
        if (o->f) fclose(o->f);
        o->f = NULL;
        st = RFS_FAIL(RFS_ERR_IO, "%s: not written (an earlier write failed)", o->path);
    }
    if (o->f) {
        /* fflush reports a failed write of buffered data; ferror one seen earlier; fclose
         * the last flush and the close itself (NFS reports errors there) */
        int e = 0;
        errno = 0;
        if (fflush(o->f) != 0) e = errno ? errno : EIO;
        if (!e && ferror(o->f)) e = EIO;
        errno = 0;
        if (fclose(o->f) != 0 && !e) e = errno ? errno : EIO;
        o->f = NULL;
        if (e) st = RFS_FAIL(RFS_ERR_IO, "%s: write failed: %s", o->path, strerror(e));
    }
    if (!st && rename(o->tmp, o->path) != 0)
        st = RFS_FAIL(RFS_ERR_IO, "%s: cannot move the finished file into place: %s", o->path, strerror(errno));
    if (st) unlink(o->tmp);
    outfile_release(o);
    return st;
}

void rfs_outfile_abort(rfs_outfile *o) {
    if (!o || !o->tmp) return;
    if (o->f) fclose(o->f);
    unlink(o->tmp);
    outfile_release(o);
}
