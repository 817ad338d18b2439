/* tensorfile.h - named tensors and metadata read from checkpoint files.
 *
 * One reader interface for the two formats rfseg loads:
 *   - torch.save zip archives (.pth/.pt): <root>/data.pkl (pickle protocol 2) plus
 *     <root>/data/<key> raw little-endian storages (pth.c, pickle.c);
 *   - safetensors: 8-byte little-endian header length, JSON header, raw data
 *     (safetensors.c).
 * Data only: no pickle code is ever executed. The pickle subset understood is exactly what
 * torch.save writes for a state dict plus an argparse.Namespace `args`; inside metadata an
 * unknown class becomes an opaque value, inside the state dict it is an error.
 *
 * A tensor's data stays in the file's memory (read or mapped once) in its stored dtype;
 * rfs_tensor_to_f32() converts any supported dtype/stride to contiguous float32.
 */
#ifndef RFS_IO_TENSORFILE_H
#define RFS_IO_TENSORFILE_H

#include "rfseg.h"
#include <stddef.h>
#include <stdint.h>

#define RFS_MAX_DIMS 8

typedef enum rfs_dtype {
    RFS_DT_F32,
    RFS_DT_F16,
    RFS_DT_BF16,
    RFS_DT_F64,
    RFS_DT_I64,
    RFS_DT_I32,
    RFS_DT_I16,
    RFS_DT_I8,
    RFS_DT_U8,
    RFS_DT_BOOL,
} rfs_dtype;

size_t rfs_dtype_size(rfs_dtype dt);
const char *rfs_dtype_name(rfs_dtype dt); /* safetensors spelling: "F32", "BF16", ... */

typedef struct rfs_tensor {
    const char *name;
    rfs_dtype dtype;
    int ndim;
    int64_t shape[RFS_MAX_DIMS];
    int64_t stride[RFS_MAX_DIMS]; /* in elements; row-major contiguous for safetensors */
    const void *data;             /* first element, inside the file's buffer */
} rfs_tensor;

int64_t rfs_tensor_numel(const rfs_tensor *t);
/* Converts to contiguous row-major float32 (dst holds numel floats). Fails for
 * non-float dtypes only when the value cannot be represented; integers convert. */
rfs_status rfs_tensor_to_f32(const rfs_tensor *t, float *dst);

/* ---- metadata values (pickle objects outside the state dict, safetensors __metadata__) */

typedef enum rfs_vkind {
    RFS_V_NONE,
    RFS_V_BOOL,
    RFS_V_INT,
    RFS_V_FLOAT,
    RFS_V_STR,
    RFS_V_LIST,   /* lists and tuples */
    RFS_V_DICT,   /* dicts, OrderedDicts, Namespaces (attributes as keys) */
    RFS_V_TENSOR, /* a tensor inside metadata */
    RFS_V_OPAQUE, /* an object of a class outside the subset; `str` holds "module.Class" */
} rfs_vkind;

typedef struct rfs_value rfs_value;
struct rfs_value {
    rfs_vkind kind;
    int64_t i;          /* BOOL, INT */
    double f;           /* FLOAT */
    const char *str;    /* STR (UTF-8, NUL-terminated), OPAQUE class name */
    size_t len;         /* STR byte length; LIST/DICT item count */
    rfs_value **items;  /* LIST items; DICT values */
    const char **keys;  /* DICT keys (string keys only; others are skipped) */
    const rfs_tensor *tensor; /* TENSOR */
};

/* Dict lookup by key; NULL when v is not a dict or has no such key. */
const rfs_value *rfs_value_get(const rfs_value *v, const char *key);
/* Typed getters with a fallback when absent or of another kind (ints accept bools,
 * floats accept ints). */
int64_t rfs_value_int(const rfs_value *v, const char *key, int64_t fallback);
double rfs_value_float(const rfs_value *v, const char *key, double fallback);
const char *rfs_value_str(const rfs_value *v, const char *key, const char *fallback);

/* ---- the file ----------------------------------------------------------------------------- */

typedef struct rfs_tensorfile {
    int count;
    rfs_tensor *tensors;   /* the state dict (or every tensor of a safetensors file) */
    const rfs_value *args; /* the checkpoint's `args` (a DICT), or NULL */
    const rfs_value *root; /* the whole top-level object (pth) or __metadata__ (safetensors) */
    const char *state_key; /* where the state dict was found: "model", "ema_model", "" */
    void *impl;            /* owned buffers */
} rfs_tensorfile;

/* Opens a checkpoint by content (zip magic -> torch.save, otherwise safetensors). Only
 * regular files: FIFOs, devices and directories are refused before they are read.
 * Every size and offset in the file is checked against the file's length before use;
 * malformed files give RFS_ERR_FORMAT with a message naming the problem. */
rfs_status rfs_tensorfile_open(rfs_tensorfile **out, const char *path);
/* Same, from a memory buffer (copied); used by the fuzz targets. */
rfs_status rfs_tensorfile_open_mem(rfs_tensorfile **out, const void *data, size_t size,
                                   const char *label);
const rfs_tensor *rfs_tensorfile_find(const rfs_tensorfile *f, const char *name);
void rfs_tensorfile_free(rfs_tensorfile *f);

/* Writes float32/int32/uint8 tensors (contiguous, data given) as a safetensors file.
 * Names are written in the order given. metadata (may be NULL) is a list of n_meta
 * key/value string pairs for __metadata__. The file is written under a temporary name
 * beside path and renamed to path when complete; on failure path is left as it was. */
typedef struct rfs_tensor_out {
    const char *name;
    rfs_dtype dtype;
    int ndim;
    int64_t shape[RFS_MAX_DIMS];
    const void *data;
} rfs_tensor_out;
rfs_status rfs_safetensors_write(const char *path, const rfs_tensor_out *t, int n,
                                 const char *const *meta_kv, int n_meta);

#endif
