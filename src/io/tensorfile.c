/* tensorfile.c - what the checkpoint readers share: dtypes, float32 conversion, metadata
 * getters, the arena, the name index, and opening a file by its content.
 */
#include "io/fileio.h"
#include "io/tensorfile_int.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

/* ---- dtypes ---------------------------------------------------------------------------- */

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {
    [RFS_DT_F32] = {"F32", 4}, [RFS_DT_F16] = {"F16", 2}, [RFS_DT_BF16] = {"BF16", 2},
    [RFS_DT_F64] = {"F64", 8}, [RFS_DT_I64] = {"I64", 8}, [RFS_DT_I32] = {"I32", 4},
    [RFS_DT_I16] = {"I16", 2}, [RFS_DT_I8] = {"I8", 1},   [RFS_DT_U8] = {"U8", 1},
    [RFS_DT_BOOL] = {"BOOL", 1},
};
#define N_DTYPES (sizeof dtypes / sizeof dtypes[0])

size_t rfs_dtype_size(rfs_dtype dt) { return (unsigned)dt < N_DTYPES ? dtypes[dt].size : 0; }

const char *rfs_dtype_name(rfs_dtype dt) {
    return (unsigned)dt < N_DTYPES ? dtypes[dt].name : "?";
}

bool rfs_tf_dtype_from_name(rfs_dtype *out, const char *name, size_t len) {
    for (size_t i = 0; i < N_DTYPES; i++) {
        if (strlen(dtypes[i].name) == len && !memcmp(dtypes[i].name, name, len)) {
            *out = (rfs_dtype)i;
            return true;
        }
    }
    return false;
}

int64_t rfs_tf_shape_numel(const int64_t *shape, int ndim) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0 || __builtin_mul_overflow(n, shape[i], &n)) return -1;
    return n;
}

int64_t rfs_tensor_numel(const rfs_tensor *t) {
    return t && t->ndim >= 0 && t->ndim <= RFS_MAX_DIMS ? rfs_tf_shape_numel(t->shape, t->ndim) : -1;
}

/* ---- conversion to float32 ------------------------------------------------------------- */

static float f32_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* IEEE half -> float, exact for every input (subnormals, infinities, NaN payloads). */
static float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    if (exp == 0) { /* zero or subnormal: mant * 2^-24 */
        float f = (float)mant * 0x1p-24f;
        return sign ? -f : f;
    }
    if (exp == 31) return f32_from_bits(sign | 0x7f800000u | mant << 13);
    return f32_from_bits(sign | (exp + 112) << 23 | mant << 13);
}

/* Converts n elements spaced `step` bytes apart. Loads go through memcpy because file data
 * need not be aligned (safetensors packs tensors back to back). */
static void convert_run(float *dst, const uint8_t *src, int64_t n, ptrdiff_t step, rfs_dtype dt) {
#define RUN(T, EXPR)                                                                      \
    for (int64_t i = 0; i < n; i++) {                                                     \
        T x;                                                                              \
        memcpy(&x, src + i * step, sizeof x);                                             \
        dst[i] = (EXPR);                                                                  \
    }                                                                                     \
    break;
    switch (dt) {
    case RFS_DT_F32:
        if (step == 4) {
            memcpy(dst, src, (size_t)n * 4);
            break;
        }
        RUN(float, x)
    case RFS_DT_F16: RUN(uint16_t, f16_to_f32(x))
    case RFS_DT_BF16: RUN(uint16_t, f32_from_bits((uint32_t)x << 16))
    case RFS_DT_F64: RUN(double, (float)x)
    case RFS_DT_I64: RUN(int64_t, (float)x)
    case RFS_DT_I32: RUN(int32_t, (float)x)
    case RFS_DT_I16: RUN(int16_t, (float)x)
    case RFS_DT_I8: RUN(int8_t, (float)x)
    case RFS_DT_U8: RUN(uint8_t, (float)x)
    case RFS_DT_BOOL: RUN(uint8_t, x ? 1.0f : 0.0f)
    }
#undef RUN
}

