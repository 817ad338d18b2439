/* test_image_io.c - frames, hostile image input, PNG writing, y4m, video errors, annotation.
 *
 * Pixel exactness against OpenCV is tested in diff_decode.py; this file checks that bad
 * input gives the right status with a message and never a crash or leak (run it under
 * `make asan` and valgrind), that buffers are reused, and that the annotator draws what it
 * promises.
 */
#include "harness.h"
#include "io/image.h"
#include "io/video.h"
#include "io/y4m.h"
#include "pipeline/annotate.h"

#include <jpeglib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------------------------ */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

/* A w x h BGR test picture: gradients plus noise. */
static void fill_picture(rfs_frame *f) {
    for (int y = 0; y < f->h; y++)
        for (int x = 0; x < f->w; x++) {
            uint8_t *p = f->data + (size_t)y * f->stride + 3 * x;
            p[0] = (uint8_t)(x * 7 + (rnd() & 15));
            p[1] = (uint8_t)(y * 5 + (rnd() & 15));
            p[2] = (uint8_t)((x + y) * 3);
        }
}

/* Encodes a frame as a baseline JPEG in memory (caller frees *out). */
static size_t encode_jpeg(const rfs_frame *f, int quality, int progressive, uint8_t **out) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    unsigned long n = 0;
    *out = NULL;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, out, &n);
    c.image_width = (JDIMENSION)f->w;
    c.image_height = (JDIMENSION)f->h;
    c.input_components = 3;
    c.in_color_space = JCS_EXT_BGR;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    if (progressive) jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = f->data + (size_t)c.next_scanline * f->stride;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    return n;
}

static void le32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

/* A PNG of only a signature and an IHDR (valid CRC) claiming w x h, then an empty IEND. */
static size_t png_header_only(uint8_t *b, uint32_t w, uint32_t h) {
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memcpy(b, sig, 8);
    test_be32(b + 8, 13);
    memcpy(b + 12, "IHDR", 4);
    test_be32(b + 16, w);
    test_be32(b + 20, h);
    b[24] = 8, b[25] = 2, b[26] = 0, b[27] = 0, b[28] = 0;
    test_be32(b + 29, test_crc32(b + 12, 17));
    test_be32(b + 33, 0);
    memcpy(b + 37, "IEND", 4);
    test_be32(b + 41, test_crc32(b + 37, 4));
    return 45;
}

/* Decodes bytes and checks the status (and that failures carry a message). */
static rfs_status decode_expect(const uint8_t *b, size_t n, rfs_status want, const char *what) {
    rfs_frame f = {0};
    rfs_clear_error();
    rfs_status st = rfs_image_decode(&f, b, n, NULL);
    CHECKF(st == want, "%s: status %d (%s), want %d", what, st, rfs_last_error(), want);
    if (st) CHECKF(strcmp(rfs_last_error(), "no error") != 0, "%s: no message", what);
    rfs_frame_free(&f);
    return st;
}

static int frames_equal(const rfs_frame *a, const rfs_frame *b) {
    if (a->w != b->w || a->h != b->h) return 0;
    for (int y = 0; y < a->h; y++)
        if (memcmp(a->data + (size_t)y * a->stride, b->data + (size_t)y * b->stride, 3 * (size_t)a->w)) return 0;
    return 1;
}

/* ---- frames --------------------------------------------------------------------------------- */

TEST(frame_alloc_reuse_wrap_swap) {
    rfs_frame f = {0};
    CHECK(rfs_frame_alloc(&f, 64, 32, 0, RFS_PIX_BGR8) == RFS_OK);
    CHECK(f.stride == 192 && f.cap >= 192 * 32 && ((uintptr_t)f.data & 63) == 0);
    uint8_t *p = f.data;
    CHECK(rfs_frame_alloc(&f, 32, 16, 0, RFS_PIX_RGB8) == RFS_OK);
    CHECKF(f.data == p, "smaller frame reuses the buffer");
    CHECK(f.w == 32 && f.h == 16 && f.fmt == RFS_PIX_RGB8);
    CHECK(rfs_frame_alloc(&f, 0, 5, 0, RFS_PIX_BGR8) == RFS_ERR_ARG);
    CHECK(rfs_frame_alloc(&f, 5, 5, 14, RFS_PIX_BGR8) == RFS_ERR_ARG);
    CHECK(rfs_frame_alloc(&f, 1 << 30, 1 << 30, 0, RFS_PIX_BGR8) != RFS_OK);
    rfs_frame_free(&f);
    CHECK(f.data == NULL && f.cap == 0);
    rfs_frame_free(NULL);

    uint8_t px[2 * 3 * 3] = {1, 2, 3, 4, 5, 6, 0, 0, 0, 7, 8, 9, 10, 11, 12, 0, 0, 0};
    rfs_frame w = {0};
    rfs_frame_wrap(&w, px, 2, 2, 9, RFS_PIX_BGR8);
    CHECK(w.cap == 0 && w.stride == 9);
    rfs_frame_swap_rb(&w);
    CHECK(px[0] == 3 && px[2] == 1 && px[9] == 9 && px[14] == 10 && px[6] == 0 && w.fmt == RFS_PIX_RGB8);
    rfs_image im = rfs_frame_image(&w);
    CHECK(im.width == 2 && im.height == 2 && im.stride == 9 && im.data == px && im.format == RFS_PIX_RGB8);
    rfs_frame_free(&w); /* wrapped: must not free px */
    CHECK(px[0] == 3);
}

