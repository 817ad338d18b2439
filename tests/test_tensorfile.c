/* test_tensorfile.c - the checkpoint readers: the official-format fixtures, the safetensors
 * writer, float32 conversion, and malformed files built here (truncated and patched
 * archives, hand-written pickles, broken safetensors headers).
 *
 * Expected numbers for the fixtures (counts, sums) were computed with Python's own pickle
 * module and numpy on the raw storages (dev/tensorfile/inspect_pth.py), not with rfseg.
 */
#include "harness.h"
#include "io/tensorfile.h"
#include "model/package.h"

#include <math.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

/* ---- helpers ---------------------------------------------------------------------------- */

static const char *tmp_path(const char *tag) {
    static char buf[8][256];
    static int k;
    char *b = buf[k++ & 7];
    snprintf(b, sizeof buf[0], "/tmp/rfs_test_tensorfile_%d_%s", (int)getpid(), tag);
    return b;
}

/* Opens bytes from memory and expects `want`; the message must name the label and contain
 * `needle` (when given). */
#define EXPECT_OPEN_FAILS(data, size, want, needle)                                          \
    do {                                                                                     \
        rfs_tensorfile *f_ = NULL;                                                           \
        rfs_status st_ = rfs_tensorfile_open_mem(&f_, (data), (size), "bad.pth");            \
        const char *msg_ = rfs_last_error();                                                 \
        if (getenv("RFS_TEST_VERBOSE")) printf("  [%s]\n", msg_);                           \
        CHECKF(st_ == (want), "status %d (%s), want %d: %s", st_, rfs_status_name(st_),      \
               (want), msg_);                                                                \
        CHECKF(f_ == NULL, "%s", "file returned on failure");                                \
        CHECKF(strstr(msg_, "bad.pth") == msg_, "message does not start with the label: %s", \
               msg_);                                                                        \
        CHECKF(!(needle) || strstr(msg_, (needle) ? (needle) : ""), "'%s' not in: %s",       \
               (needle) ? (needle) : "", msg_);                                              \
        rfs_tensorfile_free(f_);                                                             \
    } while (0)

static double sum_f32(const rfs_tensor *t, double *sumsq) {
    int64_t n = rfs_tensor_numel(t);
    float *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    double s = 0, s2 = 0;
    if (rfs_tensor_to_f32(t, v) == RFS_OK)
        for (int64_t i = 0; i < n; i++) s += v[i], s2 += (double)v[i] * v[i];
    else
        s = NAN;
    free(v);
    if (sumsq) *sumsq = s2;
    return s;
}

/* ---- a byte builder for hand-written pickles ------------------------------------------ */

typedef struct pk {
    uint8_t b[4096];
    size_t n;
} pk;

static void pk_bytes(pk *p, const void *s, size_t n) {
    if (p->n + n > sizeof p->b) abort();
    memcpy(p->b + p->n, s, n);
    p->n += n;
}
static void pk_op(pk *p, uint8_t op) { pk_bytes(p, &op, 1); }
static void pk_u32(pk *p, uint32_t v) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    pk_bytes(p, b, 4);
}
static void pk_str(pk *p, const char *s) { /* BINUNICODE */
    pk_op(p, 'X');
    pk_u32(p, (uint32_t)strlen(s));
    pk_bytes(p, s, strlen(s));
}
static void pk_int(pk *p, int32_t v) { /* BININT */
    pk_op(p, 'J');
    pk_u32(p, (uint32_t)v);
}
static void pk_global(pk *p, const char *mod, const char *name) {
    pk_op(p, 'c');
    pk_bytes(p, mod, strlen(mod));
    pk_op(p, '\n');
    pk_bytes(p, name, strlen(name));
    pk_op(p, '\n');
}
static void pk_ints(pk *p, int n, const int64_t *v) { /* a tuple of ints */
    pk_op(p, '(');
    for (int i = 0; i < n; i++) pk_int(p, (int32_t)v[i]);
    pk_op(p, 't');
}
/* torch's encoding of a tensor: _rebuild_tensor_v2(persistent storage, offset, size, stride,
 * False, OrderedDict()) */
static void pk_tensor(pk *p, const char *storage_type, const char *key, int32_t numel,
                      int32_t offset, int ndim, const int64_t *size, const int64_t *stride) {
    pk_global(p, "torch._utils", "_rebuild_tensor_v2");
    pk_op(p, '(');
    pk_op(p, '(');
    pk_str(p, "storage");
    pk_global(p, "torch", storage_type);
    pk_str(p, key);
    pk_str(p, "cpu");
    pk_int(p, numel);
    pk_op(p, 't');
    pk_op(p, 'Q');
    pk_int(p, offset);
    pk_ints(p, ndim, size);
    pk_ints(p, ndim, stride);
    pk_op(p, 0x89);
    pk_global(p, "collections", "OrderedDict");
    pk_op(p, ')');
    pk_op(p, 'R');
    pk_op(p, 't');
    pk_op(p, 'R');
}
static void pk_begin(pk *p) {
    p->n = 0;
    pk_op(p, 0x80);
    pk_op(p, 2);
}
/* a contiguous float tensor of `numel` elements on storage `key` */
static void pk_vec(pk *p, const char *key, int32_t numel) {
    int64_t size[1] = {numel}, stride[1] = {1};
    pk_tensor(p, "FloatStorage", key, numel, 0, 1, size, stride);
}

/* ---- building archives with libzip ----------------------------------------------------- */

typedef struct zent {
    const char *name;
    const void *data;
    size_t len;
    int deflate;
} zent;

/* Writes a zip of the entries (stored unless deflate) and returns its bytes. */
static uint8_t *make_zip(const zent *e, int n, size_t *size) {
    const char *path = tmp_path("zip");
    remove(path);
    int err = 0;
    zip_t *za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &err);
    if (!za) return NULL;
    for (int i = 0; i < n; i++) {
        zip_source_t *src = zip_source_buffer(za, e[i].data, e[i].len, 0);
        zip_int64_t idx = zip_file_add(za, e[i].name, src, ZIP_FL_ENC_UTF_8);
        zip_set_file_compression(za, (zip_uint64_t)idx, e[i].deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0);
    }
    if (zip_close(za) != 0) return NULL;
    uint8_t *b = test_read_file(path, size);
    remove(path);
    return b;
}

static float storage0[256], storage1[256];

/* A torch-like archive: arch/data.pkl plus arch/data/0 (storage0) and arch/data/1 (storage1). */
static uint8_t *make_pth(const pk *p, size_t *size) {
    zent e[] = {
        {"arch/data.pkl", p->b, p->n, 0},
        {"arch/byteorder", "little", 6, 0},
        {"arch/data/0", storage0, sizeof storage0, 0},
        {"arch/data/1", storage1, sizeof storage1, 0},
        {"arch/version", "3\n", 2, 0},
    };
    return make_zip(e, 5, size);
}

static void init_storages(void) {
    for (int i = 0; i < 256; i++) storage0[i] = (float)i, storage1[i] = -0.5f * (float)i;
}

/* ---- the official-format fixtures ------------------------------------------------------ */

/* Reads an entry of the fixture with libzip directly, to compare with the reader's data. */
static uint8_t *zip_entry(const char *path, const char *name, size_t *n) {
    int err;
    zip_t *za = zip_open(path, ZIP_RDONLY, &err);
    if (!za) return NULL;
    zip_stat_t sb;
    uint8_t *b = NULL;
    if (zip_stat(za, name, 0, &sb) == 0 && (b = malloc(sb.size + 1))) {
        zip_file_t *zf = zip_fopen(za, name, 0);
        *n = zf ? (size_t)zip_fread(zf, b, sb.size) : 0;
        if (zf) zip_fclose(zf);
    }
    zip_discard(za);
    return b;
}

static void check_raw(const char *path, const rfs_tensorfile *f, const char *name,
                      const char *entry, int64_t numel) {
    const rfs_tensor *t = rfs_tensorfile_find(f, name);
    size_t n = 0;
    uint8_t *raw = zip_entry(path, entry, &n);
    CHECKF(t && raw && n == (size_t)numel * 4, "%s: entry %s (%zu bytes)", name, entry, n);
    if (t && raw && n == (size_t)numel * 4) {
        float *v = malloc(n);
        CHECK(rfs_tensor_to_f32(t, v) == RFS_OK);
        CHECKF(!memcmp(v, raw, n), "%s differs from %s", name, entry);
        free(v);
    }
    free(raw);
}

