/* cli_out.c - safe outputs and clean stops (cli_out.h). */
#include "cli_out.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

static void dir_of(char *out, size_t cap, const char *path) {
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path);
    snprintf(out, cap, "%s", dirname(copy));
}

static int same_as_stdout(const struct stat *sb) {
    struct stat so;
    return fstat(1, &so) == 0 && so.st_dev == sb->st_dev && so.st_ino == sb->st_ino;
}

static int is_dev_null(const struct stat *sb) {
    struct stat sn;
    return S_ISCHR(sb->st_mode) && stat("/dev/null", &sn) == 0 && sn.st_rdev == sb->st_rdev;
}

int cli_out_check(const char *cmd, const char *what, const char *path, int overwrite, int kind) {
    if (!path || !*path) {
        fprintf(stderr, "rfseg %s: %s: empty path\n", cmd, what);
        return 0;
    }
    if (kind == CLI_OUT_STREAM && !strcmp(path, "-")) return 1;
    struct stat sb;
    if (stat(path, &sb) == 0) {
        if (S_ISDIR(sb.st_mode)) {
            fprintf(stderr, "rfseg %s: %s: %s is a directory\n", cmd, what, path);
            return 0;
        }
        if (!S_ISREG(sb.st_mode)) {
            if (kind == CLI_OUT_STREAM && (same_as_stdout(&sb) || is_dev_null(&sb))) return 1;
            fprintf(stderr, "rfseg %s: %s: %s is not a regular file (devices and pipes are not written to; "
                    "use - for standard output)\n", cmd, what, path);
            return 0;
        }
        if (!overwrite) {
            fprintf(stderr, "rfseg %s: %s: %s exists (give --overwrite to replace it)\n", cmd, what, path);
            return 0;
        }
        /* write-protected files are kept even where access() would allow (root) */
        if (access(path, W_OK) != 0 || !(sb.st_mode & (S_IWUSR | S_IWGRP | S_IWOTH))) {
            fprintf(stderr, "rfseg %s: %s: %s is not writable; not replaced\n", cmd, what, path);
            return 0;
        }
    } else if (errno != ENOENT) {
        fprintf(stderr, "rfseg %s: %s: %s: %s\n", cmd, what, path, strerror(errno));
        return 0;
    }
    char dir[4096];
    dir_of(dir, sizeof dir, path);
    struct stat db;
    if (stat(dir, &db) != 0 || !S_ISDIR(db.st_mode)) {
        fprintf(stderr, "rfseg %s: %s: %s: no such directory %s\n", cmd, what, path, dir);
        return 0;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        fprintf(stderr, "rfseg %s: %s: cannot create files in %s: %s\n", cmd, what, dir, strerror(errno));
        return 0;
    }
    return 1;
}

int cli_tmp_begin(cli_tmp *t, const char *cmd, const char *path, int overwrite) {
    static unsigned counter;
    memset(t, 0, sizeof *t);
    if (strlen(path) >= sizeof t->path) {
        fprintf(stderr, "rfseg %s: %s: path too long\n", cmd, path);
        return 0;
    }
    snprintf(t->path, sizeof t->path, "%s", path);
    t->overwrite = overwrite;
    char dir[4096], copy[4096];
    dir_of(dir, sizeof dir, path);
    snprintf(copy, sizeof copy, "%s", path);
    snprintf(t->tmp, sizeof t->tmp, "%s/.rfseg-%ld-%u-%s", dir, (long)getpid(), counter++, basename(copy));
    return 1;
}

int cli_tmp_commit(cli_tmp *t, const char *cmd) {
    int r;
    if (t->overwrite) r = rename(t->tmp, t->path);
    else {
        /* no replacing a file that appeared meanwhile: rename only if the name is free */
        r = renameat2(AT_FDCWD, t->tmp, AT_FDCWD, t->path, RENAME_NOREPLACE);
        if (r != 0 && (errno == EINVAL || errno == ENOSYS)) { /* a file system without it */
            r = link(t->tmp, t->path);
            if (r == 0) unlink(t->tmp);
        }
    }
    if (r != 0) {
        fprintf(stderr, "rfseg %s: cannot move the finished output to %s (%s); it is kept as %s\n", cmd,
                t->path, errno == EEXIST ? "the file appeared during the run" : strerror(errno), t->tmp);
        return 0;
    }
    return 1;
}

void cli_tmp_abort(cli_tmp *t) {
    if (t->tmp[0]) unlink(t->tmp);
}

/* ---- streams ----------------------------------------------------------------------------- */

void cli_stream_stdout(cli_stream *s, const char *cmd) {
    memset(s, 0, sizeof *s);
    s->fd = 1;
    s->is_stdout = 1;
    s->cmd = cmd;
    snprintf(s->name, sizeof s->name, "standard output");
}