/* ---- PNG write, decode reuse ---------------------------------------------------------------- */

TEST(png_write_roundtrip) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/rfs_test_%d.png", (int)getpid());
    rfs_frame f = {0}, g = {0};
    CHECK(rfs_frame_alloc(&f, 37, 23, 0, RFS_PIX_BGR8) == RFS_OK);
    fill_picture(&f);
    CHECK(rfs_image_write_png(path, &f) == RFS_OK);
    CHECK(rfs_image_load(&g, path, NULL) == RFS_OK);
    CHECKF(frames_equal(&f, &g) && g.fmt == RFS_PIX_BGR8, "BGR frame survives PNG");
    uint8_t *p = g.data;
    rfs_decode_opts rgb = {.rgb = 1};
    CHECK(rfs_image_load(&g, path, &rgb) == RFS_OK);
    CHECKF(g.data == p, "decoding again into the same frame reuses its buffer");
    rfs_frame_swap_rb(&g);
    CHECK(frames_equal(&f, &g));
    /* an RGB frame written and read back as BGR */
    rfs_frame_swap_rb(&f);
    CHECK(rfs_image_write_png(path, &f) == RFS_OK);
    CHECK(rfs_image_load(&g, path, NULL) == RFS_OK);
    rfs_frame_swap_rb(&f);
    CHECK(frames_equal(&f, &g));
    CHECK(rfs_image_write_png("/nonexistent-dir/x.png", &f) == RFS_ERR_IO);
    CHECK(rfs_image_load(&g, "/nonexistent-dir/x.png", NULL) == RFS_ERR_IO);
    CHECK(strstr(rfs_last_error(), "/nonexistent-dir/x.png") != NULL);
    CHECK(rfs_image_load(&g, "/tmp", NULL) == RFS_ERR_IO); /* a directory */
    remove(path);
    rfs_frame_free(&f);
    rfs_frame_free(&g);
}

/* ---- hostile input --------------------------------------------------------------------------- */

TEST(bad_jpeg) {
    rfs_frame f = {0};
    CHECK(rfs_frame_alloc(&f, 61, 47, 0, RFS_PIX_BGR8) == RFS_OK);
    fill_picture(&f);
    for (int prog = 0; prog < 2; prog++) {
        uint8_t *j;
        size_t n = encode_jpeg(&f, 90, prog, &j);
        decode_expect(j, n, RFS_OK, "valid jpeg");
        /* truncated: in the markers, in the scans, just before EOI, without EOI */
        size_t cuts[] = {3, 20, 150, 400, n / 2, n * 3 / 4, n - 10, n - 2};
        for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
            char what[64];
            snprintf(what, sizeof what, "jpeg%s cut at %zu of %zu", prog ? " progressive" : "", cuts[k], n);
            decode_expect(j, cuts[k], RFS_ERR_FORMAT, what);
        }
        /* impossible sizes, patched into the SOF marker */
        for (size_t i = 2; i + 8 < n; i++) {
            if (j[i] == 0xFF && (j[i + 1] == 0xC0 || j[i + 1] == 0xC2)) {
                uint8_t save[4];
                memcpy(save, j + i + 5, 4);
                j[i + 5] = 0, j[i + 6] = 0; /* height 0 */
                decode_expect(j, n, RFS_ERR_FORMAT, "jpeg height 0");
                j[i + 5] = 0xFD, j[i + 6] = 0xE8, j[i + 7] = 0xFD, j[i + 8] = 0xE8; /* 65000 x 65000 */
                decode_expect(j, n, RFS_ERR_LIMIT, "jpeg 65000x65000");
                memcpy(j + i + 5, save, 4);
                rfs_decode_opts small = {.max_pixels = 100};
                rfs_frame g = {0};
                CHECK(rfs_image_decode(&g, j, n, &small) == RFS_ERR_LIMIT);
                CHECK(strstr(rfs_last_error(), "limit") != NULL);
                rfs_frame_free(&g);
                break;
            }
        }
        free(j);
    }
    /* JPEG magic followed by garbage */
    uint8_t g[4096] = {0xFF, 0xD8, 0xFF};
    for (int i = 3; i < (int)sizeof g; i++) g[i] = (uint8_t)rnd();
    decode_expect(g, sizeof g, RFS_ERR_FORMAT, "jpeg magic + garbage");
    rfs_frame_free(&f);
}