TEST(pth_tiny_w1) {
    const char *path = test_shared("fixtures/rfdetr/tiny-w1.pth");
    rfs_tensorfile *f = NULL;
    rfs_status st = rfs_tensorfile_open(&f, path);
    CHECKF(st == RFS_OK, "%s", rfs_last_error());
    if (st != RFS_OK) return;
    CHECKF(f->count == 380, "count %d", f->count);
    CHECK(!strcmp(f->state_key, "model"));
    const rfs_tensor *t = rfs_tensorfile_find(f, "class_embed.bias");
    CHECK(t && t->dtype == RFS_DT_F32 && t->ndim == 1 && t->shape[0] == 6 && t->stride[0] == 1);
    CHECK(t && !strcmp(t->name, "class_embed.bias"));
    t = rfs_tensorfile_find(f, "query_feat.weight");
    CHECK(t && t->ndim == 2 && t->shape[0] == 260 && t->shape[1] == 64 && t->stride[0] == 64);
    t = rfs_tensorfile_find(f, "refpoint_embed.weight");
    CHECK(t && t->ndim == 2 && t->shape[0] == 260 && t->shape[1] == 4);
    CHECK(rfs_tensorfile_find(f, "no.such.tensor") == NULL);
    CHECK(rfs_tensorfile_find(f, "") == NULL);
    CHECK(rfs_tensorfile_find(f, "_metadata") == NULL);

    /* values equal the raw storages (keys from the pickle, read by Python) */
    check_raw(path, f, "class_embed.bias", "tiny-w1/data/207", 6);
    check_raw(path, f, "query_feat.weight", "tiny-w1/data/238", 260 * 64);
    check_raw(path, f, "refpoint_embed.weight", "tiny-w1/data/237", 260 * 4);
    check_raw(path, f, "transformer.decoder.layers.0.self_attn.in_proj_weight", "tiny-w1/data/0",
              192 * 64);
    float v[6];
    CHECK(rfs_tensor_to_f32(rfs_tensorfile_find(f, "class_embed.bias"), v) == RFS_OK);
    CHECKF(v[0] == -1.5751593f && v[1] == 1.746752f, "%.9g %.9g", v[0], v[1]);

    /* every tensor: numel and sums as numpy computes them */
    int64_t total = 0;
    double s = 0, s2 = 0;
    for (int i = 0; i < f->count; i++) {
        double q;
        total += rfs_tensor_numel(&f->tensors[i]);
        s += sum_f32(&f->tensors[i], &q);
        s2 += q;
        CHECK(rfs_tensorfile_find(f, f->tensors[i].name) == &f->tensors[i]);
    }
    CHECKF(total == 2191565, "numel %lld", (long long)total);
    CHECKF(fabs(s - 4949.64096439) < 1e-6, "sum %.12g", s);
    CHECKF(fabs(s2 - 26239.6947339) < 1e-5, "sumsq %.12g", s2);

    /* args: an argparse.Namespace */
    const rfs_value *a = f->args;
    CHECK(a && a->kind == RFS_V_DICT);
    CHECK(rfs_value_int(a, "num_classes", -1) == 5);
    CHECK(rfs_value_int(a, "resolution", -1) == 96);
    CHECK(rfs_value_int(a, "num_windows", -1) == 1);
    CHECK(rfs_value_int(a, "amp", -1) == 1); /* a bool */
    CHECK(rfs_value_int(a, "missing", -7) == -7);
    CHECK(rfs_value_int(a, "encoder", -7) == -7); /* a str */
    CHECK(fabs(rfs_value_float(a, "lr", 0) - 1e-4) < 1e-18);
    CHECK(rfs_value_float(a, "num_classes", 0) == 5.0); /* floats accept ints */
    CHECK(!strcmp(rfs_value_str(a, "encoder", ""), "dinov2_windowed_small"));
    CHECK(!strcmp(rfs_value_str(a, "resume", "x"), ""));
    CHECK(rfs_value_get(a, "pretrain_weights") && rfs_value_get(a, "pretrain_weights")->kind == RFS_V_NONE);
    const rfs_value *ofi = rfs_value_get(a, "out_feature_indexes");
    CHECK(ofi && ofi->kind == RFS_V_LIST && ofi->len == 3);
    if (ofi && ofi->len == 3)
        CHECK(ofi->items[0]->i == 2 && ofi->items[1]->i == 4 && ofi->items[2]->i == 6);
    const rfs_value *ps = rfs_value_get(a, "projector_scale");
    CHECK(ps && ps->kind == RFS_V_LIST && ps->len == 1 && !strcmp(ps->items[0]->str, "P4"));
    CHECK(f->root && f->root->kind == RFS_V_DICT && rfs_value_get(f->root, "args") == a);
    CHECK(rfs_value_get(f->root, "model")->kind == RFS_V_DICT);
    rfs_tensorfile_free(f);
}

TEST(pth_tiny_w2_and_open_mem) {
    const char *path = test_shared("fixtures/rfdetr/tiny-w2.pth");
    size_t n = 0;
    uint8_t *bytes = test_read_file(path, &n);
    CHECKF(bytes && n > 0, "cannot read %s", path);
    if (!bytes) return;
    rfs_tensorfile *f = NULL, *g = NULL;
    rfs_status st = rfs_tensorfile_open_mem(&f, bytes, n, "w2");
    free(bytes); /* the reader keeps no reference to the caller's buffer */
    CHECKF(st == RFS_OK, "%s", rfs_last_error());
    st = rfs_tensorfile_open(&g, path);
    CHECKF(st == RFS_OK, "%s", rfs_last_error());
    if (!f || !g) goto done;
    CHECKF(f->count == 408 && g->count == 408, "count %d %d", f->count, g->count);
    int64_t total = 0;
    double s = 0, s2 = 0;
    for (int i = 0; i < f->count; i++) {
        double q;
        total += rfs_tensor_numel(&f->tensors[i]);
        s += sum_f32(&f->tensors[i], &q);
        s2 += q;
        const rfs_tensor *t = rfs_tensorfile_find(g, f->tensors[i].name);
        CHECK(t && t->ndim == f->tensors[i].ndim &&
              !memcmp(t->data, f->tensors[i].data, (size_t)rfs_tensor_numel(t) * 4));
    }
    CHECKF(total == 2508553, "numel %lld", (long long)total);
    CHECKF(fabs(s - 4871.20560163) < 1e-6, "sum %.12g", s);
    CHECKF(fabs(s2 - 36150.743775) < 1e-5, "sumsq %.12g", s2);
    const rfs_tensor *t = rfs_tensorfile_find(f, "class_embed.bias");
    CHECK(t && t->ndim == 1 && t->shape[0] == 8);
    CHECKF(fabs(sum_f32(t, NULL) - -27.5507504) < 1e-6, "%.9g", sum_f32(t, NULL));
    t = rfs_tensorfile_find(f, "query_feat.weight");
    CHECK(t && t->shape[0] == 390 && t->shape[1] == 64);
    CHECK(rfs_value_int(f->args, "num_classes", 0) == 7);
    CHECK(rfs_value_int(f->args, "resolution", 0) == 144);
    CHECK(rfs_value_int(f->args, "num_windows", 0) == 2);
done:
    rfs_tensorfile_free(f);
    rfs_tensorfile_free(g);
}

TEST(safetensors_reference_outputs) {
    rfs_tensorfile *f = NULL;
    rfs_status st = rfs_tensorfile_open(&f, test_shared("fixtures/rfdetr/tiny-w1.ref.safetensors"));
    CHECKF(st == RFS_OK, "%s", rfs_last_error());
    if (st != RFS_OK) return;
    CHECKF(f->count == 84, "count %d", f->count);
    CHECK(f->args == NULL && f->root == NULL && !strcmp(f->state_key, ""));
    const rfs_tensor *t = rfs_tensorfile_find(f, "astronaut/input");
    CHECK(t && t->dtype == RFS_DT_F32 && t->ndim == 4 && t->shape[0] == 1 && t->shape[1] == 3 &&
          t->shape[2] == 96 && t->shape[3] == 96 && t->stride[0] == 3 * 96 * 96 &&
          t->stride[2] == 96 && t->stride[3] == 1);
    CHECKF(t && fabs(sum_f32(t, NULL) - -5.734051484) < 1e-6, "%.10g", t ? sum_f32(t, NULL) : 0);
    t = rfs_tensorfile_find(f, "coffee/input");
    CHECKF(t && fabs(sum_f32(t, NULL) - -7770.740439763573) < 1e-6, "coffee/input");
    t = rfs_tensorfile_find(f, "astronaut/post_labels");
    CHECK(t && t->dtype == RFS_DT_I32 && t->ndim == 1 && t->shape[0] == 20);
    CHECK(t && sum_f32(t, NULL) == 20.0);
    t = rfs_tensorfile_find(f, "astronaut/post_masks_top5_packbits");
    CHECK(t && t->dtype == RFS_DT_U8 && t->shape[0] == 5 && t->shape[1] == 512 && t->shape[2] == 64);
    CHECK(t && sum_f32(t, NULL) == 10046224.0);
    rfs_tensorfile_free(f);
}

