/* safetensors.c - the safetensors reader and writer.
 *
 * Layout: u64 little-endian header length N, N bytes of JSON
 *   {"__metadata__": {"k": "v", ...}, "name": {"dtype": "F32", "shape": [..],
 *    "data_offsets": [begin, end]}, ...}
 * then the data section; offsets are relative to its start. The reader is as strict as
 * the reference implementation (huggingface/safetensors): the tensors must tile the data
 * section exactly, in some order, with no gap, overlap or trailing byte. The JSON parser
 * accepts exactly that shape of document and nothing else.
 */
#include "io/fileio.h"
#include "io/tensorfile_int.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

#define ST_MAX_HEADER 100000000u /* the reference implementation's limit */

/* ---- a strict JSON reader for the header ----------------------------------------------- */

typedef struct jp {
    const char *start, *p, *end;
    rfs_tf_arena *arena;
} jp;

static rfs_status jfail(jp *j, rfs_status st, const char *fmt, ...) RFS_PRINTF(3, 4);
static rfs_status jfail(jp *j, rfs_status st, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return RFS_FAIL(st, "safetensors header, byte %zu: %s", 8 + (size_t)(j->p - j->start), msg);
}

#define TRY(x)                                                                            \
    do {                                                                                  \
        rfs_status st_ = (x);                                                             \
        if (st_ != RFS_OK) return st_;                                                    \
    } while (0)

static void ws(jp *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

/* Skips whitespace; true (and consumes it) when the next character is c. */
static bool accept(jp *j, char c) {
    ws(j);
    if (j->p < j->end && *j->p == c) {
        j->p++;
        return true;
    }
    return false;
}

static rfs_status expect(jp *j, char c) {
    if (accept(j, c)) return RFS_OK;
    if (j->p >= j->end) return jfail(j, RFS_ERR_FORMAT, "expected '%c', found the end", c);
    return jfail(j, RFS_ERR_FORMAT, "expected '%c', found '%c'", c, *j->p);
}

static int hex4(const char *s) {
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v << 4 | d;
    }
    return v;
}