TEST(bad_png) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/rfs_test_%d.png", (int)getpid());
    rfs_frame f = {0};
    CHECK(rfs_frame_alloc(&f, 53, 41, 0, RFS_PIX_BGR8) == RFS_OK);
    fill_picture(&f);
    CHECK(rfs_image_write_png(path, &f) == RFS_OK);
    size_t n;
    uint8_t *p = test_read_file(path, &n);
    remove(path);
    CHECK(p && n > 100);
    if (!p) return;
    size_t cuts[] = {4, 8, 16, 33, 40, n / 3, n / 2, n - 20, n - 12, n - 1};
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
        char what[64];
        snprintf(what, sizeof what, "png cut at %zu of %zu", cuts[k], n);
        decode_expect(p, cuts[k], cuts[k] < 8 ? RFS_ERR_UNSUPPORTED : RFS_ERR_FORMAT, what);
    }
    p[40] ^= 0x55; /* corrupt data: CRC mismatch in IDAT */
    decode_expect(p, n, RFS_ERR_FORMAT, "png bad crc");
    free(p);

    uint8_t h[64];
    decode_expect(h, png_header_only(h, 100000, 100000), RFS_ERR_LIMIT, "png 100000x100000");
    decode_expect(h, png_header_only(h, 0, 10), RFS_ERR_FORMAT, "png width 0");
    decode_expect(h, png_header_only(h, 10, 0), RFS_ERR_FORMAT, "png height 0");
    decode_expect(h, png_header_only(h, 0x80000000u, 1), RFS_ERR_FORMAT, "png width 2^31");
    decode_expect(h, png_header_only(h, 30, 20), RFS_ERR_FORMAT, "png without IDAT");
    rfs_frame_free(&f);
}

TEST(bad_bmp) {
    /* a valid 24-bit 5x3 bottom-up BMP, then damaged copies */
    uint8_t b[54 + 16 * 3] = {'B', 'M'};
    le32(b + 2, sizeof b);
    le32(b + 10, 54);
    le32(b + 14, 40);
    le32(b + 18, 5);
    le32(b + 22, 3);
    b[26] = 1, b[28] = 24;
    for (int i = 54; i < (int)sizeof b; i++) b[i] = (uint8_t)i;
    decode_expect(b, sizeof b, RFS_OK, "valid bmp");
    decode_expect(b, sizeof b - 1, RFS_ERR_FORMAT, "bmp one byte short");
    decode_expect(b, 14, RFS_ERR_FORMAT, "bmp file header only");
    decode_expect(b, 2, RFS_ERR_FORMAT, "bmp magic only");
    uint8_t c[sizeof b];
    memcpy(c, b, sizeof b);
    le32(c + 18, 100000), le32(c + 22, 100000);
    decode_expect(c, sizeof c, RFS_ERR_LIMIT, "bmp 100000x100000");
    le32(c + 18, 0x7FFFFFFF), le32(c + 22, 0x80000000u); /* INT_MIN height: top-down 2^31 */
    decode_expect(c, sizeof c, RFS_ERR_LIMIT, "bmp 2^31-1 x -2^31");
    le32(c + 18, 0), le32(c + 22, 3);
    decode_expect(c, sizeof c, RFS_ERR_FORMAT, "bmp width 0");
    le32(c + 18, (uint32_t)-5);
    decode_expect(c, sizeof c, RFS_ERR_FORMAT, "bmp width -5");
    memcpy(c, b, sizeof b);
    le32(c + 10, 0xFFFFFFF0u);
    decode_expect(c, sizeof c, RFS_ERR_FORMAT, "bmp pixel offset past the end");
    memcpy(c, b, sizeof b);
    le32(c + 14, 0xFFFFFFFFu);
    decode_expect(c, sizeof c, RFS_ERR_FORMAT, "bmp header size 2^32-1");
    memcpy(c, b, sizeof b);
    c[28] = 7;
    decode_expect(c, sizeof c, RFS_ERR_UNSUPPORTED, "bmp 7 bits per pixel");
    c[28] = 8, c[30] = 1;
    decode_expect(c, sizeof c, RFS_ERR_UNSUPPORTED, "bmp RLE8");
    c[30] = 0;
    le32(c + 46, 257);
    decode_expect(c, sizeof c, RFS_ERR_FORMAT, "bmp 257 palette colors");
    le32(c + 46, 0); /* 8-bit needs a 1024-byte palette the file does not have */
    decode_expect(c, sizeof c, RFS_ERR_FORMAT, "bmp palette past the end");
}

TEST(garbage_and_fuzz) {
    decode_expect((const uint8_t *)"", 0, RFS_ERR_FORMAT, "empty");
    decode_expect((const uint8_t *)"hello world", 11, RFS_ERR_UNSUPPORTED, "text");
    CHECK(rfs_image_decode(NULL, (const uint8_t *)"x", 1, NULL) == RFS_ERR_ARG);
    /* random mutations of valid files: any status, but no crash, leak or hang */
    rfs_frame f = {0}, out = {0};
    CHECK(rfs_frame_alloc(&f, 40, 30, 0, RFS_PIX_BGR8) == RFS_OK);
    fill_picture(&f);
    uint8_t *j;
    size_t nj = encode_jpeg(&f, 85, 0, &j);
    uint8_t *jp;
    size_t njp = encode_jpeg(&f, 85, 1, &jp);
    char path[64];
    snprintf(path, sizeof path, "/tmp/rfs_test_%d.png", (int)getpid());
    CHECK(rfs_image_write_png(path, &f) == RFS_OK);
    size_t np;
    uint8_t *p = test_read_file(path, &np);
    remove(path);
    uint8_t bmp[54 + 40 * 30 * 3] = {'B', 'M'};
    le32(bmp + 10, 54), le32(bmp + 14, 40), le32(bmp + 18, 40), le32(bmp + 22, 30);
    bmp[26] = 1, bmp[28] = 24;
    const uint8_t *src[4] = {j, jp, p, bmp};
    size_t len[4] = {nj, njp, np, sizeof bmp};
    int counts[8] = {0};
    for (int it = 0; it < 400; it++) {
        int s = it % 4;
        uint8_t *m = malloc(len[s]);
        memcpy(m, src[s], len[s]);
        int edits = 1 + (int)(rnd() % 8);
        for (int e = 0; e < edits; e++) m[rnd() % len[s]] = (uint8_t)rnd();
        size_t n = len[s] - (rnd() % 3 == 0 ? rnd() % len[s] : 0);
        rfs_status st = rfs_image_decode(&out, m, n, NULL);
        counts[st < 8 ? st : 7]++;
        free(m);
    }
    printf("  fuzz: %d ok, %d format, %d unsupported, %d limit\n", counts[RFS_OK], counts[RFS_ERR_FORMAT],
           counts[RFS_ERR_UNSUPPORTED], counts[RFS_ERR_LIMIT]);
    CHECK(counts[RFS_ERR_FORMAT] > 0);
    free(j);
    free(jp);
    free(p);
    rfs_frame_free(&f);
    rfs_frame_free(&out);
}