/* ---- writer round trip ------------------------------------------------------------------ */

TEST(safetensors_write_roundtrip) {
    float a[6] = {1, -2, 3.5f, 1e-30f, -0.0f, 65504};
    int32_t b[4] = {-1, 0, 7, 2147483647};
    uint8_t c[3] = {0, 128, 255};
    float scalar = 42;
    const char *meta[] = {"format", "pt", "note", "quote\" back\\ tab\t ctl\x01 \xc3\xbc"};
    rfs_tensor_out out[] = {
        {"a/f32", RFS_DT_F32, 2, {2, 3}, a},
        {"b \"i32\" \xe2\x82\xac", RFS_DT_I32, 1, {4}, b},
        {"c.u8", RFS_DT_U8, 2, {3, 1}, c},
        {"scalar", RFS_DT_F32, 0, {0}, &scalar},
        {"empty", RFS_DT_F32, 2, {0, 5}, NULL},
    };
    const char *path = tmp_path("rt.safetensors");
    rfs_status st = rfs_safetensors_write(path, out, 5, meta, 2);
    CHECKF(st == RFS_OK, "%s", rfs_last_error());
    size_t n = 0;
    uint8_t *raw = test_read_file(path, &n);
    CHECK(raw && n > 8);
    if (raw) {
        uint64_t hlen = 0;
        for (int i = 0; i < 8; i++) hlen |= (uint64_t)raw[i] << (8 * i);
        CHECKF(hlen % 8 == 0 && 8 + hlen + 24 + 16 + 3 + 4 == n, "hlen %llu, size %zu",
               (unsigned long long)hlen, n);
        CHECK(raw[8] == '{' && raw[8 + hlen - 1] != 0);
        free(raw);
    }
    rfs_tensorfile *f = NULL;
    st = rfs_tensorfile_open(&f, path);
    CHECKF(st == RFS_OK, "%s", rfs_last_error());
    if (f) {
        CHECK(f->count == 5);
        for (int i = 0; i < 5 && i < f->count; i++) CHECK(!strcmp(f->tensors[i].name, out[i].name));
        float v[6];
        const rfs_tensor *t = rfs_tensorfile_find(f, "a/f32");
        CHECK(t && rfs_tensor_to_f32(t, v) == RFS_OK && !memcmp(v, a, sizeof a));
        t = rfs_tensorfile_find(f, out[1].name);
        CHECK(t && t->dtype == RFS_DT_I32 && rfs_tensor_to_f32(t, v) == RFS_OK && v[0] == -1 &&
              v[3] == 2147483648.0f);
        t = rfs_tensorfile_find(f, "c.u8");
        CHECK(t && t->ndim == 2 && rfs_tensor_to_f32(t, v) == RFS_OK && v[1] == 128 && v[2] == 255);
        t = rfs_tensorfile_find(f, "scalar");
        CHECK(t && t->ndim == 0 && rfs_tensor_numel(t) == 1 && rfs_tensor_to_f32(t, v) == RFS_OK &&
              v[0] == 42);
        t = rfs_tensorfile_find(f, "empty");
        CHECK(t && rfs_tensor_numel(t) == 0 && rfs_tensor_to_f32(t, v) == RFS_OK);
        CHECK(f->root && f->root->kind == RFS_V_DICT && f->root->len == 2);
        CHECK(!strcmp(rfs_value_str(f->root, "format", ""), "pt"));
        CHECK(!strcmp(rfs_value_str(f->root, "note", ""), meta[3]));
    }
    rfs_tensorfile_free(f);

    /* bad arguments */
    rfs_tensor_out dup[] = {{"x", RFS_DT_F32, 1, {1}, a}, {"x", RFS_DT_F32, 1, {1}, a}};
    CHECK(rfs_safetensors_write(path, dup, 2, NULL, 0) == RFS_ERR_ARG);
    rfs_tensor_out reserved[] = {{"__metadata__", RFS_DT_F32, 1, {1}, a}};
    CHECK(rfs_safetensors_write(path, reserved, 1, NULL, 0) == RFS_ERR_ARG);
    rfs_tensor_out nodata[] = {{"x", RFS_DT_F32, 1, {3}, NULL}};
    CHECK(rfs_safetensors_write(path, nodata, 1, NULL, 0) == RFS_ERR_ARG);
    CHECK(rfs_safetensors_write("/nonexistent-dir/x.safetensors", out, 1, NULL, 0) == RFS_ERR_IO);
    /* no tensors at all is a valid file */
    CHECK(rfs_safetensors_write(path, NULL, 0, NULL, 0) == RFS_OK);
    CHECK(rfs_tensorfile_open(&f, path) == RFS_OK && f->count == 0);
    rfs_tensorfile_free(f);
    remove(path);
}

/* ---- float32 conversion ---------------------------------------------------------------- */

TEST(to_f32_dtypes_and_strides) {
    float v[16];
    uint16_t h[] = {0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0x7e00, 0x8000, 0x03ff};
    rfs_tensor t = {"h", RFS_DT_F16, 1, {8}, {1}, h};
    CHECK(rfs_tensor_to_f32(&t, v) == RFS_OK);
    CHECK(v[0] == 1 && v[1] == -2 && v[2] == 65504 && v[3] == 0x1p-24f && isinf(v[4]) &&
          isnan(v[5]) && v[6] == 0 && signbit(v[6]) && v[7] == 1023 * 0x1p-24f);
    uint16_t bf[] = {0x3f80, 0xc040, 0x7f80};
    t = (rfs_tensor){"bf", RFS_DT_BF16, 1, {3}, {1}, bf};
    CHECK(rfs_tensor_to_f32(&t, v) == RFS_OK && v[0] == 1 && v[1] == -3 && isinf(v[2]));
    double d[] = {0.1, -1e300};
    t = (rfs_tensor){"d", RFS_DT_F64, 1, {2}, {1}, d};
    CHECK(rfs_tensor_to_f32(&t, v) == RFS_OK && v[0] == 0.1f && isinf(v[1]));
    int64_t l[] = {-5, (int64_t)1 << 40};
    t = (rfs_tensor){"l", RFS_DT_I64, 1, {2}, {1}, l};
    CHECK(rfs_tensor_to_f32(&t, v) == RFS_OK && v[0] == -5 && v[1] == 0x1p40f);
    int8_t c[] = {-128, 127};
    t = (rfs_tensor){"c", RFS_DT_I8, 1, {2}, {1}, c};
    CHECK(rfs_tensor_to_f32(&t, v) == RFS_OK && v[0] == -128 && v[1] == 127);
    int16_t s[] = {-32768, 5};
    t = (rfs_tensor){"s", RFS_DT_I16, 1, {2}, {1}, s};
    CHECK(rfs_tensor_to_f32(&t, v) == RFS_OK && v[0] == -32768 && v[1] == 5);
    uint8_t bo[] = {0, 1, 2};
    t = (rfs_tensor){"b", RFS_DT_BOOL, 1, {3}, {1}, bo};
    CHECK(rfs_tensor_to_f32(&t, v) == RFS_OK && v[0] == 0 && v[1] == 1 && v[2] == 1);

    /* a transposed 3x4 matrix: shape (4,3), stride (1,4) */
    float m[12];
    for (int i = 0; i < 12; i++) m[i] = (float)i;
    t = (rfs_tensor){"mt", RFS_DT_F32, 2, {4, 3}, {1, 4}, m};
    CHECK(rfs_tensor_to_f32(&t, v) == RFS_OK);
    int ok = 1;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++) ok &= v[i * 3 + j] == m[j * 4 + i];
    CHECK(ok);
    /* a broadcast (stride 0) and a 3-d slice with an outer stride gap, in f16 */
    uint16_t hh[32];
    for (int i = 0; i < 32; i++) hh[i] = (uint16_t)(0x3c00 + (i << 5)); /* 1 + i/32 */
    t = (rfs_tensor){"bc", RFS_DT_F16, 2, {3, 2}, {0, 1}, hh};
    CHECK(rfs_tensor_to_f32(&t, v) == RFS_OK && v[0] == 1 && v[1] == 1.03125f && v[4] == 1 &&
          v[5] == 1.03125f);
    t = (rfs_tensor){"sl", RFS_DT_F16, 3, {2, 2, 2}, {16, 4, 2}, hh + 1};
    CHECK(rfs_tensor_to_f32(&t, v) == RFS_OK);
    CHECK(v[0] == 1 + 1 / 32.f && v[1] == 1 + 3 / 32.f && v[2] == 1 + 5 / 32.f &&
          v[4] == 1 + 17 / 32.f && v[7] == 1 + 23 / 32.f);
    /* a scalar; a tensor without data */
    t = (rfs_tensor){"one", RFS_DT_F32, 0, {0}, {0}, m + 5};
    CHECK(rfs_tensor_to_f32(&t, v) == RFS_OK && v[0] == 5);
    t = (rfs_tensor){"nodata", RFS_DT_F32, 1, {2}, {1}, NULL};
    CHECK(rfs_tensor_to_f32(&t, v) == RFS_ERR_ARG);
    CHECK(rfs_tensor_to_f32(NULL, v) == RFS_ERR_ARG);
    CHECK(rfs_dtype_size(RFS_DT_BF16) == 2 && !strcmp(rfs_dtype_name(RFS_DT_BF16), "BF16"));
    CHECK(rfs_dtype_size(RFS_DT_I64) == 8 && !strcmp(rfs_dtype_name(RFS_DT_BOOL), "BOOL"));
}