static size_t put_utf8(char *o, uint32_t cp) {
    if (cp < 0x80) return o[0] = (char)cp, 1;
    if (cp < 0x800) return o[0] = (char)(0xc0 | cp >> 6), o[1] = (char)(0x80 | (cp & 0x3f)), 2;
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* A JSON string, unescaped into the arena (decoded text is never longer than its source). */
static rfs_status jstring(jp *j, const char **out, size_t *len) {
    TRY(expect(j, '"'));
    const char *q = j->p;
    while (q < j->end && *q != '"') {
        if (*q == '\\' && j->end - q < 2) break; /* a backslash needs a character after it */
        q += *q == '\\' ? 2 : 1;
    }
    if (q >= j->end || *q != '"') return jfail(j, RFS_ERR_FORMAT, "unterminated string");
    char *buf = rfs_tf_arena_alloc(j->arena, (size_t)(q - j->p) + 1), *o = buf;
    if (!buf) return j->arena->err;
    while (j->p < q) {
        unsigned char c = (unsigned char)*j->p;
        if (c < 0x20) return jfail(j, RFS_ERR_FORMAT, "control character in a string");
        if (c != '\\') {
            *o++ = (char)c;
            j->p++;
            continue;
        }
        char e = j->p[1]; /* the scan above guarantees a character after the backslash */
        j->p += 2;
        switch (e) {
        case '"': case '\\': case '/': *o++ = e; continue;
        case 'b': *o++ = '\b'; continue;
        case 'f': *o++ = '\f'; continue;
        case 'n': *o++ = '\n'; continue;
        case 'r': *o++ = '\r'; continue;
        case 't': *o++ = '\t'; continue;
        case 'u': break;
        default: return jfail(j, RFS_ERR_FORMAT, "bad escape '\\%c'", e);
        }
        int cp = q - j->p >= 4 ? hex4(j->p) : -1;
        if (cp < 0) return jfail(j, RFS_ERR_FORMAT, "bad \\u escape");
        j->p += 4;
        if (cp >= 0xd800 && cp <= 0xdbff) { /* a surrogate pair */
            int lo = q - j->p >= 6 && j->p[0] == '\\' && j->p[1] == 'u' ? hex4(j->p + 2) : -1;
            if (lo < 0xdc00 || lo > 0xdfff) return jfail(j, RFS_ERR_FORMAT, "unpaired surrogate");
            j->p += 6;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        } else if (cp >= 0xdc00 && cp <= 0xdfff) {
            return jfail(j, RFS_ERR_FORMAT, "unpaired surrogate");
        }
        o += put_utf8(o, (uint32_t)cp);
    }
    j->p = q + 1;
    *len = (size_t)(o - buf);
    if (!rfs_tf_utf8_valid(buf, *len)) return jfail(j, RFS_ERR_FORMAT, "string is not valid UTF-8");
    *out = buf;
    return RFS_OK;
}

/* A non-negative integer without sign, fraction or exponent (all the header ever holds). */
static rfs_status juint(jp *j, uint64_t *out) {
    ws(j);
    const char *s = j->p;
    uint64_t v = 0;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        unsigned d = (unsigned)(*j->p - '0');
        if (v > (UINT64_MAX - d) / 10) return jfail(j, RFS_ERR_FORMAT, "integer too large");
        v = v * 10 + d;
        j->p++;
    }
    if (j->p == s) return jfail(j, RFS_ERR_FORMAT, "expected a non-negative integer");
    if (*s == '0' && j->p - s > 1) return jfail(j, RFS_ERR_FORMAT, "integer with a leading zero");
    if (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E'))
        return jfail(j, RFS_ERR_FORMAT, "expected an integer");
    *out = v;
    return RFS_OK;
}

/* [u, u, ...] with at most `cap` items. */
static rfs_status juint_array(jp *j, uint64_t *dst, int cap, int *n, const char *what) {
    TRY(expect(j, '['));
    *n = 0;
    if (accept(j, ']')) return RFS_OK;
    do {
        if (*n == cap) return jfail(j, RFS_ERR_FORMAT, "%s has more than %d entries", what, cap);
        TRY(juint(j, &dst[(*n)++]));
    } while (accept(j, ','));
    return expect(j, ']');
}

/* ---- the header ------------------------------------------------------------------------ */

typedef struct entry {
    const char *name;
    rfs_dtype dtype;
    int ndim;
    int64_t shape[RFS_MAX_DIMS];
    uint64_t begin, end; /* data_offsets */
} entry;

/* Grows an arena array of `elem`-sized items by doubling. */
static rfs_status arena_grow(rfs_tf_arena *a, void **arr, size_t *cap, size_t len, size_t elem) {
    if (len < *cap) return RFS_OK;
    size_t c = *cap ? *cap * 2 : 16, bytes;
    if (rfs_mul_size(&bytes, c, elem)) return RFS_FAIL(RFS_ERR_LIMIT, "header too large");
    void *p = rfs_tf_arena_alloc(a, bytes);
    if (!p) return a->err;
    if (len) memcpy(p, *arr, len * elem);
    *arr = p;
    *cap = c;
    return RFS_OK;
}

/* {"dtype": ..., "shape": [...], "data_offsets": [b, e]} in any order, each exactly once. */
static rfs_status parse_tensor(jp *j, entry *e) {
    int seen = 0;
    TRY(expect(j, '{'));
    do {
        const char *key;
        size_t klen;
        TRY(jstring(j, &key, &klen));
        TRY(expect(j, ':'));
        int bit = !strcmp(key, "dtype") ? 1 : !strcmp(key, "shape") ? 2
                : !strcmp(key, "data_offsets") ? 4 : 0;
        if (!bit) return jfail(j, RFS_ERR_FORMAT, "tensor '%s': unknown field '%s'", e->name, key);
        if (seen & bit) return jfail(j, RFS_ERR_FORMAT, "tensor '%s': field '%s' repeated", e->name, key);
        seen |= bit;
        if (bit == 1) {
            const char *dt;
            size_t dlen;
            TRY(jstring(j, &dt, &dlen));
            if (!rfs_tf_dtype_from_name(&e->dtype, dt, dlen))
                return jfail(j, RFS_ERR_UNSUPPORTED, "tensor '%s': dtype '%s' is not supported",
                             e->name, dt);
        } else if (bit == 2) {
            uint64_t dims[RFS_MAX_DIMS];
            TRY(juint_array(j, dims, RFS_MAX_DIMS, &e->ndim, "shape"));
            for (int d = 0; d < e->ndim; d++) {
                if (dims[d] > INT64_MAX) return jfail(j, RFS_ERR_FORMAT, "tensor '%s': dimension too large", e->name);
                e->shape[d] = (int64_t)dims[d];
            }
        } else {
            uint64_t off[2];
            int n;
            TRY(juint_array(j, off, 2, &n, "data_offsets"));
            if (n != 2) return jfail(j, RFS_ERR_FORMAT, "tensor '%s': data_offsets needs 2 numbers", e->name);
            e->begin = off[0];
            e->end = off[1];
        }
    } while (accept(j, ','));
    TRY(expect(j, '}'));
    if (seen != 7)
        return jfail(j, RFS_ERR_FORMAT, "tensor '%s': missing %s", e->name,
                     !(seen & 1) ? "dtype" : !(seen & 2) ? "shape" : "data_offsets");
    return RFS_OK;
}

/* "__metadata__": {"k": "v", ...} -> a DICT of STR values. */
static rfs_status parse_metadata(jp *j, rfs_value **out) {
    rfs_value *d = rfs_tf_arena_alloc(j->arena, sizeof *d);
    if (!d) return j->arena->err;
    d->kind = RFS_V_DICT;
    size_t cap = 0, kcap = 0;
    TRY(expect(j, '{'));
    if (!accept(j, '}')) {
        do {
            rfs_value *v = rfs_tf_arena_alloc(j->arena, sizeof *v);
            if (!v) return j->arena->err;
            const char *key;
            size_t klen;
            TRY(jstring(j, &key, &klen));
            TRY(expect(j, ':'));
            ws(j);
            if (j->p >= j->end || *j->p != '"')
                return jfail(j, RFS_ERR_FORMAT, "__metadata__ '%s': values must be strings", key);
            v->kind = RFS_V_STR;
            TRY(jstring(j, &v->str, &v->len));
            TRY(arena_grow(j->arena, (void **)&d->items, &cap, d->len, sizeof *d->items));
            TRY(arena_grow(j->arena, (void **)&d->keys, &kcap, d->len, sizeof *d->keys));
            d->keys[d->len] = key;
            d->items[d->len++] = v;
        } while (accept(j, ','));
        TRY(expect(j, '}'));
    }
    *out = d;
    return RFS_OK;
}

static rfs_status parse_header(jp *j, entry **entries, size_t *count, rfs_value **meta) {
    size_t cap = 0;
    *count = 0;
    TRY(expect(j, '{'));
    if (!accept(j, '}')) {
        do {
            const char *name;
            size_t nlen;
            TRY(jstring(j, &name, &nlen));
            TRY(expect(j, ':'));
            if (strlen(name) != nlen) return jfail(j, RFS_ERR_FORMAT, "tensor name contains a NUL");
            if (!strcmp(name, "__metadata__")) {
                if (*meta) return jfail(j, RFS_ERR_FORMAT, "__metadata__ repeated");
                TRY(parse_metadata(j, meta));
                continue;
            }
            if (*count >= RFS_TF_MAX_TENSORS)
                return jfail(j, RFS_ERR_LIMIT, "more than %d tensors", RFS_TF_MAX_TENSORS);
            TRY(arena_grow(j->arena, (void **)entries, &cap, *count, sizeof **entries));
            entry *e = &(*entries)[(*count)++];
            memset(e, 0, sizeof *e);
            e->name = name;
            TRY(parse_tensor(j, e));
        } while (accept(j, ','));
        TRY(expect(j, '}'));
    }
    ws(j);
    if (j->p != j->end) return jfail(j, RFS_ERR_FORMAT, "text after the header object");
    return RFS_OK;
}

/* ---- checks and the tensor table ------------------------------------------------------- */

static int by_offset(const void *a, const void *b) {
    const entry *x = *(const entry *const *)a, *y = *(const entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Every tensor's byte count matches its shape, and together the tensors tile the data
 * section [0, data_len) exactly. */
static rfs_status check_offsets(entry *es, size_t n, uint64_t data_len, rfs_tf_arena *a) {
    for (size_t i = 0; i < n; i++) {
        entry *e = &es[i];
        int64_t numel = rfs_tf_shape_numel(e->shape, e->ndim);
        uint64_t need;
        if (numel < 0 || __builtin_mul_overflow((uint64_t)numel, rfs_dtype_size(e->dtype), &need))
            return RFS_FAIL(RFS_ERR_FORMAT, "tensor '%s': element count overflows", e->name);
        if (e->end < e->begin || e->end > data_len)
            return RFS_FAIL(RFS_ERR_FORMAT,
                            "tensor '%s': data_offsets [%llu, %llu] outside the data section "
                            "(%llu bytes)", e->name, (unsigned long long)e->begin,
                            (unsigned long long)e->end, (unsigned long long)data_len);
        if (e->end - e->begin != need)
            return RFS_FAIL(RFS_ERR_FORMAT,
                            "tensor '%s': data_offsets [%llu, %llu] hold %llu bytes, its shape "
                            "and dtype %s need %llu", e->name, (unsigned long long)e->begin,
                            (unsigned long long)e->end,
                            (unsigned long long)(e->end - e->begin), rfs_dtype_name(e->dtype),
                            (unsigned long long)need);
    }
    entry **sorted = rfs_tf_arena_alloc(a, n * sizeof *sorted);
    if (!sorted) return a->err;
    for (size_t i = 0; i < n; i++) sorted[i] = &es[i];
    qsort(sorted, n, sizeof *sorted, by_offset);
    uint64_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        if (sorted[i]->begin != pos)
            return RFS_FAIL(RFS_ERR_FORMAT,
                            "tensor '%s' starts at data byte %llu, expected %llu%s%s%s "
                            "(overlapping or gapped data_offsets)", sorted[i]->name,
                            (unsigned long long)sorted[i]->begin, (unsigned long long)pos,
                            i ? " where '" : "", i ? sorted[i - 1]->name : "", i ? "' ends" : "");
        pos = sorted[i]->end;
    }
    if (pos != data_len)
        return RFS_FAIL(RFS_ERR_FORMAT, "the data section holds %llu bytes, the tensors cover %llu",
                        (unsigned long long)data_len, (unsigned long long)pos);
    return RFS_OK;
}

rfs_status rfs_safetensors_parse(rfs_tensorfile *f, const uint8_t *buf, size_t size) {
    rfs_tf_impl *im = f->impl;
    if (size < 8)
        return RFS_FAIL(RFS_ERR_FORMAT, "%zu bytes: too short for a safetensors header (nor a "
                                        "torch.save zip)", size);
    uint64_t hlen = rfs_tf_rd64(buf);
    if (hlen > size - 8)
        return RFS_FAIL(RFS_ERR_FORMAT, "safetensors header length %llu exceeds the file (%zu "
                                        "bytes after the length); not a safetensors or torch file?",
                        (unsigned long long)hlen, size - 8);
    if (hlen > ST_MAX_HEADER)
        return RFS_FAIL(RFS_ERR_LIMIT, "safetensors header of %llu bytes (limit %u)",
                        (unsigned long long)hlen, ST_MAX_HEADER);
    jp j = {(const char *)buf + 8, (const char *)buf + 8, (const char *)buf + 8 + hlen, &im->arena};
    entry *es = NULL;
    size_t n;
    rfs_value *meta = NULL;
    TRY(parse_header(&j, &es, &n, &meta));
    const uint8_t *data = buf + 8 + hlen;
    TRY(check_offsets(es, n, size - 8 - hlen, &im->arena));

    f->tensors = rfs_tf_arena_alloc(&im->arena, n * sizeof *f->tensors);
    if (!f->tensors) return im->arena.err;
    for (size_t i = 0; i < n; i++) {
        rfs_tensor *t = &f->tensors[i];
        t->name = es[i].name;
        t->dtype = es[i].dtype;
        t->ndim = es[i].ndim;
        int64_t stride = 1;
        for (int d = t->ndim - 1; d >= 0; d--) {
            t->shape[d] = es[i].shape[d];
            t->stride[d] = stride;
            stride *= t->shape[d] ? t->shape[d] : 1; /* bounded by the checked numel */
        }
        t->data = data + es[i].begin;
    }
    f->count = (int)n;
    f->root = meta;
    f->args = NULL;
    f->state_key = "";
    return RFS_OK;
}

/* ---- writer ---------------------------------------------------------------------------- */

typedef struct sbuf {
    char *s;
    size_t len, cap;
    bool oom;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->cap - b->len < n + 1) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->len < n + 1) {
            if (rfs_mul_size(&cap, cap, 2)) {
                b->oom = true;
                return;
            }
        }
        char *p = rfs_realloc(b->s, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

static void sb_u64(sbuf *b, uint64_t v) {
    char tmp[24];
    sb_add(b, tmp, (size_t)snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v));
}

/* A JSON string literal: quotes, backslashes and control characters escaped. */
static void sb_json(sbuf *b, const char *s) {
    sb_add(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            sb_add(b, esc, 2);
        } else if (c < 0x20) {
            char esc[8];
            sb_add(b, esc, (size_t)snprintf(esc, sizeof esc, "\\u%04x", c));
        } else {
            sb_add(b, (const char *)&c, 1);
        }
    }
    sb_add(b, "\"", 1);
}