/* EXIF orientation 6 (rotate 90 clockwise) in an APP1 segment, applied and ignored. */
TEST(exif_orientation) {
    rfs_frame f = {0}, a = {0}, b = {0};
    CHECK(rfs_frame_alloc(&f, 24, 16, 0, RFS_PIX_BGR8) == RFS_OK);
    fill_picture(&f);
    uint8_t *j;
    size_t n = encode_jpeg(&f, 95, 0, &j);
    static const uint8_t app1[] = {0xFF, 0xE1, 0, 34, 'E', 'x', 'i', 'f', 0, 0, 'I', 'I', 42, 0, 8, 0, 0, 0,
                                   1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0};
    uint8_t *k = malloc(n + sizeof app1);
    memcpy(k, j, 2);
    memcpy(k + 2, app1, sizeof app1);
    memcpy(k + 2 + sizeof app1, j + 2, n - 2);
    rfs_decode_opts off = {.no_auto_orient = 1};
    CHECK(rfs_image_decode(&a, k, n + sizeof app1, NULL) == RFS_OK);
    CHECK(rfs_image_decode(&b, k, n + sizeof app1, &off) == RFS_OK);
    CHECK(a.w == 16 && a.h == 24 && b.w == 24 && b.h == 16);
    int bad = 0;
    for (int y = 0; y < b.h; y++)
        for (int x = 0; x < b.w; x++) /* source (x, y) lands at column h-1-y, row x */
            bad += memcmp(b.data + (size_t)y * b.stride + 3 * x, a.data + (size_t)x * a.stride + 3 * (b.h - 1 - y), 3) != 0;
    CHECKF(bad == 0, "%d pixels misplaced", bad);
    free(j);
    free(k);
    rfs_frame_free(&f);
    rfs_frame_free(&a);
    rfs_frame_free(&b);
}

/* ---- y4m and video errors -------------------------------------------------------------------- */

TEST(y4m_roundtrip_and_errors) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/rfs_test_%d.y4m", (int)getpid());
    rfs_frame f = {0}, g = {0};
    CHECK(rfs_frame_alloc(&f, 33, 20, 0, RFS_PIX_BGR8) == RFS_OK);
    fill_picture(&f);
    for (int chroma = 420; chroma <= 444; chroma += 24) {
        rfs_y4m_writer *w;
        CHECK(rfs_y4m_writer_open(&w, path, 33, 20, 29.97, chroma) == RFS_OK);
        CHECK(rfs_y4m_write(w, &f) == RFS_OK);
        CHECK(rfs_y4m_write(w, &f) == RFS_OK);
        rfs_frame small = f;
        small.w = 10;
        CHECK(rfs_y4m_write(w, &small) == RFS_ERR_ARG);
        CHECK(rfs_y4m_writer_close(w) == RFS_OK);
        rfs_y4m_reader *r;
        CHECK(rfs_y4m_open(&r, path, 0, 0) == RFS_OK);
        CHECK(rfs_y4m_width(r) == 33 && rfs_y4m_height(r) == 20 && rfs_y4m_frame_count(r) == 2);
        CHECKF(rfs_y4m_fps(r) > 29.969 && rfs_y4m_fps(r) < 29.971, "fps %g", rfs_y4m_fps(r));
        int done, frames = 0;
        long err = 0;
        while (rfs_y4m_read(r, &g, &done) == RFS_OK && !done) {
            frames++;
            for (int y = 0; y < 20; y++)
                for (int x = 0; x < 33 * 3; x++)
                    err += labs((long)f.data[y * f.stride + x] - g.data[y * g.stride + x]);
        }
        double mean = (double)err / (frames * 20 * 33 * 3);
        CHECKF(frames == 2 && mean < (chroma == 444 ? 1.5 : 8), "chroma %d: %d frames, mean error %.2f", chroma, frames,
               mean);
        rfs_y4m_close(r);
    }
    /* truncated last frame, bad headers, absurd sizes */
    size_t n;
    uint8_t *b = test_read_file(path, &n);
    FILE *o = fopen(path, "wb");
    fwrite(b, 1, n - 100, o);
    fclose(o);
    rfs_y4m_reader *r;
    int done = 0;
    CHECK(rfs_y4m_open(&r, path, 0, 0) == RFS_OK);
    CHECK(rfs_y4m_read(r, &g, &done) == RFS_OK && !done);
    CHECK(rfs_y4m_read(r, &g, &done) == RFS_ERR_FORMAT && !done);
    CHECK(rfs_y4m_read(r, &g, &done) == RFS_OK && done);
    rfs_y4m_close(r);
    const char *bad[] = {"YUV4MPEG2 W100000 H100000 C420\n", "YUV4MPEG2 W-5 H10\n", "YUV4MPEG2 H10\n",
                         "YUV4MPEG2 W10 H10 C420p10\n", "YUV4MPEG3 W10 H10\n", "YUV4MPEG2 W10 H10"};
    rfs_status want[] = {RFS_ERR_LIMIT, RFS_ERR_FORMAT, RFS_ERR_FORMAT, RFS_ERR_UNSUPPORTED, RFS_ERR_FORMAT,
                         RFS_ERR_FORMAT};
    for (int i = 0; i < 6; i++) {
        o = fopen(path, "wb");
        fputs(bad[i], o);
        fclose(o);
        r = NULL;
        rfs_status st = rfs_y4m_open(&r, path, 0, 0);
        CHECKF(st == want[i] && r == NULL, "header %d: status %d (%s)", i, st, rfs_last_error());
    }
    CHECK(rfs_y4m_open(&r, "/nonexistent/x.y4m", 0, 0) == RFS_ERR_IO);
    remove(path);
    free(b);
    rfs_frame_free(&f);
    rfs_frame_free(&g);
}