/* ---- hand-written torch archives: what the reader accepts ------------------------------ */

static rfs_tensorfile *open_pk(const pk *p, rfs_status *st) {
    size_t n = 0;
    uint8_t *z = make_pth(p, &n);
    rfs_tensorfile *f = NULL;
    *st = z ? rfs_tensorfile_open_mem(&f, z, n, "hand.pth") : RFS_ERR_IO;
    free(z);
    return f;
}

TEST(pth_model_preferred_over_ema) {
    pk p;
    rfs_status st;
    pk_begin(&p);
    pk_op(&p, '}');
    pk_op(&p, '(');
    pk_str(&p, "model");
    pk_op(&p, '}');
    pk_str(&p, "w");
    pk_vec(&p, "0", 256);
    pk_op(&p, 's');
    pk_str(&p, "ema_model");
    pk_op(&p, '}');
    pk_str(&p, "w");
    pk_vec(&p, "1", 256);
    pk_op(&p, 's');
    pk_str(&p, "args");
    pk_global(&p, "argparse", "Namespace");
    pk_op(&p, ')');
    pk_op(&p, 0x81); /* NEWOBJ */
    pk_op(&p, '}');
    pk_op(&p, '(');
    pk_str(&p, "num_classes");
    pk_int(&p, 3);
    pk_str(&p, "path");
    pk_global(&p, "pathlib", "PosixPath");
    pk_op(&p, '(');
    pk_str(&p, "tmp");
    pk_op(&p, 't');
    pk_op(&p, 'R');
    pk_op(&p, 0x8a); /* LONG1 of 8 bytes: -2 */
    pk_op(&p, 8);
    pk_bytes(&p, "\xfe\xff\xff\xff\xff\xff\xff\xff", 8);
    pk_op(&p, 'q');
    pk_op(&p, 0);
    pk_op(&p, '0'); /* POP */
    pk_str(&p, "big");
    pk_op(&p, 'h'); /* BINGET 0 */
    pk_op(&p, 0);
    pk_op(&p, 'u'); /* SETITEMS into the namespace's state */
    pk_op(&p, 'b'); /* BUILD */
    pk_op(&p, 'u');
    pk_op(&p, '.');
    rfs_tensorfile *f = open_pk(&p, &st);
    CHECKF(st == RFS_OK, "%s", rfs_last_error());
    if (!f) return;
    CHECK(!strcmp(f->state_key, "model") && f->count == 1);
    float v[256];
    CHECK(rfs_tensor_to_f32(rfs_tensorfile_find(f, "w"), v) == RFS_OK && v[2] != -1.0f);
    CHECK(rfs_value_int(f->args, "num_classes", 0) == 3);
    CHECK(rfs_value_int(f->args, "big", 0) == -2);
    const rfs_value *path = rfs_value_get(f->args, "path");
    CHECK(path && path->kind == RFS_V_OPAQUE && !strcmp(path->str, "pathlib.PosixPath"));
    rfs_tensorfile_free(f);
}

TEST(pth_ordered_dict_shared_storage_f16_strided) {
    /* a bare OrderedDict state dict with torch's _metadata attribute (set by BUILD), two
     * tensors viewing one storage, one of them a strided half-precision view */
    static uint16_t half[256];
    for (int i = 0; i < 256; i++) half[i] = (uint16_t)(0x3c00 + i); /* 1 + i/1024 */
    pk p;
    pk_begin(&p);
    pk_global(&p, "collections", "OrderedDict");
    pk_op(&p, ')');
    pk_op(&p, 'R');
    pk_op(&p, '(');
    pk_str(&p, "a");
    int64_t size[2] = {2, 3}, stride[2] = {1, 2};
    pk_tensor(&p, "HalfStorage", "0", 512, 2, 2, size, stride);
    pk_str(&p, "b");
    int64_t size1[1] = {4}, stride1[1] = {1};
    pk_tensor(&p, "HalfStorage", "0", 512, 508, 1, size1, stride1);
    pk_str(&p, "scalar");
    pk_tensor(&p, "HalfStorage", "0", 512, 7, 0, NULL, NULL);
    pk_op(&p, 'u');
    pk_op(&p, '}'); /* state: {'_metadata': OrderedDict()} */
    pk_str(&p, "_metadata");
    pk_global(&p, "collections", "OrderedDict");
    pk_op(&p, ')');
    pk_op(&p, 'R');
    pk_op(&p, 's');
    pk_op(&p, 'b');
    pk_op(&p, '.');
    memcpy(storage0, half, sizeof half); /* 512 bytes: 256 halves, but we declare 512 */
    rfs_status st;
    rfs_tensorfile *f = open_pk(&p, &st);
    /* the archive's storage holds 1024 bytes = 512 halves: storage0 is 256 floats */
    CHECKF(st == RFS_OK, "%s", rfs_last_error());
    init_storages();
    if (!f) return;
    CHECK(f->count == 3 && !strcmp(f->state_key, "") && rfs_tensorfile_find(f, "_metadata") == NULL);
    const rfs_tensor *a = rfs_tensorfile_find(f, "a"), *b = rfs_tensorfile_find(f, "b");
    CHECK(a && a->dtype == RFS_DT_F16 && a->stride[0] == 1 && a->stride[1] == 2);
    float v[6];
    CHECK(a && rfs_tensor_to_f32(a, v) == RFS_OK);
    /* element (i,j) = half[2 + i + 2j] */
    CHECK(v[0] == 1 + 2 / 1024.f && v[1] == 1 + 4 / 1024.f && v[2] == 1 + 6 / 1024.f &&
          v[3] == 1 + 3 / 1024.f && v[5] == 1 + 7 / 1024.f);
    CHECK(b && a && (const uint16_t *)b->data - (const uint16_t *)a->data == 506);
    const rfs_tensor *s = rfs_tensorfile_find(f, "scalar");
    CHECK(s && s->ndim == 0 && rfs_tensor_to_f32(s, v) == RFS_OK && v[0] == 1 + 7 / 1024.f);
    rfs_tensorfile_free(f);
}

TEST(pth_protocol4_opcodes) {
    /* what pickle protocol 4 writes: FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL */
    pk p;
    p.n = 0;
    pk_op(&p, 0x80);
    pk_op(&p, 4);
    pk_op(&p, 0x95);
    pk_bytes(&p, "\x00\x00\x00\x00\x00\x00\x00\x00", 8);
    pk_op(&p, '}');
    pk_op(&p, 0x94);
    pk_op(&p, 0x8c);
    pk_op(&p, 5);
    pk_bytes(&p, "model", 5);
    pk_op(&p, '}');
    pk_op(&p, 0x8c);
    pk_op(&p, 1);
    pk_bytes(&p, "w", 1);
    pk_op(&p, 0x8c);
    pk_op(&p, 12);
    pk_bytes(&p, "torch._utils", 12);
    pk_op(&p, 0x8c);
    pk_op(&p, 18);
    pk_bytes(&p, "_rebuild_tensor_v2", 18);
    pk_op(&p, 0x93); /* STACK_GLOBAL */
    pk_op(&p, '(');
    pk_op(&p, '(');
    pk_str(&p, "storage");
    pk_global(&p, "torch", "LongStorage");
    pk_str(&p, "1");
    pk_str(&p, "cpu");
    pk_int(&p, 128);
    pk_op(&p, 't');
    pk_op(&p, 'Q');
    pk_op(&p, 'K');
    pk_op(&p, 1); /* offset 1 */
    pk_op(&p, 'K');
    pk_op(&p, 2);
    pk_op(&p, 0x85); /* size (2,) */
    pk_op(&p, 'K');
    pk_op(&p, 1);
    pk_op(&p, 0x85);
    pk_op(&p, 0x89);
    pk_op(&p, 'N');
    pk_op(&p, 't');
    pk_op(&p, 'R');
    pk_op(&p, 's');
    pk_op(&p, 's');
    pk_op(&p, '.');
    int64_t l[128];
    for (int i = 0; i < 128; i++) l[i] = -i;
    memcpy(storage1, l, sizeof l);
    rfs_status st;
    rfs_tensorfile *f = open_pk(&p, &st);
    init_storages();
    CHECKF(st == RFS_OK, "%s", rfs_last_error());
    if (!f) return;
    const rfs_tensor *t = rfs_tensorfile_find(f, "w");
    float v[2];
    CHECK(t && t->dtype == RFS_DT_I64 && rfs_tensor_to_f32(t, v) == RFS_OK && v[0] == -1 && v[1] == -2);
    rfs_tensorfile_free(f);
}

