/* cli_source.c - video sources, live and not (cli_source.h). */
#include "cli_source.h"

#include "cli.h"
#include "cli_out.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int cli_sources_init(cli_sources *g, const char *const *specs, int n, int live) {
    memset(g, 0, sizeof *g);
    g->v = calloc((size_t)n, sizeof *g->v);
    if (!g->v) return 0;
    g->n = n;
    pthread_mutex_init(&g->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g->cv, &ca);
    pthread_condattr_destroy(&ca);
    for (int i = 0; i < n; i++) {
        cli_source *s = &g->v[i];
        s->id = i;
        s->spec = specs[i];
        s->group = g;
        cli_display_source(s->shown, sizeof s->shown, specs[i]);
        rfs_video_source_kind k = rfs_video_source_kind_of(specs[i]);
        if (k == RFS_VIDEO_STDIN) snprintf(s->base, sizeof s->base, "stdin");
        else if (k == RFS_VIDEO_PIPE || k == RFS_VIDEO_CAMERA) {
            cli_display_base(s->base, sizeof s->base, specs[i]);
            if (k == RFS_VIDEO_CAMERA && strncmp(specs[i], "/dev/", 5))
                snprintf(s->base, sizeof s->base, "video%s", specs[i]);
            for (char *c = s->base; *c; c++)
                if (*c == ':') *c = '_';
        } else cli_display_base(s->base, sizeof s->base, specs[i]);
        s->live = live >= 0 ? live : (k == RFS_VIDEO_NETWORK || k == RFS_VIDEO_CAMERA);
        s->paced = s->live && (k == RFS_VIDEO_FILE);
    }
    return 1;
}

static int interrupted(void *user) {
    const cli_source *s = user;
    return cli_stop || s->stop;
}

int cli_sources_open(cli_sources *g, const rfs_video_opts *o) {
    for (int i = 0; i < g->n; i++) {
        cli_source *s = &g->v[i];
        rfs_video_opts vo = o ? *o : (rfs_video_opts){0};
        vo.low_delay = s->live && !s->paced;
        vo.interrupt = interrupted;
        vo.interrupt_user = s;
        if (rfs_video_open(&s->v, s->spec, &vo) != RFS_OK) {
            const char *msg = rfs_last_error();
            /* the library names the source as given; show it without credentials */
            if (!strncmp(msg, s->spec, strlen(s->spec))) msg += strlen(s->spec);
            if (!strncmp(msg, ": ", 2)) msg += 2;
            fprintf(stderr, "rfseg video: %s: %s\n", s->shown, msg);
            return 0;
        }
    }
    return 1;
}

static void deadline_in(struct timespec *ts, int ms) {
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) ts->tv_sec++, ts->tv_nsec -= 1000000000L;
}