TEST(video_errors) {
    rfs_video *v = (rfs_video *)1;
    CHECK(rfs_video_open(&v, "/nonexistent/x.mp4", NULL) == RFS_ERR_IO && v == NULL);
    char path[64];
    snprintf(path, sizeof path, "/tmp/rfs_test_%d.mp4", (int)getpid());
    FILE *o = fopen(path, "wb");
    for (int i = 0; i < 50000; i++) fputc((int)(rnd() & 255), o);
    fclose(o);
    rfs_status st = rfs_video_open(&v, path, NULL);
    CHECKF(st == RFS_ERR_FORMAT || st == RFS_ERR_UNSUPPORTED, "garbage video: %d %s", st, rfs_last_error());
    remove(path);
    rfs_video_close(NULL);
    rfs_video_writer *w;
    CHECK(rfs_video_writer_open(&w, path, 0, 10, 30) == RFS_ERR_ARG);
}

TEST(example_video_reads) {
    rfs_video *v;
    const char *path = test_shared("videos/example_video.mp4");
    rfs_status st = rfs_video_open(&v, path, NULL);
#if RFS_HAVE_FFMPEG
    CHECKF(st == RFS_OK, "%s: %s", path, rfs_last_error());
    if (st) return;
    CHECK(rfs_video_width(v) == 426 && rfs_video_height(v) == 240 && rfs_video_frame_count(v) == 431);
    CHECK(rfs_video_fps(v) == 30.0 && rfs_video_rotation(v) == 0);
    rfs_frame f = {0};
    int done = 0, n = 0;
    uint8_t *first = NULL;
    while (rfs_video_read(v, &f, &done) == RFS_OK && !done) {
        if (!first) first = f.data;
        CHECK(f.data == first); /* one buffer for the whole video */
        n++;
    }
    CHECK(done && n == 431 && f.w == 426 && f.h == 240 && f.stride >= 3 * 426);
    CHECK(rfs_video_frame_index(v) == 431);
    rfs_frame_free(&f);
    rfs_video_close(v);
#else
    CHECKF(st == RFS_ERR_UNSUPPORTED, "without FFmpeg: %d %s", st, rfs_last_error());
#endif
}

/* ---- failing disks and special files ---------------------------------------------------------- */

/* The writers under test, each writing one w x h noise frame (or two for videos) to path;
 * the status of the whole run (open, writes, close), the first error kept. */
enum { W_PNG, W_Y4M, W_MP4, W_COUNT };
static const char *const writer_name[W_COUNT] = {"png", "y4m", "mp4"};

static char writer_msg[1024]; /* the message of the first failure in run_writer */

static rfs_status keep_msg(rfs_status st) {
    if (st && !writer_msg[0]) snprintf(writer_msg, sizeof writer_msg, "%s", rfs_last_error());
    return st;
}

static rfs_status run_writer(int kind, const char *path, const rfs_frame *f) {
    writer_msg[0] = 0;
    if (kind == W_PNG) return keep_msg(rfs_image_write_png(path, f));
    if (kind == W_Y4M) {
        rfs_y4m_writer *y;
        rfs_status st = keep_msg(rfs_y4m_writer_open(&y, path, f->w, f->h, 25, 420));
        if (st) return st;
        for (int i = 0; i < 6 && !st; i++) st = keep_msg(rfs_y4m_write(y, f));
        rfs_status st2 = keep_msg(rfs_y4m_writer_close(y));
        return st ? st : st2;
    }
    rfs_video_writer *w;
    rfs_status st = keep_msg(rfs_video_writer_open(&w, path, f->w, f->h, 25));
    if (st) return st;
    for (int i = 0; i < 6 && !st; i++) st = keep_msg(rfs_video_writer_write(w, f));
    rfs_status st2 = keep_msg(rfs_video_writer_close(w));
    return st ? st : st2;
}