TEST(pth_written_by_cpython_pickler) {
    /* tests/fuzz/seeds_tensorfile/small.pth: made by dev/tensorfile/make_seeds.py with
     * CPython's pickler (the one torch.save uses) and stand-in torch classes: an OrderedDict
     * state dict with _metadata, an nn.Parameter, a strided view, half and long storages, a
     * 0-d tensor, and an argparse.Namespace. Storage bytes are (i * 37 + 11) & 255. */
    rfs_tensorfile *f = NULL;
    rfs_status st = rfs_tensorfile_open(&f, "tests/fuzz/seeds_tensorfile/small.pth");
    CHECKF(st == RFS_OK, "%s (run from the repository root)", rfs_last_error());
    if (!f) return;
    CHECK(f->count == 7 && !strcmp(f->state_key, "model"));
    CHECK(rfs_value_int(f->args, "num_classes", 0) == 2);
    uint8_t pat[4096];
    for (int i = 0; i < 4096; i++) pat[i] = (uint8_t)(i * 37 + 11);
    float v[1024], want;
    const rfs_tensor *t = rfs_tensorfile_find(f, "wt"); /* offset 3, size (5,7), stride (1,9) */
    CHECK(t && t->stride[0] == 1 && t->stride[1] == 9 && rfs_tensor_to_f32(t, v) == RFS_OK);
    int ok = 1;
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 7; j++) {
            memcpy(&want, pat + 4 * (3 + i + 9 * j), 4);
            ok &= !memcmp(&v[i * 7 + j], &want, 4);
        }
    CHECK(ok);
    t = rfs_tensorfile_find(f, "p"); /* an nn.Parameter: offset 5, 10 floats */
    CHECK(t && t->ndim == 1 && rfs_tensor_to_f32(t, v) == RFS_OK && !memcmp(v, pat + 20, 40));
    t = rfs_tensorfile_find(f, "h");
    CHECK(t && t->dtype == RFS_DT_F16 && t->ndim == 3 && rfs_tensor_to_f32(t, v) == RFS_OK &&
          v[0] == 134.375f);
    t = rfs_tensorfile_find(f, "scalar");
    CHECK(t && t->ndim == 0 && rfs_tensor_to_f32(t, v) == RFS_OK);
    memcpy(&want, pat + 4000, 4);
    CHECK(t && !memcmp(v, &want, 4));
    t = rfs_tensorfile_find(f, "empty");
    CHECK(t && rfs_tensor_numel(t) == 0);
    CHECK(rfs_tensorfile_find(f, "_metadata") == NULL);
    rfs_tensorfile_free(f);
}

/* ---- malformed archives and pickles ----------------------------------------------------- */

TEST(missing_file) {
    rfs_tensorfile *f = NULL;
    CHECK(rfs_tensorfile_open(&f, "/nonexistent/x.pth") == RFS_ERR_IO && f == NULL);
    CHECK(strstr(rfs_last_error(), "/nonexistent/x.pth"));
    CHECK(rfs_tensorfile_open(&f, "/tmp") == RFS_ERR_IO);
    CHECK(rfs_tensorfile_open(NULL, "x") == RFS_ERR_ARG);
    CHECK(rfs_tensorfile_find(NULL, "x") == NULL);
    rfs_tensorfile_free(NULL);
}