rfs_status rfs_tensor_to_f32(const rfs_tensor *t, float *dst) {
    if (!t || !dst) return RFS_FAIL(RFS_ERR_ARG, "rfs_tensor_to_f32: NULL argument");
    const char *name = t->name ? t->name : "";
    int64_t numel = rfs_tensor_numel(t);
    size_t es = rfs_dtype_size(t->dtype);
    if (numel < 0 || !es) return RFS_FAIL(RFS_ERR_ARG, "tensor '%s': invalid shape or dtype", name);
    if (numel == 0) return RFS_OK;
    if (!t->data)
        return RFS_FAIL(RFS_ERR_ARG, "tensor '%s' has no data (its storage was not loaded)", name);
    const uint8_t *base = t->data;
    if (t->ndim == 0) {
        convert_run(dst, base, 1, (ptrdiff_t)es, t->dtype);
        return RFS_OK;
    }
    /* Row by row along the last dimension; contiguous tensors are one row. */
    int nd = t->ndim;
    int64_t expect = 1;
    bool contiguous = true;
    for (int d = nd - 1; d >= 0; d--) {
        if (t->shape[d] != 1 && t->stride[d] != expect) contiguous = false;
        expect *= t->shape[d];
    }
    if (contiguous) {
        convert_run(dst, base, numel, (ptrdiff_t)es, t->dtype);
        return RFS_OK;
    }
    int64_t inner = t->shape[nd - 1], idx[RFS_MAX_DIMS] = {0};
    ptrdiff_t step = (ptrdiff_t)(t->stride[nd - 1] * (int64_t)es);
    for (int64_t row = 0, rows = numel / inner; row < rows; row++) {
        int64_t off = 0;
        for (int d = 0; d < nd - 1; d++) off += idx[d] * t->stride[d];
        convert_run(dst, base + off * (int64_t)es, inner, step, t->dtype);
        dst += inner;
        for (int d = nd - 2; d >= 0; d--) {
            if (++idx[d] < t->shape[d]) break;
            idx[d] = 0;
        }
    }
    return RFS_OK;
}

/* ---- metadata values ------------------------------------------------------------------- */

const rfs_value *rfs_value_get(const rfs_value *v, const char *key) {
    if (!v || !key || v->kind != RFS_V_DICT) return NULL;
    for (size_t i = v->len; i-- > 0;) /* the last of duplicate keys wins, as in Python */
        if (!strcmp(v->keys[i], key)) return v->items[i];
    return NULL;
}

int64_t rfs_value_int(const rfs_value *v, const char *key, int64_t fallback) {
    const rfs_value *x = rfs_value_get(v, key);
    return x && (x->kind == RFS_V_INT || x->kind == RFS_V_BOOL) ? x->i : fallback;
}

double rfs_value_float(const rfs_value *v, const char *key, double fallback) {
    const rfs_value *x = rfs_value_get(v, key);
    if (!x) return fallback;
    if (x->kind == RFS_V_FLOAT) return x->f;
    if (x->kind == RFS_V_INT || x->kind == RFS_V_BOOL) return (double)x->i;
    return fallback;
}

const char *rfs_value_str(const rfs_value *v, const char *key, const char *fallback) {
    const rfs_value *x = rfs_value_get(v, key);
    return x && x->kind == RFS_V_STR ? x->str : fallback;
}

const char *rfs_tf_value_describe(const rfs_value *v, char *buf, size_t cap) {
    static const char *const names[] = {
        [RFS_V_NONE] = "None",    [RFS_V_BOOL] = "a bool",  [RFS_V_INT] = "an int",
        [RFS_V_FLOAT] = "a float", [RFS_V_STR] = "a str",    [RFS_V_LIST] = "a list/tuple",
        [RFS_V_DICT] = "a dict",   [RFS_V_TENSOR] = "a tensor",
    };
    if (!v) snprintf(buf, cap, "nothing");
    else if (v->kind == RFS_V_OPAQUE) snprintf(buf, cap, "a %s object", v->str ? v->str : "?");
    else if ((unsigned)v->kind < sizeof names / sizeof names[0]) snprintf(buf, cap, "%s", names[v->kind]);
    else snprintf(buf, cap, "an unknown value");
    return buf;
}

bool rfs_tf_utf8_valid(const char *str, size_t n) {
    const uint8_t *s = (const uint8_t *)str;
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp, min;
        if ((c & 0xe0) == 0xc0) len = 2, cp = c & 0x1f, min = 0x80;
        else if ((c & 0xf0) == 0xe0) len = 3, cp = c & 0x0f, min = 0x800;
        else if ((c & 0xf8) == 0xf0) len = 4, cp = c & 0x07, min = 0x10000;
        else return false;
        if (n - i < len) return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += len;
    }
    return true;
}

/* ---- arena ----------------------------------------------------------------------------- */

struct rfs_tf_arena_chunk {
    rfs_tf_arena_chunk *next;
    size_t used, cap;
    size_t pad; /* keeps the data after the header 16-byte aligned */
};
#define ARENA_CHUNK (64u << 10)
#define ARENA_BIG (16u << 10) /* larger requests get a chunk of their own */