static rfs_status check_out(const rfs_tensor_out *t, int n, const char *const *meta_kv,
                            int n_meta, uint64_t *nbytes) {
    if (n < 0 || n_meta < 0 || (n && !t) || (n_meta && !meta_kv))
        return RFS_FAIL(RFS_ERR_ARG, "bad tensor or metadata count");
    for (int i = 0; i < 2 * n_meta; i++)
        if (!meta_kv[i] || !rfs_tf_utf8_valid(meta_kv[i], strlen(meta_kv[i])))
            return RFS_FAIL(RFS_ERR_ARG, "metadata entry %d is NULL or not UTF-8", i / 2);
    for (int i = 0; i < n; i++) {
        const char *name = t[i].name;
        if (!name || !*name || !rfs_tf_utf8_valid(name, strlen(name)) || !strcmp(name, "__metadata__"))
            return RFS_FAIL(RFS_ERR_ARG, "tensor %d: missing or invalid name", i);
        if (!rfs_dtype_size(t[i].dtype) || t[i].ndim < 0 || t[i].ndim > RFS_MAX_DIMS)
            return RFS_FAIL(RFS_ERR_ARG, "tensor '%s': invalid dtype or ndim", name);
        int64_t numel = rfs_tf_shape_numel(t[i].shape, t[i].ndim);
        if (numel < 0 || __builtin_mul_overflow((uint64_t)numel, rfs_dtype_size(t[i].dtype), &nbytes[i]))
            return RFS_FAIL(RFS_ERR_ARG, "tensor '%s': invalid shape", name);
        if (nbytes[i] && !t[i].data) return RFS_FAIL(RFS_ERR_ARG, "tensor '%s': no data", name);
        for (int k = 0; k < i; k++)
            if (!strcmp(t[k].name, name)) return RFS_FAIL(RFS_ERR_ARG, "tensor '%s' given twice", name);
    }
    return RFS_OK;
}

