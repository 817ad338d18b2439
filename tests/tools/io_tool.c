/* io_tool - drives the image/video readers and writers for the differential tests
 * (tests/diff_decode.py) and for timing. Output goes to stdout in a simple binary stream:
 *
 *   io_tool image [--rgb] [--no-orient] [--max-pixels N] FILE...
 *       per file: "OK w h\n" + w*h*3 packed bytes, or "ERR status message\n"
 *   io_tool video [--threads N] [--no-rotate] [--y4m] PATH
 *       "INFO w h fps count rotation\n", per frame "F w h\n" + bytes or "E status message\n",
 *       then "END\n" (or "ERR status message\n" when the file does not open);
 *       --y4m reads through the FFmpeg-less y4m reader
 *   io_tool transcode IN OUT          every frame of IN into OUT (mp4 or y4m); "WROTE n\n"
 *   io_tool y4m444 IN OUT             every frame of IN into OUT as y4m 4:4:4
 *   io_tool bench-image FILE N        decode FILE N times; milliseconds per decode
 *   io_tool bench-video PATH          decode every frame; frames per second
 */
#include "io/image.h"
#include "io/video.h"
#include "io/y4m.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void put_frame(const char *tag, const rfs_frame *f) {
    printf("%s %d %d\n", tag, f->w, f->h);
    for (int y = 0; y < f->h; y++) fwrite(f->data + (size_t)y * f->stride, 1, 3 * (size_t)f->w, stdout);
}

static void put_err(const char *tag, rfs_status st) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", rfs_last_error());
    for (char *p = msg; *p; p++)
        if (*p == '\n') *p = ' ';
    printf("%s %d %s\n", tag, (int)st, msg);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmd_image(int argc, char **argv) {
    rfs_decode_opts o = {0};
    rfs_frame f = {0};
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--rgb")) o.rgb = 1;
        else if (!strcmp(argv[i], "--no-orient")) o.no_auto_orient = 1;
        else if (!strcmp(argv[i], "--max-pixels") && i + 1 < argc) o.max_pixels = strtoull(argv[++i], NULL, 10);
        else {
            rfs_status st = rfs_image_load(&f, argv[i], &o);
            if (st) put_err("ERR", st);
            else put_frame("OK", &f);
        }
    }
    rfs_frame_free(&f);
    return 0;
}

static int cmd_video(int argc, char **argv) {
    rfs_video_opts o = {0};
    int use_y4m = 0;
    const char *path = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) o.threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-rotate")) o.no_auto_rotate = 1;
        else if (!strcmp(argv[i], "--y4m")) use_y4m = 1;
        else path = argv[i];
    }
    if (!path) return 2;
    rfs_frame f = {0};
    int done = 0;
    if (use_y4m) {
        rfs_y4m_reader *r;
        rfs_status st = rfs_y4m_open(&r, path, 0, 0);
        if (st) {
            put_err("ERR", st);
            return 0;
        }
        printf("INFO %d %d %.6f %lld 0\n", rfs_y4m_width(r), rfs_y4m_height(r), rfs_y4m_fps(r),
               (long long)rfs_y4m_frame_count(r));
        for (;;) {
            st = rfs_y4m_read(r, &f, &done);
            if (done) break;
            if (st) put_err("E", st);
            else put_frame("F", &f);
        }
        rfs_y4m_close(r);
    } else {
        rfs_video *v;
        rfs_status st = rfs_video_open(&v, path, &o);
        if (st) {
            put_err("ERR", st);
            return 0;
        }
        printf("INFO %d %d %.6f %lld %d\n", rfs_video_width(v), rfs_video_height(v), rfs_video_fps(v),
               (long long)rfs_video_frame_count(v), rfs_video_rotation(v));
        for (;;) {
            st = rfs_video_read(v, &f, &done);
            if (done) break;
            if (st) put_err("E", st);
            else put_frame("F", &f);
        }
        rfs_video_close(v);
    }
    printf("END\n");
    rfs_frame_free(&f);
    return 0;
}

static int cmd_transcode(const char *in, const char *out, int y444) {
    rfs_video *v;
    rfs_status st = rfs_video_open(&v, in, NULL);
    if (st) {
        put_err("ERR", st);
        return 1;
    }
    rfs_video_writer *w = NULL;
    rfs_y4m_writer *yw = NULL;
    st = y444 ? rfs_y4m_writer_open(&yw, out, rfs_video_width(v), rfs_video_height(v), rfs_video_fps(v), 444)
              : rfs_video_writer_open(&w, out, rfs_video_width(v), rfs_video_height(v), rfs_video_fps(v));
    if (st) {
        put_err("ERR", st);
        rfs_video_close(v);
        return 1;
    }
    rfs_frame f = {0};
    int done = 0, n = 0;
    while (!st) {
        st = rfs_video_read(v, &f, &done);
        if (done || st) break;
        st = yw ? rfs_y4m_write(yw, &f) : rfs_video_writer_write(w, &f);
        n++;
    }
    rfs_status st2 = yw ? rfs_y4m_writer_close(yw) : rfs_video_writer_close(w);
    if (!st) st = st2;
    if (st) put_err("ERR", st);
    else printf("WROTE %d\n", n);
    rfs_frame_free(&f);
    rfs_video_close(v);
    return st ? 1 : 0;
}

static int cmd_bench_image(const char *path, int n) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return 1;
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)size);
    if (!buf || fread(buf, 1, (size_t)size, fp) != (size_t)size) return 1;
    fclose(fp);
    rfs_frame f = {0};
    double best = 1e9;
    for (int i = 0; i < n; i++) {
        double t = now();
        if (rfs_image_decode(&f, buf, (size_t)size, NULL)) {
            put_err("ERR", 1);
            return 1;
        }
        t = now() - t;
        if (t < best) best = t;
    }
    printf("%s %dx%d best %.3f ms over %d\n", path, f.w, f.h, best * 1e3, n);
    rfs_frame_free(&f);
    free(buf);
    return 0;
}

static int cmd_bench_video(const char *path, int threads) {
    rfs_video_opts o = {.threads = threads};
    rfs_video *v;
    if (rfs_video_open(&v, path, &o)) {
        put_err("ERR", 1);
        return 1;
    }
    rfs_frame f = {0};
    int done = 0, n = 0;
    double t = now();
    clock_t c0 = clock();
    for (;;) {
        rfs_status st = rfs_video_read(v, &f, &done);
        if (done) break;
        if (!st) n++;
    }
    t = now() - t;
    double cpu = (double)(clock() - c0) / CLOCKS_PER_SEC;
    printf("%s %dx%d %d frames %.3f s %.1f fps, cpu %.3f s (threads %d)\n", path, f.w, f.h, n, t, n / t, cpu,
           threads);
    rfs_frame_free(&f);
    rfs_video_close(v);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    if (!strcmp(argv[1], "image")) return cmd_image(argc - 2, argv + 2);
    if (!strcmp(argv[1], "video")) return cmd_video(argc - 2, argv + 2);
    if (!strcmp(argv[1], "transcode") && argc == 4) return cmd_transcode(argv[2], argv[3], 0);
    if (!strcmp(argv[1], "y4m444") && argc == 4) return cmd_transcode(argv[2], argv[3], 1);
    if (!strcmp(argv[1], "bench-image") && argc == 4) return cmd_bench_image(argv[2], atoi(argv[3]));
    if (!strcmp(argv[1], "bench-video") && argc >= 3) return cmd_bench_video(argv[2], argc > 3 ? atoi(argv[3]) : 0);
    fprintf(stderr, "usage: see the comment at the top of tests/tools/io_tool.c\n");
    return 2;
}