static void *reader(void *arg) {
    cli_source *s = arg;
    cli_sources *g = s->group;
    double fps = rfs_video_fps(s->v);
    for (;;) {
        if (s->paced && fps > 0) { /* a file played as a camera: frame k at t0 + k / fps */
            double due = s->t0_ms + (double)rfs_video_frame_index(s->v) * 1e3 / fps;
            pthread_mutex_lock(&g->mu);
            while (!s->stop && !cli_stop) {
                double left = due - cli_now_ms();
                if (left <= 0) break;
                struct timespec ts;
                deadline_in(&ts, left > 100 ? 100 : (int)left + 1);
                pthread_cond_timedwait(&g->cv, &g->mu, &ts);
            }
            pthread_mutex_unlock(&g->mu);
        }
        if (s->stop || cli_stop) break;
        int done = 0;
        double t0 = cli_now_ms();
        rfs_status st = rfs_video_read(s->v, &s->spare, &done);
        double took = cli_now_ms() - t0;
        int64_t idx = rfs_video_frame_index(s->v) - 1;
        pthread_mutex_lock(&g->mu);
        /* The stream is caught up once a read has to wait for data: frames decoded before
         * (what opening the stream buffered while it probed) are the past, not live. */
        if (!s->caught_up && (took >= (fps > 0 ? 500.0 / fps : 10.0) || cli_now_ms() - s->t0_ms > 2000))
            s->caught_up = 1;
        if (done || s->stop || cli_stop) {
            pthread_mutex_unlock(&g->mu);
            break;
        }
        if (st != RFS_OK) {
            s->reader_errors++;
            fprintf(stderr, "rfseg video: %s: frame %lld: %s\n", s->shown, (long long)idx, rfs_last_error());
        } else {
            rfs_frame t = s->slot;
            s->slot = s->spare;
            s->spare = t;
            if (s->slot_full) s->dropped++;
            s->slot_full = 1;
            s->slot_id = idx;
        }
        pthread_cond_broadcast(&g->cv);
        pthread_mutex_unlock(&g->mu);
    }
    pthread_mutex_lock(&g->mu);
    s->reader_done = 1;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

int cli_sources_start(cli_sources *g) {
    for (int i = 0; i < g->n; i++) {
        cli_source *s = &g->v[i];
        if (!s->live) continue;
        s->t0_ms = cli_now_ms();
        s->caught_up = s->paced; /* a paced file has no backlog */
        if (pthread_create(&s->thread, NULL, reader, s) != 0) {
            fprintf(stderr, "rfseg video: %s: cannot start a reader thread\n", s->shown);
            return 0;
        }
        s->thread_started = 1;
    }
    return 1;
}

int cli_source_take(cli_source *s, rfs_frame *f, int64_t *id, int wait_ms) {
    if (s->ended) return CLI_TAKE_END;
    if (!s->live) {
        int done = 0;
        rfs_status st = rfs_video_read(s->v, f, &done);
        if (done) {
            s->ended = 1;
            return CLI_TAKE_END;
        }
        *id = rfs_video_frame_index(s->v) - 1;
        if (st != RFS_OK) {
            if (!cli_stop) fprintf(stderr, "rfseg video: %s: frame %lld: %s\n", s->shown, (long long)*id, rfs_last_error());
            s->errors++;
            return CLI_TAKE_ERROR;
        }
        s->taken++;
        return CLI_TAKE_FRAME;
    }
    cli_sources *g = s->group;
    int r = CLI_TAKE_NONE;
    pthread_mutex_lock(&g->mu);
    if (!(s->slot_full && s->caught_up) && !s->reader_done && wait_ms > 0 && !cli_stop) {
        struct timespec ts;
        deadline_in(&ts, wait_ms);
        pthread_cond_timedwait(&g->cv, &g->mu, &ts);
    }
    if (s->slot_full && (s->caught_up || s->reader_done)) {
        rfs_frame t = *f;
        *f = s->slot;
        s->slot = t;
        s->slot_full = 0;
        *id = s->slot_id;
        s->taken++;
        r = CLI_TAKE_FRAME;
    } else if (s->reader_done) {
        s->ended = 1;
        r = CLI_TAKE_END;
    }
    pthread_mutex_unlock(&g->mu);
    return r;
}

void cli_sources_wait(cli_sources *g, int ms) {
    pthread_mutex_lock(&g->mu);
    int ready = 0;
    for (int i = 0; i < g->n; i++) {
        const cli_source *s = &g->v[i];
        if (s->live && !s->ended && ((s->slot_full && s->caught_up) || s->reader_done)) ready = 1;
    }
    if (!ready && !cli_stop) {
        struct timespec ts;
        deadline_in(&ts, ms);
        pthread_cond_timedwait(&g->cv, &g->mu, &ts);
    }
    pthread_mutex_unlock(&g->mu);
}

void cli_source_finish(cli_source *s) {
    cli_sources *g = s->group;
    pthread_mutex_lock(&g->mu);
    s->stop = 1;
    s->ended = 1;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

long cli_sources_dropped(cli_sources *g) {
    long d = 0;
    pthread_mutex_lock(&g->mu);
    for (int i = 0; i < g->n; i++) d += g->v[i].dropped;
    pthread_mutex_unlock(&g->mu);
    return d;
}

void cli_sources_free(cli_sources *g) {
    if (!g->v) return;
    pthread_mutex_lock(&g->mu);
    for (int i = 0; i < g->n; i++) g->v[i].stop = 1;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    for (int i = 0; i < g->n; i++) {
        cli_source *s = &g->v[i];
        if (s->thread_started) pthread_join(s->thread, NULL);
        rfs_video_close(s->v);
        rfs_frame_free(&s->slot);
        rfs_frame_free(&s->spare);
    }
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    free(g->v);
    memset(g, 0, sizeof *g);
}