void *rfs_tf_arena_alloc(rfs_tf_arena *a, size_t n) {
    size_t need;
    if (rfs_add_size(&need, n, 15)) goto limit;
    need &= ~(size_t)15;
    if (!need) need = 16;
    rfs_tf_arena_chunk *c = a->head;
    if (c && c->cap - c->used >= need) {
        void *p = (char *)(c + 1) + c->used;
        c->used += need;
        return p;
    }
    size_t cap = need > ARENA_BIG ? need : ARENA_CHUNK, bytes;
    if (rfs_add_size(&bytes, cap, sizeof *c) || bytes > RFS_TF_MAX_META_BYTES - a->total) goto limit;
    c = calloc(1, bytes);
    if (!c) {
        a->err = RFS_FAIL(RFS_ERR_NOMEM, "out of memory allocating %zu bytes", bytes);
        return NULL;
    }
    a->total += bytes;
    c->cap = cap;
    c->used = need;
    if (need > ARENA_BIG && a->head) { /* keep the current chunk open for small requests */
        c->next = a->head->next;
        a->head->next = c;
    } else {
        c->next = a->head;
        a->head = c;
    }
    return c + 1;
limit:
    a->err = RFS_FAIL(RFS_ERR_LIMIT, "metadata needs more than %u MiB",
                      (unsigned)(RFS_TF_MAX_META_BYTES >> 20));
    return NULL;
}

char *rfs_tf_arena_strndup(rfs_tf_arena *a, const char *s, size_t n) {
    size_t bytes;
    if (rfs_add_size(&bytes, n, 1)) {
        a->err = RFS_FAIL(RFS_ERR_LIMIT, "string of %zu bytes", n);
        return NULL;
    }
    char *p = rfs_tf_arena_alloc(a, bytes);
    if (p && n) memcpy(p, s, n);
    return p; /* zeroed: already terminated */
}