/* Nothing a failing writer touches may be lost: a read-only file and an empty directory
 * at the destination survive, /dev/full and FIFOs are refused as outputs (and survive),
 * a write that fails on the file size limit (ulimit -f, SIGXFSZ ignored: EFBIG) is an
 * error that leaves the destination as it was, and no temporary file is left behind. */
TEST(failing_writers_destroy_nothing) {
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/rfs_wr_XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    rfs_frame f = {0};
    CHECK(rfs_frame_alloc(&f, 256, 192, 0, RFS_PIX_BGR8) == RFS_OK);
    for (int y = 0; y < f.h; y++)
        for (int x = 0; x < 3 * f.w; x++) f.data[(size_t)y * f.stride + x] = (uint8_t)rnd();
    char path[400], fifo[128];
#if RFS_HAVE_FFMPEG
    int kinds = W_COUNT;
#else
    int kinds = W_MP4; /* PNG and y4m only */
#endif
    for (int k = 0; k < kinds; k++) {
        const char *ext = writer_name[k];
        snprintf(fifo, sizeof fifo, "%s/fifo.%s", dir, ext);
        CHECK(mkfifo(fifo, 0600) == 0);
        int before = test_dir_entries(dir);
        /* an empty directory */
        snprintf(path, sizeof path, "%s/emptydir.%s", dir, ext);
        CHECK(mkdir(path, 0755) == 0);
        rfs_status st = run_writer(k, path, &f);
        struct stat sb;
        CHECKF(st == RFS_ERR_IO && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode) && test_dir_entries(path) == 0,
               "%s onto an empty directory: %d (%s)", ext, st, rfs_last_error());
        /* /dev/full: refused, and still there */
        st = run_writer(k, "/dev/full", &f);
        CHECKF(st == RFS_ERR_IO && strstr(rfs_last_error(), "device"), "%s to /dev/full: %d (%s)", ext, st,
               rfs_last_error());
        CHECK(stat("/dev/full", &sb) == 0 && S_ISCHR(sb.st_mode));
        /* a FIFO: refused at once (a writer that opened it would block without a reader) */
        alarm(20);
        st = run_writer(k, fifo, &f);
        alarm(0);
        CHECKF(st == RFS_ERR_IO && strstr(rfs_last_error(), "FIFO"), "%s to a FIFO: %d (%s)", ext, st,
               rfs_last_error());
        CHECK(stat(fifo, &sb) == 0 && S_ISFIFO(sb.st_mode));
        /* a read-only file, the write failing on the file size limit */
        snprintf(path, sizeof path, "%s/precious.%s", dir, ext);
        test_write_text(path, "precious\n");
        CHECK(chmod(path, 0444) == 0);
        test_fsize_saved fs;
        CHECK(test_fsize_limit(&fs, 16384) == 0);
        st = run_writer(k, path, &f);
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", writer_msg);
        test_fsize_unlimit(&fs);
        CHECKF(st == RFS_ERR_IO, "%s under ulimit -f: %d (%s)", ext, st, msg);
        printf("  %s under ulimit -f: %s\n", ext, msg);
        size_t n = 0;
        uint8_t *b = test_read_file(path, &n);
        CHECKF(b && n == 9 && !memcmp(b, "precious\n", 9) && stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0444,
               "%s: the read-only file was changed", ext);
        free(b);
        CHECKF(test_dir_entries(dir) == before + 2, "%s: %d entries left in %s, expected %d (no temporary files)", ext,
               test_dir_entries(dir), dir, before + 2);
        /* and a writer that succeeds replaces nothing but its own destination */
        snprintf(path, sizeof path, "%s/new.%s", dir, ext);
        st = run_writer(k, path, &f);
        CHECKF(st == RFS_OK && stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 1000,
               "%s: %d (%s)", ext, st, rfs_last_error());
        CHECK(test_dir_entries(dir) == before + 3);
    }
    /* clean up what this test made */
    test_empty_dir(dir);
    CHECK(rmdir(dir) == 0);
    rfs_frame_free(&f);
}

/* FIFOs and devices given as inputs are refused before anything reads them (a read of a
 * FIFO without a writer would block forever); the alarm turns a hang into a failure. */
