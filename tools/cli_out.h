/* cli_out.h - outputs that are never lost or destroyed, and signals that end a run cleanly.
 *
 * Rules every command follows:
 *   - every output path is checked before any work (cli_out_check): an existing file is
 *     replaced only with --overwrite (and only if writable), a directory never;
 *     special files (devices, FIFOs) are refused, except standard output itself and
 *     /dev/null for streams;
 *   - files are written under a temporary name beside the target and renamed over it
 *     when complete (cli_tmp_*); a failed output removes only its own temporary file;
 *   - streams (JSON Lines) are written a whole line per write(2) and every write and
 *     close is checked: the first error stops the run with a message. A new stream file
 *     is written in place (a killed run keeps every finished line); one replacing an
 *     existing file goes through a temporary name like the others.
 */
#ifndef RFS_CLI_OUT_H
#define RFS_CLI_OUT_H

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

enum { CLI_OUT_FILE = 0, CLI_OUT_STREAM = 1 };

/* 1 when `path` may be written as output `what` (e.g. "--jsonl"); else prints
 * "rfseg CMD: what: path: why" and returns 0. kind CLI_OUT_STREAM accepts "-" (standard
 * output), standard output's own file and /dev/null. */
int cli_out_check(const char *cmd, const char *what, const char *path, int overwrite, int kind);

/* A file written under a temporary name and renamed over its target when committed. */
typedef struct cli_tmp {
    char path[4096]; /* the target */
    char tmp[4200];  /* the name being written */
    int overwrite;
} cli_tmp;

/* Picks the temporary name: ".rfseg-PID-N-NAME" in the target's directory (the name keeps
 * the extension, which decides the format of some writers). Nothing is created yet. */
int cli_tmp_begin(cli_tmp *t, const char *cmd, const char *path, int overwrite);
/* Renames the finished temporary file over the target (without --overwrite, only if the
 * target still does not exist). Prints why and returns 0 on failure (the temporary file is
 * then left, named in the message, so the work is not lost). */
int cli_tmp_commit(cli_tmp *t, const char *cmd);
/* Removes the temporary file (after a failed write). */
void cli_tmp_abort(cli_tmp *t);

/* A stream of JSON lines. */
typedef struct cli_stream {
    int fd;
    int is_stdout;
    int failed;       /* a write failed: further writes are dropped */
    int use_tmp;      /* replacing an existing file: written under tmp */
    int regular;      /* a file this run created: a cut line can be taken back */
    off_t good_end;   /* bytes of whole lines written */
    cli_tmp tmp;
    char name[4096];  /* for messages */
    const char *cmd;
} cli_stream;

/* Opens path ("-": standard output) for writing, following the rules above; prints why and
 * returns 0 on failure. */
int cli_stream_open(cli_stream *s, const char *cmd, const char *path, int overwrite);
/* Standard output as a stream (predict without --jsonl). */
void cli_stream_stdout(cli_stream *s, const char *cmd);
/* Writes buf[0..n) (one or more whole lines) with one write(2) where it can; the first
 * failure prints "rfseg CMD: writing NAME: error" and returns 0 (and every later call too). */
int cli_stream_write(cli_stream *s, const char *buf, size_t n);
/* Closes (standard output: flushed, left open), renaming a temporary file into place when
 * the stream did not fail. 0 on any error (printed). */
int cli_stream_close(cli_stream *s);

/* SIGINT / SIGTERM: the first one sets cli_stop (the signal number) and the command winds
 * down; a second one ends the process with the default action. SIGPIPE is ignored: a
 * closed pipe is a write error (EPIPE) that stops the run cleanly. */
extern volatile sig_atomic_t cli_stop;
void cli_signals_install(void);
/* 128 + the signal that stopped the run, or rc when none did. */
int cli_exit_code(int rc);

/* The file name part of a path or URL, cleaned for use as a file name (letters, digits,
 * '.', '-', '_'; anything else '_'), without credentials or query; never empty. */
void cli_display_base(char *out, size_t cap, const char *src);
/* The source as shown in JSON and messages: URLs without user:password@. */
void cli_display_source(char *out, size_t cap, const char *src);

#endif