void rfs_tf_arena_free(rfs_tf_arena *a) {
    for (rfs_tf_arena_chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    a->head = NULL;
    a->total = 0;
}

/* ---- name index ------------------------------------------------------------------------ */

static uint64_t hash_name(const char *s) { /* FNV-1a */
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

/* Builds the hash index of tensor names; duplicate names are a format error. */
static rfs_status build_index(rfs_tensorfile *f) {
    rfs_tf_impl *im = f->impl;
    size_t slots = 16;
    while (slots < 2 * (size_t)f->count) slots *= 2;
    im->index = rfs_tf_arena_alloc(&im->arena, slots * sizeof *im->index);
    if (!im->index) return im->arena.err;
    memset(im->index, 0xff, slots * sizeof *im->index);
    im->index_mask = slots - 1;
    for (int i = 0; i < f->count; i++) {
        size_t h = (size_t)hash_name(f->tensors[i].name) & im->index_mask;
        for (; im->index[h] >= 0; h = (h + 1) & im->index_mask)
            if (!strcmp(f->tensors[im->index[h]].name, f->tensors[i].name))
                return RFS_FAIL(RFS_ERR_FORMAT, "duplicate tensor name '%s'", f->tensors[i].name);
        im->index[h] = i;
    }
    return RFS_OK;
}

const rfs_tensor *rfs_tensorfile_find(const rfs_tensorfile *f, const char *name) {
    if (!f || !name || !f->impl) return NULL;
    const rfs_tf_impl *im = f->impl;
    if (!im->index) return NULL;
    for (size_t h = (size_t)hash_name(name) & im->index_mask; im->index[h] >= 0;
         h = (h + 1) & im->index_mask)
        if (!strcmp(f->tensors[im->index[h]].name, name)) return &f->tensors[im->index[h]];
    return NULL;
}

/* ---- open / free ----------------------------------------------------------------------- */

enum kind { KIND_SAFETENSORS, KIND_ZIP, KIND_LEGACY_TORCH };

/* Tells the format from the first bytes: a safetensors file starts with a header length
 * that fits the file followed by '{'; a zip with a local or end-of-directory record. */
static enum kind sniff(const uint8_t *b, size_t n, uint64_t file_size) {
    if (n >= 9 && file_size >= 9 && rfs_tf_rd64(b) <= file_size - 8 && b[8] == '{') return KIND_SAFETENSORS;
    if (n >= 4 && b[0] == 'P' && b[1] == 'K' &&
        ((b[2] == 3 && b[3] == 4) || (b[2] == 5 && b[3] == 6)))
        return KIND_ZIP;
    /* torch < 1.6 wrote a bare pickle starting with a magic LONG1 */
    if (n >= 4 && b[0] == 0x80 && b[1] == 0x02 && b[2] == 0x8a && b[3] == 0x0a)
        return KIND_LEGACY_TORCH;
    return KIND_SAFETENSORS; /* its parser explains what is wrong */
}

static rfs_status new_file(rfs_tensorfile **out) {
    rfs_tensorfile *f = rfs_calloc(1, sizeof *f);
    rfs_tf_impl *im = rfs_calloc(1, sizeof *im);
    if (!f || !im) {
        free(f);
        free(im);
        return RFS_ERR_NOMEM;
    }
    f->impl = im;
    f->state_key = "";
    *out = f;
    return RFS_OK;
}

/* Common tail of both open functions: index, or free and prefix the message. */
static rfs_status finish(rfs_tensorfile **out, rfs_tensorfile *f, rfs_status st,
                         const char *label) {
    if (st == RFS_OK) st = build_index(f);
    if (st != RFS_OK) {
        rfs_tensorfile_free(f);
        return rfs_fail_context(st, "%s", label);
    }
    *out = f;
    return RFS_OK;
}

static rfs_status legacy_error(void) {
    return RFS_FAIL(RFS_ERR_UNSUPPORTED, "legacy torch.save format (torch < 1.6, not a zip "
                                         "archive); re-save it with a current torch");
}

rfs_status rfs_tensorfile_open_mem(rfs_tensorfile **out, const void *data, size_t size,
                                   const char *label) {
    if (!out || (!data && size)) return RFS_FAIL(RFS_ERR_ARG, "rfs_tensorfile_open_mem: NULL argument");
    *out = NULL;
    if (!label) label = "<memory>";
    rfs_tensorfile *f;
    rfs_status st = new_file(&f);
    if (st != RFS_OK) return rfs_fail_context(st, "%s", label);
    rfs_tf_impl *im = f->impl;
    switch (sniff(data, size, size)) {
    case KIND_ZIP: st = rfs_pth_open_buffer(f, data, size); break;
    case KIND_LEGACY_TORCH: st = legacy_error(); break;
    case KIND_SAFETENSORS:
        if (!(im->file = rfs_malloc(size))) st = RFS_ERR_NOMEM;
        else {
            if (size) memcpy(im->file, data, size);
            st = rfs_safetensors_parse(f, im->file, size);
        }
        break;
    }
    return finish(out, f, st, label);
}

/* Reads the whole of an open regular file into *buf. */
static rfs_status read_all(FILE *fp, uint64_t size, void **buf) {
    if (size > SIZE_MAX) return RFS_FAIL(RFS_ERR_LIMIT, "file of %llu bytes", (unsigned long long)size);
    if (!(*buf = rfs_malloc((size_t)size))) return RFS_ERR_NOMEM;
    if (fseek(fp, 0, SEEK_SET) != 0 || fread(*buf, 1, (size_t)size, fp) != (size_t)size)
        return RFS_FAIL(RFS_ERR_IO, "cannot read %llu bytes: %s", (unsigned long long)size,
                        ferror(fp) ? strerror(errno) : "file shrank while reading");
    return RFS_OK;
}

rfs_status rfs_tensorfile_open(rfs_tensorfile **out, const char *path) {
    if (!out || !path) return RFS_FAIL(RFS_ERR_ARG, "rfs_tensorfile_open: NULL argument");
    *out = NULL;
    FILE *fp;
    struct stat sb;
    rfs_status st0 = rfs_file_open_read(&fp, path, &sb); /* FIFOs and devices refused unread */
    if (st0 != RFS_OK) return st0;
    uint8_t head[9];
    size_t nhead = fread(head, 1, sizeof head, fp);
    uint64_t size = (uint64_t)sb.st_size;
    rfs_tensorfile *f;
    rfs_status st = new_file(&f);
    if (st != RFS_OK) {
        fclose(fp);
        return rfs_fail_context(st, "%s", path);
    }
    rfs_tf_impl *im = f->impl;
    switch (sniff(head, nhead, size)) {
    case KIND_ZIP:
        fclose(fp);
        fp = NULL;
        st = rfs_pth_open_path(f, path);
        break;
    case KIND_LEGACY_TORCH: st = legacy_error(); break;
    case KIND_SAFETENSORS:
        st = read_all(fp, size, &im->file);
        if (st == RFS_OK) st = rfs_safetensors_parse(f, im->file, (size_t)size);
        break;
    }
    if (fp) fclose(fp);
    return finish(out, f, st, path);
}

void rfs_tensorfile_free(rfs_tensorfile *f) {
    if (!f) return;
    rfs_tf_impl *im = f->impl;
    if (im) {
        rfs_tf_arena_free(&im->arena);
        free(im->file);
        for (size_t i = 0; i < im->nbufs; i++) free(im->bufs[i]);
        free(im->bufs);
        free(im);
    }
    free(f);
}