TEST(special_inputs_refused) {
    char fifo[64];
    snprintf(fifo, sizeof fifo, "/tmp/rfs_fifo_%d", (int)getpid());
    CHECK(mkfifo(fifo, 0600) == 0);
    rfs_frame f = {0};
    alarm(20);
    CHECK(rfs_image_load(&f, fifo, NULL) == RFS_ERR_IO && strstr(rfs_last_error(), "FIFO"));
    CHECK(rfs_image_load(&f, "/dev/zero", NULL) == RFS_ERR_IO && strstr(rfs_last_error(), "device"));
    CHECK(rfs_image_load(&f, "/tmp", NULL) == RFS_ERR_IO && strstr(rfs_last_error(), "directory"));
    rfs_y4m_reader *r = NULL;
    CHECK(rfs_y4m_open(&r, fifo, 0, 0) == RFS_ERR_IO && r == NULL && strstr(rfs_last_error(), "FIFO"));
    rfs_video *v = NULL;
    CHECK(rfs_video_open(&v, fifo, NULL) == RFS_ERR_IO && v == NULL && strstr(rfs_last_error(), "FIFO"));
    CHECK(rfs_video_open(&v, "/dev/zero", NULL) == RFS_ERR_IO && v == NULL);
    alarm(0);
    /* a stream is the caller's explicit choice: a y4m FIFO with a writer is read */
    pid_t pid = fork();
    if (pid == 0) {
        FILE *o = fopen(fifo, "wb");
        fputs("YUV4MPEG2 W4 H2 F25:1 C420jpeg\nFRAME\n", o);
        for (int i = 0; i < 12; i++) fputc(128, o);
        fclose(o);
        _exit(0);
    }
    alarm(20);
    rfs_status st = rfs_y4m_open_stream(&r, fifo, 0, 0);
    int done = 0;
    CHECKF(st == RFS_OK, "y4m stream: %s", rfs_last_error());
    if (!st) {
        CHECK(rfs_y4m_frame_count(r) == -1);
        CHECK(rfs_y4m_read(r, &f, &done) == RFS_OK && !done && f.w == 4 && f.h == 2);
        CHECK(rfs_y4m_read(r, &f, &done) == RFS_OK && done);
        rfs_y4m_close(r);
    }
    alarm(0);
    int status;
    waitpid(pid, &status, 0);
    remove(fifo);
    rfs_frame_free(&f);
}

/* A video file is read alone: a playlist naming other files (which could be FIFOs or
 * devices) does not open. */
TEST(video_file_read_alone) {
#if RFS_HAVE_FFMPEG
    char path[64];
    snprintf(path, sizeof path, "/tmp/rfs_test_%d.m3u8", (int)getpid());
    char text[1400];
    snprintf(text, sizeof text, "#EXTM3U\n#EXT-X-TARGETDURATION:15\n#EXTINF:14.3,\n%s\n#EXT-X-ENDLIST\n",
             test_shared("videos/example_video.mp4"));
    test_write_text(path, text);
    rfs_video *v = NULL;
    rfs_status st = rfs_video_open(&v, path, NULL);
    CHECKF(st != RFS_OK && v == NULL && strstr(rfs_last_error(), "other files"), "%d %s", st, rfs_last_error());
    remove(path);
#endif
}

/* A cut y4m file is an error through FFmpeg too (its demuxer drops the partial frame
 * silently), and an absurd frame size says so whichever reader opens it. */
TEST(y4m_cut_and_oversized_through_video) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/rfs_test_cut_%d.y4m", (int)getpid());
    const int w = 16, h = 8, fb = w * h * 3 / 2;
    FILE *o = fopen(path, "wb");
    fputs("YUV4MPEG2 W16 H8 F25:1 Ip A1:1 C420jpeg\n", o);
    for (int i = 0; i < 3; i++) {
        fputs("FRAME\n", o);
        for (int k = 0; k < (i == 2 ? fb / 2 : fb); k++) fputc((int)(rnd() & 255), o);
    }
    fclose(o);
    rfs_video *v;
    rfs_frame f = {0};
    rfs_status st = rfs_video_open(&v, path, NULL);
    CHECKF(st == RFS_OK, "%s", rfs_last_error());
    if (!st) {
        int done = 0, good = 0, errors = 0;
        for (int i = 0; i < 10; i++) {
            st = rfs_video_read(v, &f, &done);
            if (done) break;
            if (st) {
                errors++;
                CHECKF(strstr(rfs_last_error(), "truncated"), "%s", rfs_last_error());
            } else {
                good++;
            }
        }
        CHECKF(done && good == 2 && errors == 1, "%d frames, %d errors", good, errors);
        rfs_video_close(v);
    }
    const char *huge[] = {"YUV4MPEG2 W100000 H100000 F25:1 C420jpeg\nFRAME\nxyz",
                          "YUV4MPEG2 W1000000000 H2 F25:1 C420jpeg\nFRAME\nxyz"};
    rfs_status want[] = {RFS_ERR_LIMIT, RFS_ERR_FORMAT};
    for (int i = 0; i < 2; i++) {
        test_write_text(path, huge[i]);
        v = NULL;
        st = rfs_video_open(&v, path, NULL);
        CHECKF(st == want[i] && v == NULL && strstr(rfs_last_error(), i ? "width" : "exceeds the limit") &&
                   !strstr(rfs_last_error(), "busy"),
               "%d: %s", st, rfs_last_error());
    }
    remove(path);
    rfs_frame_free(&f);
}

/* ---- annotation ------------------------------------------------------------------------------ */

static const uint8_t *px(const rfs_frame *f, int x, int y) { return f->data + (size_t)y * f->stride + 3 * x; }

/* round-half-even((c + s) / 2): cv2.addWeighted(c, 0.5, s, 0.5, 0) on bytes */
static int blend_half(int c, int s) {
    int q = (c + s) >> 1;
    return ((c + s) & 1) ? q + (q & 1) : q;
}