TEST(truncated_fixture) {
    size_t n = 0;
    uint8_t *b = test_read_file(test_shared("fixtures/rfdetr/tiny-w1.pth"), &n);
    CHECK(b && n > 100000);
    if (!b) return;
    size_t cuts[] = {0, 3, 4, 8, 100, 30000, 52900, n / 2, n - 4096, n - 23, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
        EXPECT_OPEN_FAILS(b, cuts[i], RFS_ERR_FORMAT, NULL);
    /* a flipped byte inside a storage: the zip CRC catches it */
    uint8_t *c = malloc(n);
    memcpy(c, b, n);
    c[n / 2] ^= 0x55;
    EXPECT_OPEN_FAILS(c, n, RFS_ERR_FORMAT, "CRC");
    free(c);
    free(b);
}

TEST(bad_zips) {
    uint8_t garbage[300];
    uint32_t r = 12345;
    for (size_t i = 0; i < sizeof garbage; i++) garbage[i] = (uint8_t)((r = r * 1103515245u + 12345u) >> 24);
    EXPECT_OPEN_FAILS(garbage, sizeof garbage, RFS_ERR_FORMAT, NULL);
    memcpy(garbage, "PK\x03\x04", 4);
    EXPECT_OPEN_FAILS(garbage, sizeof garbage, RFS_ERR_FORMAT, "zip");
    /* a zip without data.pkl, and one whose entries are not in a root folder */
    zent e1[] = {{"arch/other", "x", 1, 0}};
    size_t n;
    uint8_t *z = make_zip(e1, 1, &n);
    EXPECT_OPEN_FAILS(z, n, RFS_ERR_FORMAT, "arch/data.pkl");
    free(z);
    zent e2[] = {{"data.pkl", "\x80\x02}.", 4, 0}};
    z = make_zip(e2, 1, &n);
    EXPECT_OPEN_FAILS(z, n, RFS_ERR_FORMAT, "root folder");
    free(z);
    /* a big-endian archive */
    pk p;
    pk_begin(&p);
    pk_op(&p, '}');
    pk_op(&p, '.');
    zent e3[] = {{"arch/data.pkl", p.b, p.n, 0}, {"arch/byteorder", "big", 3, 0}};
    z = make_zip(e3, 2, &n);
    EXPECT_OPEN_FAILS(z, n, RFS_ERR_UNSUPPORTED, "big-endian");
    free(z);
    /* a compressed storage */
    pk_begin(&p);
    pk_op(&p, '}');
    pk_str(&p, "w");
    pk_vec(&p, "0", 256);
    pk_op(&p, 's');
    pk_op(&p, '.');
    zent e4[] = {{"arch/data.pkl", p.b, p.n, 1}, {"arch/data/0", storage0, sizeof storage0, 1}};
    z = make_zip(e4, 2, &n);
    EXPECT_OPEN_FAILS(z, n, RFS_ERR_UNSUPPORTED, "compressed");
    free(z);
    /* the legacy (pre-zip) torch format */
    EXPECT_OPEN_FAILS("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 14,
                      RFS_ERR_UNSUPPORTED, "legacy");
}

/* Builds {'model': {'w': <value>}} where the caller writes <value>. */
static void pk_model_begin(pk *p) {
    pk_begin(p);
    pk_op(p, '}');
    pk_str(p, "model");
    pk_op(p, '}');
    pk_str(p, "w");
}
static void pk_model_end(pk *p) {
    pk_op(p, 's');
    pk_op(p, 's');
    pk_op(p, '.');
}

static void expect_pk_fails(const pk *p, rfs_status want, const char *needle) {
    size_t n = 0;
    uint8_t *z = make_pth(p, &n);
    CHECK(z != NULL);
    if (z) EXPECT_OPEN_FAILS(z, n, want, needle);
    free(z);
}

TEST(bad_pickles) {
    pk p;
    /* unknown opcode */
    pk_begin(&p);
    pk_op(&p, 0xff);
    expect_pk_fails(&p, RFS_ERR_FORMAT, "opcode 0xff at byte 2");
    /* protocol-0 text opcodes are not part of the subset */
    pk_begin(&p);
    pk_bytes(&p, "I1\n.", 4);
    expect_pk_fails(&p, RFS_ERR_FORMAT, "unsupported opcode");
    /* no STOP; truncated in the middle of a string; a length running past the end */
    pk_model_begin(&p);
    expect_pk_fails(&p, RFS_ERR_FORMAT, "without STOP");
    pk_begin(&p);
    pk_op(&p, 'X');
    pk_u32(&p, 100);
    pk_bytes(&p, "abc", 3);
    expect_pk_fails(&p, RFS_ERR_FORMAT, "length 100");
    pk_begin(&p);
    pk_op(&p, 'J');
    pk_op(&p, 1);
    expect_pk_fails(&p, RFS_ERR_FORMAT, "truncated");
    /* stack underflow, a missing MARK, a memo index never stored, odd SETITEMS */
    pk_begin(&p);
    pk_op(&p, 0x86);
    expect_pk_fails(&p, RFS_ERR_FORMAT, "underflow");
    pk_begin(&p);
    pk_op(&p, 't');
    expect_pk_fails(&p, RFS_ERR_FORMAT, "MARK");
    pk_begin(&p);
    pk_op(&p, 'h');
    pk_op(&p, 3);
    expect_pk_fails(&p, RFS_ERR_FORMAT, "memo");
    pk_begin(&p);
    pk_op(&p, 'r');
    pk_u32(&p, 0xffffffffu); /* LONG_BINPUT on an empty stack */
    expect_pk_fails(&p, RFS_ERR_FORMAT, "underflow");
    pk_begin(&p);
    pk_op(&p, 'N');
    pk_op(&p, 'r');
    pk_u32(&p, 0xfffffff0u); /* a huge memo index must not allocate 32 GB */
    expect_pk_fails(&p, RFS_ERR_FORMAT, "memo index");
    pk_begin(&p);
    pk_op(&p, '}');
    pk_op(&p, '(');
    pk_str(&p, "k");
    pk_op(&p, 'u');
    expect_pk_fails(&p, RFS_ERR_FORMAT, "odd");
    /* a list containing itself */
    pk_begin(&p);
    pk_op(&p, ']');
    pk_op(&p, 'q');
    pk_op(&p, 0);
    pk_op(&p, 'h');
    pk_op(&p, 0);
    pk_op(&p, 'a');
    pk_op(&p, '.');
    expect_pk_fails(&p, RFS_ERR_FORMAT, "contains itself");
    /* nesting beyond the depth limit */
    pk_begin(&p);
    for (int i = 0; i < 100; i++) pk_op(&p, ']');
    for (int i = 0; i < 99; i++) pk_op(&p, 'a');
    pk_op(&p, '.');
    expect_pk_fails(&p, RFS_ERR_LIMIT, "nested");
    /* appending to a tuple, calling a non-callable */
    pk_begin(&p);
    pk_op(&p, ')');
    pk_op(&p, 'N');
    pk_op(&p, 'a');
    expect_pk_fails(&p, RFS_ERR_FORMAT, "append");
    pk_begin(&p);
    pk_int(&p, 1);
    pk_op(&p, ')');
    pk_op(&p, 'R');
    expect_pk_fails(&p, RFS_ERR_FORMAT, "REDUCE");

    /* the state dict: an unknown callable, a non-tensor, a missing 'model' dict */
    pk_model_begin(&p);
    pk_global(&p, "os", "system");
    pk_op(&p, '(');
    pk_str(&p, "echo pwned");
    pk_op(&p, 't');
    pk_op(&p, 'R');
    pk_model_end(&p);
    expect_pk_fails(&p, RFS_ERR_FORMAT, "'w' holds a os.system object, not a tensor");
    pk_model_begin(&p);
    pk_int(&p, 3);
    pk_model_end(&p);
    expect_pk_fails(&p, RFS_ERR_FORMAT, "'w' holds an int");
    pk_begin(&p);
    pk_op(&p, '}');
    pk_str(&p, "model");
    pk_global(&p, "rfdetr.models.lwdetr", "LWDETR");
    pk_op(&p, ')');
    pk_op(&p, 0x81);
    pk_op(&p, 's');
    pk_op(&p, '.');
    expect_pk_fails(&p, RFS_ERR_FORMAT, "'model' holds a rfdetr.models.lwdetr.LWDETR object");
    pk_begin(&p);
    pk_op(&p, ']');
    pk_op(&p, '.');
    expect_pk_fails(&p, RFS_ERR_FORMAT, "not a dict");
    /* a complex storage is fine in metadata but not in the state dict */
    pk_model_begin(&p);
    int64_t sz[1] = {2}, sd[1] = {1};
    pk_tensor(&p, "ComplexFloatStorage", "0", 2, 0, 1, sz, sd);
    pk_model_end(&p);
    expect_pk_fails(&p, RFS_ERR_FORMAT, "torch.ComplexFloatStorage");
    /* a persistent id that is not a storage */
    pk_model_begin(&p);
    pk_str(&p, "evil");
    pk_op(&p, 'Q');
    pk_model_end(&p);
    expect_pk_fails(&p, RFS_ERR_FORMAT, "persistent id");
    /* too many dimensions; negative size */
    pk_model_begin(&p);
    int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    pk_tensor(&p, "FloatStorage", "0", 256, 0, 9, nine, nine);
    pk_model_end(&p);
    expect_pk_fails(&p, RFS_ERR_UNSUPPORTED, "9 dimensions");
    pk_model_begin(&p);
    int64_t neg[1] = {-4};
    pk_tensor(&p, "FloatStorage", "0", 256, 0, 1, neg, sd);
    pk_model_end(&p);
    expect_pk_fails(&p, RFS_ERR_FORMAT, "non-negative");
}

TEST(bad_storages) {
    pk p;
    /* a storage key that does not exist */
    pk_model_begin(&p);
    pk_vec(&p, "17", 4);
    pk_model_end(&p);
    expect_pk_fails(&p, RFS_ERR_FORMAT, "tensor 'w': storage 'arch/data/17' is missing");
    /* a tensor larger than its storage (1024 bytes) */
    pk_begin(&p);
    pk_op(&p, '}');
    pk_str(&p, "model");
    pk_op(&p, '}');
    pk_str(&p, "class_embed.weight");
    int64_t size[2] = {128, 3}, stride[2] = {3, 1};
    pk_tensor(&p, "FloatStorage", "0", 256, 0, 2, size, stride);
    pk_model_end(&p);
    expect_pk_fails(&p, RFS_ERR_FORMAT,
                    "storage 'arch/data/0' holds 1024 bytes, tensor 'class_embed.weight' needs 1536");
    /* an offset or stride reaching past the end */
    pk_model_begin(&p);
    int64_t s1[1] = {4}, st1[1] = {1};
    pk_tensor(&p, "FloatStorage", "0", 256, 253, 1, s1, st1);
    pk_model_end(&p);
    expect_pk_fails(&p, RFS_ERR_FORMAT, "needs 1028");
    pk_model_begin(&p);
    int64_t st2[1] = {100};
    pk_tensor(&p, "FloatStorage", "0", 256, 0, 1, s1, st2);
    pk_model_end(&p);
    expect_pk_fails(&p, RFS_ERR_FORMAT, "needs 1204");
    /* sizes whose product overflows, and a reach that overflows */
    pk_model_begin(&p);
    int64_t big[4] = {1 << 30, 1 << 30, 1 << 30, 1 << 30}, bst[4] = {0, 0, 0, 0};
    pk_tensor(&p, "FloatStorage", "0", 256, 0, 4, big, bst);
    pk_model_end(&p);
    expect_pk_fails(&p, RFS_ERR_FORMAT, "overflow");
    pk_model_begin(&p);
    int64_t b2[2] = {1 << 30, 2}, bs2[2] = {0x7fffffff, 0};
    pk_tensor(&p, "FloatStorage", "0", 256, 0, 2, b2, bs2);
    pk_model_end(&p);
    expect_pk_fails(&p, RFS_ERR_FORMAT, "needs");
    /* a storage whose pickle record claims 2 GB (500M floats) while the entry holds 1 KB */
    pk_model_begin(&p);
    pk_tensor(&p, "FloatStorage", "0", 500000000, 0, 1, s1, st1);
    pk_model_end(&p);
    expect_pk_fails(&p, RFS_ERR_FORMAT, "declares 500000000 elements");
    /* one storage used as two dtypes */
    pk_begin(&p);
    pk_op(&p, '}');
    pk_str(&p, "a");
    pk_vec(&p, "0", 256);
    pk_op(&p, 's');
    pk_str(&p, "b");
    int64_t s3[1] = {2}, st3[1] = {1};
    pk_tensor(&p, "IntStorage", "0", 256, 0, 1, s3, st3);
    pk_op(&p, 's');
    pk_op(&p, '.');
    expect_pk_fails(&p, RFS_ERR_FORMAT, "used both as");
}

/* Finds the central-directory record (PK\1\2) of `name` in a zip image. */
static uint8_t *central_entry(uint8_t *z, size_t n, const char *name) {
    size_t len = strlen(name);
    for (size_t i = 0; i + 46 + len <= n; i++)
        if (!memcmp(z + i, "PK\x01\x02", 4) && z[i + 28] == len && !memcmp(z + i + 46, name, len))
            return z + i;
    return NULL;
}
static uint8_t *local_entry(uint8_t *z, size_t n, const char *name) {
    size_t len = strlen(name);
    for (size_t i = 0; i + 30 + len <= n; i++)
        if (!memcmp(z + i, "PK\x03\x04", 4) && z[i + 26] == len && !memcmp(z + i + 30, name, len))
            return z + i;
    return NULL;
}
static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

TEST(zip_entry_claiming_2gb) {
    pk p;
    pk_model_begin(&p);
    pk_vec(&p, "0", 256);
    pk_model_end(&p);
    size_t n = 0;
    uint8_t *z = make_pth(&p, &n);
    CHECK(z != NULL);
    if (!z) return;
    uint8_t *c = malloc(n);
    /* central directory only, both sizes (the local header disagrees) */
    memcpy(c, z, n);
    uint8_t *ce = central_entry(c, n, "arch/data/0");
    CHECK(ce != NULL);
    if (ce) {
        put32(ce + 20, 0x7fffffffu);
        put32(ce + 24, 0x7fffffffu);
        EXPECT_OPEN_FAILS(c, n, RFS_ERR_FORMAT, NULL);
    }
    /* central and local headers agree on 2 GB */
    memcpy(c, z, n);
    ce = central_entry(c, n, "arch/data/0");
    uint8_t *le = local_entry(c, n, "arch/data/0");
    CHECK(ce && le);
    if (ce && le) {
        put32(ce + 20, 0x7fffffffu);
        put32(ce + 24, 0x7fffffffu);
        put32(le + 18, 0x7fffffffu);
        put32(le + 22, 0x7fffffffu);
        EXPECT_OPEN_FAILS(c, n, RFS_ERR_FORMAT, NULL);
    }
    /* only the uncompressed size: stored entries must have equal sizes */
    memcpy(c, z, n);
    ce = central_entry(c, n, "arch/data/0");
    le = local_entry(c, n, "arch/data/0");
    if (ce && le) {
        put32(ce + 24, 0x7fffffffu);
        put32(le + 22, 0x7fffffffu);
        EXPECT_OPEN_FAILS(c, n, RFS_ERR_FORMAT, NULL);
    }
    /* data.pkl claiming 2 GB */
    memcpy(c, z, n);
    ce = central_entry(c, n, "arch/data.pkl");
    le = local_entry(c, n, "arch/data.pkl");
    if (ce && le) {
        put32(ce + 20, 0x7fffffffu);
        put32(ce + 24, 0x7fffffffu);
        put32(le + 18, 0x7fffffffu);
        put32(le + 22, 0x7fffffffu);
        EXPECT_OPEN_FAILS(c, n, RFS_ERR_FORMAT, NULL);
    }
    free(c);
    free(z);
}

/* ---- malformed safetensors --------------------------------------------------------------- */

/* 8-byte length + header + data_len zero bytes */
static uint8_t *st_image(const char *header, size_t data_len, size_t *n) {
    size_t h = strlen(header);
    *n = 8 + h + data_len;
    uint8_t *b = calloc(1, *n);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(b + 8, header, h);
    return b;
}

static void expect_st(const char *header, size_t data_len, rfs_status want, const char *needle) {
    size_t n;
    uint8_t *b = st_image(header, data_len, &n);
    EXPECT_OPEN_FAILS(b, n, want, needle);
    free(b);
}

TEST(bad_safetensors) {
    const char *ok = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    size_t n;
    uint8_t *b = st_image(ok, 8, &n);
    rfs_tensorfile *f = NULL;
    CHECKF(rfs_tensorfile_open_mem(&f, b, n, "ok") == RFS_OK, "%s", rfs_last_error());
    rfs_tensorfile_free(f);
    /* header length larger than the file, and absurdly large */
    b[0] = 0xff;
    b[1] = 0xff;
    EXPECT_OPEN_FAILS(b, n, RFS_ERR_FORMAT, "exceeds the file");
    memset(b, 0xff, 8);
    EXPECT_OPEN_FAILS(b, n, RFS_ERR_FORMAT, "exceeds the file");
    free(b);
    EXPECT_OPEN_FAILS("\x02\0\0\0\0\0\0", 7, RFS_ERR_FORMAT, "too short");
    /* JSON garbage */
    expect_st("{xx", 0, RFS_ERR_FORMAT, "expected '\"'");
    expect_st("[1,2]", 0, RFS_ERR_FORMAT, "expected '{'");
    expect_st("", 0, RFS_ERR_FORMAT, "found the end");
    expect_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8, RFS_ERR_FORMAT, "found the end");
    expect_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}x", 8, RFS_ERR_FORMAT, "text after");
    expect_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},}", 8, RFS_ERR_FORMAT, NULL);
    expect_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, RFS_ERR_FORMAT, "non-negative");
    expect_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8, RFS_ERR_FORMAT, "integer");
    expect_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[02],\"data_offsets\":[0,8]}}", 8, RFS_ERR_FORMAT, "leading zero");
    expect_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,8]}}", 8, RFS_ERR_FORMAT, "too large");
    expect_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, RFS_ERR_FORMAT, "more than 8");
    expect_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, RFS_ERR_FORMAT, "2 numbers");
    expect_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, RFS_ERR_FORMAT, "missing data_offsets");
    expect_st("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\"}}", 8, RFS_ERR_FORMAT, "repeated");
    expect_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", 8, RFS_ERR_FORMAT, "unknown field");
    expect_st("{\"a\":{\"dtype\":\"C64\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, RFS_ERR_UNSUPPORTED, "C64");
    expect_st("{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, RFS_ERR_FORMAT, "NUL");
    expect_st("{\"a\\ud800\":{}}", 0, RFS_ERR_FORMAT, "surrogate");
    expect_st("{\"a\\q\":{}}", 0, RFS_ERR_FORMAT, "escape");
    expect_st("{\"a\\u12\":{}}", 0, RFS_ERR_FORMAT, "\\u");
    expect_st("{\"a\xff\":{}}", 0, RFS_ERR_FORMAT, "UTF-8");
    expect_st("{\"a\n\":{}}", 0, RFS_ERR_FORMAT, "control");
    expect_st("{\"abc", 0, RFS_ERR_FORMAT, "unterminated");
    expect_st("{\"abc\\", 0, RFS_ERR_FORMAT, "unterminated");
    expect_st("{\"__metadata__\":{\"k\":1}}", 0, RFS_ERR_FORMAT, "must be strings");
    expect_st("{\"__metadata__\":{},\"__metadata__\":{}}", 0, RFS_ERR_FORMAT, "repeated");
    /* offsets: out of range, reversed, wrong size, overlapping, gapped, trailing bytes */
    expect_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, RFS_ERR_FORMAT, "outside the data section");
    expect_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, RFS_ERR_FORMAT, "outside");
    expect_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, RFS_ERR_FORMAT, "need 12");
    expect_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,8]}}", 8, RFS_ERR_FORMAT, "overflows");
    expect_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
              "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, RFS_ERR_FORMAT, "overlapping");
    expect_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
              "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}", 20, RFS_ERR_FORMAT, "gapped");
    expect_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 9, RFS_ERR_FORMAT, "cover 8");
    expect_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
              "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16, RFS_ERR_FORMAT, "duplicate tensor name 'a'");
    /* valid corner cases: whitespace, escapes, an empty header, zero-size tensors */
    const char *good[] = {
        " {\n\t\"a\\\"\\u00fc\\ud83d\\ude00\" : { \"shape\" : [ ] , \"data_offsets\" : [0 ,4],\"dtype\":\"I32\" } }  ",
        "{}",
        "{\"__metadata__\":{},\"z\":{\"dtype\":\"BOOL\",\"shape\":[0,3],\"data_offsets\":[0,0]}}",
    };
    size_t dl[] = {4, 0, 0};
    for (int i = 0; i < 3; i++) {
        b = st_image(good[i], dl[i], &n);
        CHECKF(rfs_tensorfile_open_mem(&f, b, n, "good") == RFS_OK, "%d: %s", i, rfs_last_error());
        if (i == 0) CHECK(f && rfs_tensorfile_find(f, "a\"\xc3\xbc\xf0\x9f\x98\x80") != NULL);
        rfs_tensorfile_free(f);
        f = NULL;
        free(b);
    }
}

