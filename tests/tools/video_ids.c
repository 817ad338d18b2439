/* video_ids - every rfs_video_read of a video with the frame number rfs_video_frame_index
 * gives it, for the differential test of frame numbering on damaged files
 * (tests/diff_video_damage.py):
 *
 *   video_ids [--threads N] PATH
 *       "INFO w h count\n"; per read "F id w h\n" + w*h*3 packed BGR bytes, or
 *       "E id status message\n"; then "END id\n" (id: rfs_video_frame_index at the end),
 *       or "ERR status message\n" when the file does not open
 */
#include "io/video.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    rfs_video_opts o = {0};
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) o.threads = atoi(argv[++i]);
        else path = argv[i];
    }
    if (!path) {
        fprintf(stderr, "usage: video_ids [--threads N] PATH\n");
        return 2;
    }
    rfs_video *v;
    rfs_status st = rfs_video_open(&v, path, &o);
    if (st) {
        printf("ERR %d %s\n", (int)st, rfs_last_error());
        return 0;
    }
    printf("INFO %d %d %lld\n", rfs_video_width(v), rfs_video_height(v), (long long)rfs_video_frame_count(v));
    rfs_frame f = {0};
    for (;;) {
        int done = 0;
        st = rfs_video_read(v, &f, &done);
        if (done) break;
        long long id = (long long)rfs_video_frame_index(v) - 1;
        if (st) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", rfs_last_error());
            for (char *p = msg; *p; p++)
                if (*p == '\n') *p = ' ';
            printf("E %lld %d %s\n", id, (int)st, msg);
            continue;
        }
        printf("F %lld %d %d\n", id, f.w, f.h);
        for (int y = 0; y < f.h; y++) fwrite(f.data + (size_t)y * f.stride, 1, 3 * (size_t)f.w, stdout);
    }
    printf("END %lld\n", (long long)rfs_video_frame_index(v));
    rfs_frame_free(&f);
    rfs_video_close(v);
    return 0;
}
