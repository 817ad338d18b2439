/* tensorfile_int.h - internals shared by the checkpoint readers (tensorfile.c, pth.c,
 * safetensors.c, pickle.c). Not part of any public interface.
 */
#ifndef RFS_IO_TENSORFILE_INT_H
#define RFS_IO_TENSORFILE_INT_H

#include "io/tensorfile.h"
#include "util/err.h"

#include <stdbool.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the checkpoint readers assume a little-endian host (files store little-endian data)"
#endif

/* Limits on what a file may make us allocate or walk; a file beyond them fails with
 * RFS_ERR_LIMIT (real checkpoints are far below every one of them). */
#define RFS_TF_MAX_TENSORS (1 << 22)      /* tensors in one file */
#define RFS_TF_MAX_META_BYTES (512u << 20) /* arena bytes for names, values, tensors */

/* ---- arena: many small allocations freed together ------------------------------------- */

typedef struct rfs_tf_arena_chunk rfs_tf_arena_chunk;
typedef struct rfs_tf_arena {
    rfs_tf_arena_chunk *head;
    size_t total;   /* bytes allocated from malloc so far (limited by RFS_TF_MAX_META_BYTES) */
    rfs_status err; /* why the last allocation failed: RFS_ERR_NOMEM or RFS_ERR_LIMIT */
} rfs_tf_arena;

/* Zeroed, 16-byte aligned; NULL (with an error message, and a->err set) on overflow, limit or
 * out of memory. */
void *rfs_tf_arena_alloc(rfs_tf_arena *a, size_t n);
/* Copy of n bytes plus a terminating NUL. */
char *rfs_tf_arena_strndup(rfs_tf_arena *a, const char *s, size_t n);
void rfs_tf_arena_free(rfs_tf_arena *a);

/* ---- what an open rfs_tensorfile owns (its `impl`) -------------------------------------- */

typedef struct rfs_tf_impl {
    rfs_tf_arena arena;   /* tensors array, names, metadata values */
    void *file;        /* safetensors: the whole file, tensors point into it */
    void **bufs;       /* pth: storages read from the archive, tensors point into them */
    size_t nbufs;
    int32_t *index;    /* open-addressing hash of tensor names -> position, -1 = empty */
    size_t index_mask; /* slots - 1 (slots is a power of two) */
} rfs_tf_impl;

/* Format readers: fill f->tensors/count/args/root/state_key, allocating from the impl.
 * Messages do not name the file; rfs_tensorfile_open*() prefixes it. */
rfs_status rfs_safetensors_parse(rfs_tensorfile *f, const uint8_t *buf, size_t size);
/* torch.save zip read from a file path (the archive is streamed, storages read once). */
rfs_status rfs_pth_open_path(rfs_tensorfile *f, const char *path);
/* torch.save zip held in memory (not referenced after return). */
rfs_status rfs_pth_open_buffer(rfs_tensorfile *f, const void *data, size_t size);

/* ---- small helpers ---------------------------------------------------------------------- */

/* Parses a safetensors dtype name ("F32", "BF16", ...); false when unknown. */
bool rfs_tf_dtype_from_name(rfs_dtype *out, const char *name, size_t len);
/* True when s[0..n) is well-formed UTF-8 (no overlongs, surrogates or code points > U+10FFFF). */
bool rfs_tf_utf8_valid(const char *s, size_t n);
/* "a list", "an int", "a pathlib.PosixPath object", ...: for error messages. */
const char *rfs_tf_value_describe(const rfs_value *v, char *buf, size_t cap);
/* Product of the shape with overflow checks; -1 when it overflows int64 or a dim is < 0. */
int64_t rfs_tf_shape_numel(const int64_t *shape, int ndim);

static inline uint16_t rfs_tf_rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t rfs_tf_rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t rfs_tf_rd64(const uint8_t *p) {
    return (uint64_t)rfs_tf_rd32(p) | (uint64_t)rfs_tf_rd32(p + 4) << 32;
}

#endif