/* The JSON header, padded with spaces to a multiple of 8 bytes as the reference writer
 * does, so that the data section starts 8-byte aligned in the file. */
static rfs_status build_header(sbuf *b, const rfs_tensor_out *t, int n, const uint64_t *nbytes,
                               const char *const *meta_kv, int n_meta) {
    sb_str(b, "{");
    if (n_meta) {
        sb_str(b, "\"__metadata__\":{");
        for (int i = 0; i < n_meta; i++) {
            if (i) sb_str(b, ",");
            sb_json(b, meta_kv[2 * i]);
            sb_str(b, ":");
            sb_json(b, meta_kv[2 * i + 1]);
        }
        sb_str(b, "}");
    }
    uint64_t pos = 0;
    for (int i = 0; i < n; i++) {
        if (i || n_meta) sb_str(b, ",");
        sb_json(b, t[i].name);
        sb_str(b, ":{\"dtype\":\"");
        sb_str(b, rfs_dtype_name(t[i].dtype));
        sb_str(b, "\",\"shape\":[");
        for (int d = 0; d < t[i].ndim; d++) {
            if (d) sb_str(b, ",");
            sb_u64(b, (uint64_t)t[i].shape[d]);
        }
        sb_str(b, "],\"data_offsets\":[");
        sb_u64(b, pos);
        sb_str(b, ",");
        if (__builtin_add_overflow(pos, nbytes[i], &pos))
            return RFS_FAIL(RFS_ERR_ARG, "tensors too large");
        sb_u64(b, pos);
        sb_str(b, "]}");
    }
    sb_str(b, "}");
    while (!b->oom && b->len % 8) sb_str(b, " ");
    return b->oom ? RFS_FAIL(RFS_ERR_NOMEM, "out of memory building a safetensors header") : RFS_OK;
}

