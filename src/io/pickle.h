/* pickle.h - a data-only pickle reader for torch.save's data.pkl.
 *
 * Runs the pickle opcodes that torch.save (protocol 2, and 3-5 for files saved with a higher
 * pickle_protocol) emits for a state dict, an argparse.Namespace or dict `args`, and the
 * other entries of rfdetr and PyTorch Lightning checkpoints, building rfs_value
 * trees. Nothing is ever imported or called: GLOBAL only records a name, REDUCE/NEWOBJ
 * recognise a few callables by name and turn everything else into RFS_V_OPAQUE values.
 *
 *   torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, meta])
 *                                    -> RFS_V_TENSOR (data NULL; pth.c resolves the storage)
 *   torch._utils._rebuild_parameter(tensor, ...)  -> the tensor
 *   collections.OrderedDict()                      -> RFS_V_DICT (BUILD state ignored)
 *   argparse.Namespace, types.SimpleNamespace      -> RFS_V_DICT of its attributes
 *     (NEWOBJ/REDUCE + BUILD)
 *   collections.defaultdict, Lightning's AttributeDict -> RFS_V_DICT (items via SETITEMS)
 *   persistent id ('storage', torch.XStorage, key, location, numel) -> a storage record
 *   anything else                                  -> RFS_V_OPAQUE named "module.name"
 *
 * Every read is bounds-checked; stack, marks and memo are bounded; the result is checked to
 * be acyclic and at most RFS_PICKLE_MAX_DEPTH deep, so recursive walks over it are safe.
 */
#ifndef RFS_IO_PICKLE_H
#define RFS_IO_PICKLE_H

#include "io/tensorfile_int.h"

#define RFS_PICKLE_MAX_DEPTH 64         /* nesting of containers in the result */
#define RFS_PICKLE_MAX_STACK (1 << 20)  /* stack entries */
#define RFS_PICKLE_MAX_MARKS 4096       /* open MARKs */
#define RFS_PICKLE_MAX_MEMO (1 << 24)   /* memo index */

/* A storage named by a persistent id: zip entry <root>/data/<key>. */
typedef struct rfs_pickle_storage {
    const char *key;
    rfs_dtype dtype;
    int64_t numel; /* elements, as the pickle declares */
} rfs_pickle_storage;

/* A tensor value: v->tensor points at `t`, the first member. */
typedef struct rfs_pickle_tensor {
    rfs_tensor t; /* name "" and data NULL until the caller binds them */
    const rfs_pickle_storage *storage;
    int64_t offset; /* storage offset in elements */
} rfs_pickle_tensor;

/* Runs the pickle in data[0..size) and returns the object STOP leaves on the stack.
 * All values live in `arena`. Errors: RFS_ERR_FORMAT naming the opcode and byte offset;
 * RFS_ERR_LIMIT / RFS_ERR_UNSUPPORTED / RFS_ERR_NOMEM. */
rfs_status rfs_pickle_load(const rfs_value **root, rfs_tf_arena *arena, const uint8_t *data,
                           size_t size);

static inline const rfs_pickle_tensor *rfs_pickle_tensor_of(const rfs_value *v) {
    return v && v->kind == RFS_V_TENSOR ? (const rfs_pickle_tensor *)v->tensor : NULL;
}

#endif