TEST(annotate_draws) {
    rfs_frame f = {0};
    CHECK(rfs_frame_alloc(&f, 120, 100, 0, RFS_PIX_BGR8) == RFS_OK);
    memset(f.data, 101, (size_t)f.stride * f.h);
    /* det 0: big mask (class 1); det 1: small mask on top of it (class 2), no label text */
    uint8_t big[40 * 40], small[10 * 10];
    memset(big, 1, sizeof big);
    memset(small, 1, sizeof small);
    big[0] = 0; /* a hole: pixel (20, 40) stays untouched by masks */
    rfs_mask m0 = {20, 40, 40, 40, big}, m1 = {30, 50, 10, 10, small};
    rfs_annot_det d[3] = {
        {.box = {18.7f, 38.2f, 70.9f, 90.5f}, .class_id = 1, .score = 0.93f, .label = "car", .mask = &m0},
        {.box = {29, 49, 41, 61}, .class_id = 2, .score = -1, .label = NULL, .mask = &m1},
        {.box = {-50, -50, 500, 500}, .class_id = 3, .score = 0.5f, .label = "huge", .mask = NULL},
    };
    rfs_annotator *a;
    rfs_annot_opts o = {.no_boxes = 0};
    CHECK(rfs_annotator_create(&a, &o) == RFS_OK);
    CHECK(rfs_annotate(a, &f, d, 2) == RFS_OK);
    uint8_t c1[3], c2[3];
    rfs_annot_color(1, c1);
    rfs_annot_color(2, c2);
    CHECK(c1[2] == 0xFF && c1[1] == 0x40 && c1[0] == 0x40); /* FF4040 */
    const uint8_t *p = px(&f, 50, 75);                      /* inside mask 0 only */
    for (int ch = 0; ch < 3; ch++) CHECKF(p[ch] == blend_half(c1[ch], 101), "mask blend ch %d: %d", ch, p[ch]);
    p = px(&f, 35, 55); /* inside both masks: the smaller one is on top */
    for (int ch = 0; ch < 3; ch++) CHECKF(p[ch] == blend_half(c2[ch], 101), "overlap ch %d: %d", ch, p[ch]);
    p = px(&f, 20, 40); /* mask hole, but on box 0's edge band (x 17..19): no; (20, 40) is inside */
    CHECK(p[0] == 101 && p[1] == 101 && p[2] == 101);
    p = px(&f, 18, 70); /* box 0 left edge: (int)18.7 = 18, drawn 17..19 */
    CHECK(memcmp(p, c1, 3) == 0);
    CHECK(memcmp(px(&f, 17, 70), c1, 3) == 0 && memcmp(px(&f, 19, 70), c1, 3) == 0);
    CHECK(px(&f, 16, 85)[0] == 101 && px(&f, 20, 85)[0] == 101); /* below the mask rows */
    CHECK(memcmp(px(&f, 70, 89), c1, 3) == 0); /* right edge x 69..71, bottom y 89..91 */
    CHECK(memcmp(px(&f, 45, 91), c1, 3) == 0);
    /* the label "car 0.93" sits above box 0: rows 38 - 11 .. 37, starting at x 18 */
    CHECK(memcmp(px(&f, 18, 37), c1, 3) == 0 && memcmp(px(&f, 18, 27), c1, 3) == 0);
    CHECK(px(&f, 18, 26)[0] == 101);
    int white = 0;
    for (int y = 27; y < 38; y++)
        for (int x = 18; x < 70; x++) white += px(&f, x, y)[0] == 255 && px(&f, x, y)[1] == 255;
    CHECKF(white > 20, "label text pixels: %d", white);
    p = px(&f, 100, 10); /* untouched */
    CHECK(p[0] == 101 && p[1] == 101 && p[2] == 101);

    /* a box far outside the frame, on an RGB frame: no crash, colors swapped */
    rfs_frame_swap_rb(&f);
    CHECK(rfs_annotate(a, &f, d + 2, 1) == RFS_OK);
    uint8_t c3[3];
    rfs_annot_color(3, c3);
    p = px(&f, 0, 99); /* no edge is inside the frame; the label is clamped to the top-left */
    CHECK(p[0] != c3[2] || p[1] != c3[1] || p[2] != c3[0]);
    p = px(&f, 0, 0);
    CHECK(p[0] == c3[2] && p[1] == c3[1] && p[2] == c3[0]);
    CHECK(rfs_annotate(a, &f, NULL, 0) == RFS_OK);
    CHECK(rfs_annotate(a, &f, NULL, 1) == RFS_ERR_ARG);
    int tw, th;
    rfs_annot_text_size("ab", 2, &tw, &th);
    CHECK(tw == 22 && th == 14);
    rfs_annotator_free(a);
    rfs_frame_free(&f);
}

int main(void) {
    RUN(frame_alloc_reuse_wrap_swap);
    RUN(png_write_roundtrip);
    RUN(bad_jpeg);
    RUN(bad_png);
    RUN(bad_bmp);
    RUN(garbage_and_fuzz);
    RUN(exif_orientation);
    RUN(y4m_roundtrip_and_errors);
    RUN(video_errors);
    RUN(example_video_reads);
    RUN(failing_writers_destroy_nothing);
    RUN(special_inputs_refused);
    RUN(y4m_cut_and_oversized_through_video);
    RUN(video_file_read_alone);
    RUN(annotate_draws);
    return test_summary();
}