/* ---- failing disks, special files, package text ------------------------------------------ */

/* A failing safetensors write loses nothing: an empty directory and a read-only file at
 * the destination survive, /dev/full and a FIFO are refused (and survive), a write cut by
 * the file size limit (ulimit -f, SIGXFSZ ignored) is an error that leaves the
 * destination as it was and no temporary file behind. */
TEST(safetensors_failing_writes_destroy_nothing) {
    char dir[64], path[400];
    snprintf(dir, sizeof dir, "/tmp/rfs_st_XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    static float big[32768];
    for (int i = 0; i < 32768; i++) big[i] = (float)i;
    rfs_tensor_out t = {.name = "w", .dtype = RFS_DT_F32, .ndim = 1, .shape = {32768}, .data = big};
    struct stat sb;
    snprintf(path, sizeof path, "%s/emptydir.safetensors", dir);
    CHECK(mkdir(path, 0755) == 0);
    rfs_status st = rfs_safetensors_write(path, &t, 1, NULL, 0);
    CHECKF(st == RFS_ERR_IO && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode), "%d %s", st, rfs_last_error());
    st = rfs_safetensors_write("/dev/full", &t, 1, NULL, 0);
    CHECKF(st == RFS_ERR_IO && strstr(rfs_last_error(), "device"), "%d %s", st, rfs_last_error());
    CHECK(stat("/dev/full", &sb) == 0 && S_ISCHR(sb.st_mode));
    snprintf(path, sizeof path, "%s/fifo.safetensors", dir);
    CHECK(mkfifo(path, 0600) == 0);
    alarm(20);
    st = rfs_safetensors_write(path, &t, 1, NULL, 0);
    alarm(0);
    CHECKF(st == RFS_ERR_IO && strstr(rfs_last_error(), "FIFO"), "%d %s", st, rfs_last_error());
    snprintf(path, sizeof path, "%s/precious.safetensors", dir);
    test_write_text(path, "precious\n");
    CHECK(chmod(path, 0444) == 0);
    test_fsize_saved fs;
    CHECK(test_fsize_limit(&fs, 16384) == 0);
    st = rfs_safetensors_write(path, &t, 1, NULL, 0);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", rfs_last_error());
    test_fsize_unlimit(&fs);
    CHECKF(st == RFS_ERR_IO && strstr(msg, "File too large"), "under ulimit -f: %d (%s)", st, msg);
    size_t n = 0;
    uint8_t *b = test_read_file(path, &n);
    CHECK(b && n == 9 && !memcmp(b, "precious\n", 9));
    free(b);
    CHECKF(test_dir_entries(dir) == 3, "%d entries in %s (a temporary file left?)", test_dir_entries(dir), dir);
    /* success replaces the destination (the overwrite policy is the caller's) */
    st = rfs_safetensors_write(path, &t, 1, NULL, 0);
    CHECK(st == RFS_OK && stat(path, &sb) == 0 && sb.st_size > 131072 && test_dir_entries(dir) == 3);
    test_empty_dir(dir);
    CHECK(rmdir(dir) == 0);
}

