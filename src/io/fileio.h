/* fileio.h - opening inputs and outputs safely.
 *
 * Inputs: a path given as a model, image or video file must name a regular file. FIFOs,
 * devices, sockets and directories are refused before anything reads them, so a FIFO
 * never blocks the caller and /dev/zero is never read forever. rfs_file_open_read opens
 * with O_NONBLOCK (an open of a FIFO without a writer would otherwise block) and checks
 * the opened descriptor, so the check and the open see the same file.
 *
 * Outputs: rfs_outfile writes to a new temporary file in the destination's directory
 * (created with O_EXCL, so it never touches an existing file), and renames it over the
 * destination only when every write, the flush and the close succeeded. On failure only
 * the temporary file is removed: what existed at the destination before the run is never
 * truncated or deleted, and nothing is left behind. An existing destination that is not a
 * regular file (a directory, FIFO, device such as /dev/full, socket) is refused before
 * anything is created. Whether an existing regular file may be replaced is the caller's
 * decision (the CLI's --overwrite); the library replaces it on success. The directory
 * must be writable (a writable file in a read-only directory cannot be replaced this way).
 *
 *     rfs_outfile o;
 *     if (rfs_outfile_open(&o, "out.bin")) return;        (message set)
 *     if (fwrite(buf, 1, n, o.f) != n) { rfs_outfile_abort(&o); ... }
 *     if (rfs_outfile_commit(&o)) ...                      (message names the error)
 */
#ifndef RFS_IO_FILEIO_H
#define RFS_IO_FILEIO_H

#include "rfseg.h"
#include <stdio.h>
#include <sys/stat.h>

/* The kind of a non-regular file in words ("a FIFO", "a directory", ...). */
const char *rfs_file_kind(mode_t mode);

/* Opens path for reading ("rb") if it is a regular file; *sb (may be NULL) gets its
 * stat. Errors (RFS_ERR_IO) name the path. */
rfs_status rfs_file_open_read(FILE **out, const char *path, struct stat *sb);

/* RFS_OK when path names an existing regular file (symbolic links followed), for inputs
 * that a library opens by name (libzip, FFmpeg); RFS_ERR_IO naming the path otherwise. */
rfs_status rfs_file_check_regular(const char *path);

typedef struct rfs_outfile {
    FILE *f;     /* the temporary file, open for writing ("wb") */
    int failed;  /* set by callers that saw a write fail (commit then aborts) */
    char *path;  /* the destination (a symbolic link's target when it is one) */
    char *tmp;   /* the temporary file beside it */
} rfs_outfile;

/* Refuses a destination that exists and is not a regular file, then creates the
 * temporary file (mode 0666 less the umask). With with_stdio 0, o->f stays NULL and the
 * caller writes to o->tmp by name (a library that opens files itself, e.g. FFmpeg's
 * avio); the file exists and is empty. */
rfs_status rfs_outfile_open(rfs_outfile *o, const char *path, int with_stdio);
/* Flushes and closes (checking both), then renames the temporary file over the
 * destination. On any failure (or o->failed) the temporary file is removed and the
 * destination is left as it was. o is released either way. */
rfs_status rfs_outfile_commit(rfs_outfile *o);
/* Closes and removes the temporary file; the destination is untouched. Accepts an
 * rfs_outfile that was never opened (zeroed) or already released. */
void rfs_outfile_abort(rfs_outfile *o);

#endif