rfs_status rfs_safetensors_write(const char *path, const rfs_tensor_out *t, int n,
                                 const char *const *meta_kv, int n_meta) {
    if (!path) return RFS_FAIL(RFS_ERR_ARG, "rfs_safetensors_write: NULL path");
    uint64_t *nbytes = rfs_calloc(n > 0 ? (size_t)n : 1, sizeof *nbytes);
    if (!nbytes) return RFS_ERR_NOMEM;
    sbuf b = {0};
    rfs_status st = check_out(t, n, meta_kv, n_meta, nbytes);
    if (st == RFS_OK) st = build_header(&b, t, n, nbytes, meta_kv, n_meta);
    if (st != RFS_OK) goto fail;
    rfs_outfile o;
    if ((st = rfs_outfile_open(&o, path, 1)) != RFS_OK) goto fail;
    uint8_t len[8];
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)((uint64_t)b.len >> (8 * i));
    errno = 0;
    bool ok = fwrite(len, 1, 8, o.f) == 8 && fwrite(b.s, 1, b.len, o.f) == b.len;
    for (int i = 0; ok && i < n; i++)
        ok = !nbytes[i] || fwrite(t[i].data, 1, (size_t)nbytes[i], o.f) == nbytes[i];
    if (!ok) {
        st = RFS_FAIL(RFS_ERR_IO, "%s: write failed: %s", path, strerror(errno ? errno : EIO));
        rfs_outfile_abort(&o);
    } else {
        st = rfs_outfile_commit(&o);
    }
fail:
    free(b.s);
    free(nbytes);
    return st;
}