/* FIFOs and devices as checkpoints or package files are refused before they are read (a
 * FIFO without a writer would block forever: the alarm turns a hang into a failure). */
TEST(special_inputs_refused) {
    char dir[64], path[400];
    snprintf(dir, sizeof dir, "/tmp/rfs_pkg_XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/model.pth", dir);
    CHECK(mkfifo(path, 0600) == 0);
    alarm(20);
    rfs_tensorfile *f = NULL;
    CHECK(rfs_tensorfile_open(&f, path) == RFS_ERR_IO && f == NULL && strstr(rfs_last_error(), "FIFO"));
    CHECK(rfs_tensorfile_open(&f, "/dev/zero") == RFS_ERR_IO && f == NULL);
    rfs_model *m = NULL;
    CHECK(rfs_model_load(&m, path) != RFS_OK && m == NULL);
    CHECK(rfs_model_load(&m, dir) != RFS_OK && m == NULL); /* a package whose only checkpoint is a FIFO */
    remove(path);
    /* a real checkpoint, with a FIFO for class_names.txt, then for inference_config.json */
    snprintf(path, sizeof path, "%s/weights.pth", dir);
    CHECK(symlink(test_shared("fixtures/rfdetr/tiny-w1.pth"), path) == 0);
    snprintf(path, sizeof path, "%s/class_names.txt", dir);
    CHECK(mkfifo(path, 0600) == 0);
    rfs_status st = rfs_model_load(&m, dir);
    CHECKF(st == RFS_ERR_IO && m == NULL && strstr(rfs_last_error(), "FIFO"), "%d %s", st, rfs_last_error());
    remove(path);
    test_write_text(path, "a\nb\n");
    snprintf(path, sizeof path, "%s/inference_config.json", dir);
    CHECK(mkfifo(path, 0600) == 0);
    st = rfs_model_load(&m, dir);
    CHECKF(st == RFS_ERR_IO && m == NULL && strstr(rfs_last_error(), "FIFO"), "%d %s", st, rfs_last_error());
    alarm(0);
    remove(path);
    st = rfs_model_load(&m, dir);
    CHECKF(st == RFS_OK, "the package with regular files loads: %s", rfs_last_error());
    rfs_model_free(m);
    const char *names[] = {"weights.pth", "class_names.txt"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        remove(path);
    }
    CHECK(rmdir(dir) == 0);
}

/* inference_config.json numbers of any size are range-checked before conversion (an (int)
 * cast of 1e300 is undefined behaviour; UBSan runs this in make asan). */
TEST(package_config_numbers) {
    static const struct {
        const char *json;
        rfs_status want;
    } cases[] = {
        {"{\"network_input\": {\"training_input_size\": {\"height\": 1e300, \"width\": 432}}}", RFS_ERR_UNSUPPORTED},
        {"{\"network_input\": {\"training_input_size\": {\"height\": -1e300, \"width\": 1e300}}}", RFS_ERR_UNSUPPORTED},
        {"{\"network_input\": {\"training_input_size\": {\"height\": 432.5, \"width\": 432}}}", RFS_ERR_UNSUPPORTED},
        {"{\"network_input\": {\"training_input_size\": {\"height\": 432, \"width\": 432}}}", RFS_OK},
        {"{\"network_input\": {\"padding_value\": 1e300}}", RFS_ERR_FORMAT},
        {"{\"network_input\": {\"padding_value\": -3}}", RFS_ERR_FORMAT},
        {"{\"network_input\": {\"padding_value\": 114}}", RFS_OK},
        {"{\"network_input\": {\"input_channels\": 1e300}}", RFS_ERR_UNSUPPORTED},
        {"{\"image_pre_processing\": {\"static-crop\": {\"enabled\": true, \"x_min\": 1e300, \"y_min\": 0, "
         "\"x_max\": 50, \"y_max\": 50}}}", RFS_ERR_FORMAT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rfs_package p;
        rfs_package_defaults(&p);
        rfs_status st = rfs_package_parse_config(&p, cases[i].json, "inference_config.json", 432);
        CHECKF(st == cases[i].want, "case %zu: %d (%s)", i, st, rfs_last_error());
        rfs_package_free(&p);
    }
    char text[] = " car \r\n\n\ttruck\nbackground\n";
    char **names;
    int n;
    CHECK(rfs_package_parse_class_names(&names, &n, text, "class_names.txt") == RFS_OK && n == 3);
    rfs_package p;
    rfs_package_defaults(&p);
    p.removed[p.n_removed++] = strdup("background");
    int *remap;
    char **kept;
    int nk;
    CHECK(rfs_package_remap(&remap, &kept, &nk, 4, &p, names, n) == RFS_OK);
    CHECK(nk == 2 && !strcmp(kept[0], "car") && !strcmp(kept[1], "truck"));
    CHECK(remap[0] == 0 && remap[1] == 1 && remap[2] == -1 && remap[3] == -1);
    rfs_package_names_free(kept, nk);
    free(remap);
    rfs_package_free(&p);
    char blank[] = " \n\n";
    CHECK(rfs_package_parse_class_names(&names, &n, blank, "class_names.txt") == RFS_ERR_FORMAT);
}

int main(void) {
    init_storages();
    RUN(pth_tiny_w1);
    RUN(pth_tiny_w2_and_open_mem);
    RUN(safetensors_reference_outputs);
    RUN(safetensors_write_roundtrip);
    RUN(to_f32_dtypes_and_strides);
    RUN(pth_model_preferred_over_ema);
    RUN(pth_ordered_dict_shared_storage_f16_strided);
    RUN(pth_protocol4_opcodes);
    RUN(pth_written_by_cpython_pickler);
    RUN(missing_file);
    RUN(truncated_fixture);
    RUN(bad_zips);
    RUN(bad_pickles);
    RUN(bad_storages);
    RUN(zip_entry_claiming_2gb);
    RUN(bad_safetensors);
    RUN(safetensors_failing_writes_destroy_nothing);
    RUN(special_inputs_refused);
    RUN(package_config_numbers);
    return test_summary();
}
