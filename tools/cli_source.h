/* cli_source.h - video sources for `rfseg video`: files read frame by frame, or live
 * sources read by a thread of their own that keeps only the newest frame.
 *
 * A live source (cameras and network streams by default, any source with --live) is
 * decoded continuously; the consumer always gets the newest decoded frame, and frames
 * that were replaced before the consumer took them are counted as dropped. A file read
 * live is paced at its frame rate (as a camera would deliver it). Frame ids are the
 * source's own frame indices, so dropped frames show as gaps. What a stream buffered while
 * it was being opened is skipped (dropped): the first frame taken is a live one. A
 * non-live source is read
 * when the consumer asks: every frame, in order.
 */
#ifndef RFS_CLI_SOURCE_H
#define RFS_CLI_SOURCE_H

#include "rfseg.h"

#include <pthread.h>
#include <stdint.h>

typedef struct cli_sources cli_sources;

typedef struct cli_source {
    int id;              /* index among the run's sources (JSON source_id) */
    const char *spec;    /* as given */
    char shown[2048];    /* as printed and written to JSON (no credentials) */
    char base[256];      /* a file-name base for outputs named after the source */
    int live, paced;
    rfs_video *v;
    cli_sources *group;
    /* consumer side */
    int ended;
    long taken, errors;
    double next_due_ms;  /* --max-fps: not before this */
    /* live: shared with the reader thread under group->mu */
    pthread_t thread;
    int thread_started, reader_done;
    _Atomic int stop;    /* read by the reader thread and FFmpeg's interrupt callback */
    rfs_frame slot, spare;
    int64_t slot_id;
    int slot_full;
    int caught_up;       /* the reader has gone past what was buffered when it started */
    long dropped, reader_errors;
    double t0_ms;        /* paced: when frame 0 was due */
} cli_source;

struct cli_sources {
    cli_source *v;
    int n;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a live source has a new frame or ended; or stop */
};

/* Describes the sources (nothing opened): live is 1 (--live), 0 (--no-live) or -1 (by kind:
 * cameras and network streams). */
int cli_sources_init(cli_sources *g, const char *const *specs, int n, int live);
/* Opens every source (blocking, interruptible by SIGINT/SIGTERM); prints and returns 0 on
 * the first failure. */
int cli_sources_open(cli_sources *g, const rfs_video_opts *o);
/* Starts the reader threads of live sources. */
int cli_sources_start(cli_sources *g);

enum { CLI_TAKE_NONE = 0, CLI_TAKE_FRAME = 1, CLI_TAKE_ERROR = 2, CLI_TAKE_END = 3 };
/* The next frame of s into f (its buffer swapped or reused): CLI_TAKE_FRAME with *id,
 * CLI_TAKE_ERROR (a frame that failed to decode, printed), CLI_TAKE_END, or for live
 * sources CLI_TAKE_NONE when no new frame has arrived (block: wait up to wait_ms for one). */
int cli_source_take(cli_source *s, rfs_frame *f, int64_t *id, int wait_ms);
/* Waits up to ms for any live source to have a frame or to end (or for a signal). */
void cli_sources_wait(cli_sources *g, int ms);
/* Stops reading a source (its thread ends; it reports end from now on). */
void cli_source_finish(cli_source *s);
/* Frames dropped by live sources so far. */
long cli_sources_dropped(cli_sources *g);
/* Stops the threads, closes every source. */
void cli_sources_free(cli_sources *g);

#endif