int cli_stream_open(cli_stream *s, const char *cmd, const char *path, int overwrite) {
    if (!strcmp(path, "-")) {
        cli_stream_stdout(s, cmd);
        return 1;
    }
    memset(s, 0, sizeof *s);
    s->cmd = cmd;
    s->fd = -1;
    snprintf(s->name, sizeof s->name, "%s", path);
    struct stat sb;
    int exists = stat(path, &sb) == 0;
    if (exists && !S_ISREG(sb.st_mode)) { /* standard output's file or /dev/null (checked) */
        s->fd = same_as_stdout(&sb) ? 1 : open(path, O_WRONLY | O_CLOEXEC);
        s->is_stdout = s->fd == 1;
    } else if (exists) { /* replacing: the old file stays until the new one is complete */
        if (!cli_tmp_begin(&s->tmp, cmd, path, overwrite)) return 0;
        s->use_tmp = 1;
        s->fd = open(s->tmp.tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    } else { /* new: written in place, so a killed run keeps its finished lines */
        s->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    }
    if (s->fd < 0) {
        fprintf(stderr, "rfseg %s: cannot write %s: %s\n", cmd, path, strerror(errno));
        return 0;
    }
    struct stat fb;
    s->regular = fstat(s->fd, &fb) == 0 && S_ISREG(fb.st_mode) && !s->is_stdout;
    s->good_end = 0;
    return 1;
}

int cli_stream_write(cli_stream *s, const char *buf, size_t n) {
    if (s->failed) return 0;
    size_t len = n;
    while (n > 0) {
        ssize_t w = write(s->fd, buf, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = w < 0 ? errno : ENOSPC;
            fprintf(stderr, "rfseg %s: writing %s: %s\n", s->cmd, s->name, strerror(e));
            s->failed = 1;
            /* a line cut short by a full disk or a size limit is taken back: the file
             * ends with the last whole line (only bytes this run wrote are removed) */
            if (s->regular && len > n && ftruncate(s->fd, s->good_end) != 0)
                fprintf(stderr, "rfseg %s: %s ends with a partial line\n", s->cmd, s->name);
            return 0;
        }
        buf += w;
        n -= (size_t)w;
    }
    s->good_end += (off_t)len;
    return 1;
}

int cli_stream_close(cli_stream *s) {
    int ok = !s->failed;
    if (s->is_stdout) {
        /* anything the command printed through stdio goes out first, and is checked */
        if (fflush(stdout) != 0 && ok) {
            fprintf(stderr, "rfseg %s: writing standard output: %s\n", s->cmd, strerror(errno));
            ok = 0;
        }
    } else if (s->fd >= 0) {
        if (close(s->fd) != 0 && ok) {
            fprintf(stderr, "rfseg %s: writing %s: %s\n", s->cmd, s->name, strerror(errno));
            ok = 0;
        }
        if (s->use_tmp) {
            if (ok) ok = cli_tmp_commit(&s->tmp, s->cmd);
            else cli_tmp_abort(&s->tmp);
        }
    }
    s->fd = -1;
    return ok;
}

/* ---- signals --------------------------------------------------------------------------- */

volatile sig_atomic_t cli_stop;

static void on_stop(int sig) {
    if (cli_stop) { /* the second one: no more waiting */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    cli_stop = sig;
}

void cli_signals_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* a reader that goes away (| head) is a write error like any other: the run stops
     * cleanly, closing its files, instead of dying half-written */
    signal(SIGPIPE, SIG_IGN);
}

int cli_exit_code(int rc) { return cli_stop ? 128 + cli_stop : rc; }

/* ---- names ------------------------------------------------------------------------------- */

/* Start of the host part of a URL ("scheme://"), or NULL. */
static const char *url_rest(const char *s) {
    const char *p = strstr(s, "://");
    if (!p || p == s) return NULL;
    for (const char *q = s; q < p; q++)
        if (!(('a' <= *q && *q <= 'z') || ('A' <= *q && *q <= 'Z') || ('0' <= *q && *q <= '9') || *q == '+' ||
              *q == '-' || *q == '.'))
            return NULL;
    return p + 3;
}

void cli_display_source(char *out, size_t cap, const char *src) {
    const char *rest = url_rest(src);
    if (!rest) {
        snprintf(out, cap, "%s", src);
        return;
    }
    const char *end = rest + strcspn(rest, "/?#"), *at = NULL;
    for (const char *p = rest; p < end; p++)
        if (*p == '@') at = p;
    if (at) snprintf(out, cap, "%.*s%s", (int)(rest - src), src, at + 1); /* user:password@ dropped */
    else snprintf(out, cap, "%s", src);
}

void cli_display_base(char *out, size_t cap, const char *src) {
    char shown[4096];
    cli_display_source(shown, sizeof shown, src);
    const char *rest = url_rest(shown);
    char part[4096];
    if (rest) {
        size_t n = strcspn(rest, "?#");
        snprintf(part, sizeof part, "%.*s", (int)n, rest);
        while (n > 0 && part[n - 1] == '/') part[--n] = 0;
        const char *slash = strrchr(part, '/');
        if (slash && slash[1]) memmove(part, slash + 1, strlen(slash + 1) + 1);
    } else {
        snprintf(part, sizeof part, "%s", shown);
        size_t n = strlen(part);
        while (n > 1 && part[n - 1] == '/') part[--n] = 0;
        const char *slash = strrchr(part, '/');
        if (slash && slash[1]) memmove(part, slash + 1, strlen(slash + 1) + 1);
    }
    size_t k = 0;
    for (const char *p = part; *p && k + 1 < cap; p++) {
        char c = *p;
        int ok = ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || c == '.' ||
                 c == '-' || c == '_';
        out[k++] = ok ? c : '_';
    }
    out[k] = 0;
    if (k == 0 || !strcmp(out, ".") || !strcmp(out, "..")) snprintf(out, cap, "source");
    else if (out[0] == '.') out[0] = '_'; /* no hidden files */
}
