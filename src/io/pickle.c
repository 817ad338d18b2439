/* pickle.c - the data-only pickle VM (see pickle.h for the subset and the rules).
 *
 * The VM mirrors CPython's Unpickler (Lib/pickle.py): a value stack split by MARKs, a memo
 * indexed by BINPUT/BINGET, and opcodes that build containers in place. Values are pv
 * structs in the caller's arena; containers grow by doubling into fresh arena blocks.
 * Nothing from the file is executed: callables are names, recognised by string compare.
 */
#include "io/pickle.h"

#include <stdarg.h>
#include <string.h>

/* pv flags */
enum {
    PV_TUPLE = 1,     /* an immutable LIST (tuple, frozenset): APPEND is an error */
    PV_NAMESPACE = 2, /* a DICT built from argparse.Namespace: BUILD fills it */
    PV_GLOBAL = 4,    /* an OPAQUE naming a class/function (GLOBAL, STACK_GLOBAL) */
    PV_STORAGE = 8,   /* an OPAQUE standing for a storage (BINPERSID) */
};

/* Callables and classes recognised by name. */
enum {
    G_OTHER,
    G_REBUILD_TENSOR,
    G_REBUILD_PARAM,
    G_ODICT,
    G_NAMESPACE,
    G_DICTLIKE,
    G_RECONSTRUCTOR,
    G_STORAGE,
};

typedef struct pv {
    rfs_value v;     /* the public value; first, so a pv* is an rfs_value* */
    size_t cap;      /* room in v.items (and v.keys for dicts) */
    uint8_t flags;   /* PV_* */
    uint8_t global;  /* G_* when PV_GLOBAL */
    uint8_t color;   /* acyclicity check: 0 new, 1 on the current path, 2 done */
    uint8_t height;  /* when done: levels of nesting from here down (a scalar is 1) */
    rfs_dtype dtype; /* G_STORAGE: element type of the storage class */
    rfs_pickle_storage *storage; /* PV_STORAGE */
} pv;

typedef struct vm {
    const uint8_t *base, *p, *end;
    size_t op_at; /* offset of the opcode being run, for messages */
    uint8_t op;
    rfs_tf_arena *arena;
    pv **stack;
    size_t sp, stack_cap;
    size_t *marks; /* stack heights at each open MARK */
    size_t nmarks, marks_cap;
    pv **memo;
    size_t memo_cap, memo_len; /* memo_len: filled slots (MEMOIZE's next index) */
} vm;

static const struct {
    const char *name;
    uint8_t global;
    rfs_dtype dtype;
} known_globals[] = {
    {"torch._utils._rebuild_tensor_v2", G_REBUILD_TENSOR, RFS_DT_F32},
    {"torch._utils._rebuild_parameter", G_REBUILD_PARAM, RFS_DT_F32},
    {"collections.OrderedDict", G_ODICT, RFS_DT_F32},
    {"argparse.Namespace", G_NAMESPACE, RFS_DT_F32},
    {"types.SimpleNamespace", G_NAMESPACE, RFS_DT_F32},
    /* dict subclasses: Lightning's hyper_parameters, defaultdicts in metadata */
    {"collections.defaultdict", G_DICTLIKE, RFS_DT_F32},
    {"lightning.fabric.utilities.data.AttributeDict", G_DICTLIKE, RFS_DT_F32},
    {"lightning_fabric.utilities.data.AttributeDict", G_DICTLIKE, RFS_DT_F32},
    {"lightning.pytorch.utilities.parsing.AttributeDict", G_DICTLIKE, RFS_DT_F32},
    {"pytorch_lightning.utilities.parsing.AttributeDict", G_DICTLIKE, RFS_DT_F32},
    {"copyreg._reconstructor", G_RECONSTRUCTOR, RFS_DT_F32},
    {"torch.FloatStorage", G_STORAGE, RFS_DT_F32},
    {"torch.HalfStorage", G_STORAGE, RFS_DT_F16},
    {"torch.BFloat16Storage", G_STORAGE, RFS_DT_BF16},
    {"torch.DoubleStorage", G_STORAGE, RFS_DT_F64},
    {"torch.LongStorage", G_STORAGE, RFS_DT_I64},
    {"torch.IntStorage", G_STORAGE, RFS_DT_I32},
    {"torch.ShortStorage", G_STORAGE, RFS_DT_I16},
    {"torch.CharStorage", G_STORAGE, RFS_DT_I8},
    {"torch.ByteStorage", G_STORAGE, RFS_DT_U8},
    {"torch.BoolStorage", G_STORAGE, RFS_DT_BOOL},
};

/* ---- errors ----------------------------------------------------------------------------- */

/* Names of the opcodes the VM runs (as pickletools prints them), for messages. */
static const char *op_name(uint8_t op) {
    switch (op) {
    case 0x80: return "PROTO";
    case 0x95: return "FRAME";
    case '.': return "STOP";
    case '(': return "MARK";
    case '0': return "POP";
    case '1': return "POP_MARK";
    case '2': return "DUP";
    case '}': return "EMPTY_DICT";
    case ']': return "EMPTY_LIST";
    case ')': return "EMPTY_TUPLE";
    case 0x8f: return "EMPTY_SET";
    case 'q': return "BINPUT";
    case 'r': return "LONG_BINPUT";
    case 0x94: return "MEMOIZE";
    case 'h': return "BINGET";
    case 'j': return "LONG_BINGET";
    case 'X': return "BINUNICODE";
    case 0x8c: return "SHORT_BINUNICODE";
    case 0x8d: return "BINUNICODE8";
    case 'T': return "BINSTRING";
    case 'U': return "SHORT_BINSTRING";
    case 'B': return "BINBYTES";
    case 'C': return "SHORT_BINBYTES";
    case 0x8e: return "BINBYTES8";
    case 0x96: return "BYTEARRAY8";
    case 'J': return "BININT";
    case 'K': return "BININT1";
    case 'M': return "BININT2";
    case 0x8a: return "LONG1";
    case 0x8b: return "LONG4";
    case 'G': return "BINFLOAT";
    case 0x88: return "NEWTRUE";
    case 0x89: return "NEWFALSE";
    case 'N': return "NONE";
    case 't': return "TUPLE";
    case 0x85: return "TUPLE1";
    case 0x86: return "TUPLE2";
    case 0x87: return "TUPLE3";
    case 'l': return "LIST";
    case 0x91: return "FROZENSET";
    case 'd': return "DICT";
    case 'a': return "APPEND";
    case 'e': return "APPENDS";
    case 0x90: return "ADDITEMS";
    case 's': return "SETITEM";
    case 'u': return "SETITEMS";
    case 'c': return "GLOBAL";
    case 0x93: return "STACK_GLOBAL";
    case 'R': return "REDUCE";
    case 0x81: return "NEWOBJ";
    case 0x92: return "NEWOBJ_EX";
    case 'b': return "BUILD";
    case 'Q': return "BINPERSID";
    default: return NULL;
    }
}

static rfs_status vm_fail(vm *m, rfs_status st, const char *fmt, ...) RFS_PRINTF(3, 4);
static rfs_status vm_fail(vm *m, rfs_status st, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *name = op_name(m->op);
    return RFS_FAIL(st, "pickle opcode %s%s0x%02x%s at byte %zu: %s", name ? name : "",
                    name ? " (" : "", m->op, name ? ")" : "", m->op_at, msg);
}

#define TRY(x)                                                                            \
    do {                                                                                  \
        rfs_status st_ = (x);                                                             \
        if (st_ != RFS_OK) return st_;                                                    \
    } while (0)

/* ---- input ------------------------------------------------------------------------------ */

/* Points *out at the next n bytes and consumes them; fails when fewer remain. */
static rfs_status take(vm *m, size_t n, const uint8_t **out) {
    if ((size_t)(m->end - m->p) < n)
        return vm_fail(m, RFS_ERR_FORMAT, "truncated: needs %zu bytes, %zu left", n,
                       (size_t)(m->end - m->p));
    *out = m->p;
    m->p += n;
    return RFS_OK;
}

/* Reads a little-endian length of `width` bytes (1, 4 or 8). */
static rfs_status take_len(vm *m, int width, size_t *out) {
    const uint8_t *b = NULL;
    TRY(take(m, (size_t)width, &b));
    uint64_t n = width == 1 ? b[0] : width == 4 ? rfs_tf_rd32(b) : rfs_tf_rd64(b);
    if (n > (uint64_t)(m->end - m->p))
        return vm_fail(m, RFS_ERR_FORMAT, "length %llu runs past the end (%zu bytes left)",
                       (unsigned long long)n, (size_t)(m->end - m->p));
    *out = (size_t)n;
    return RFS_OK;
}

/* ---- values ----------------------------------------------------------------------------- */

static rfs_status new_value(vm *m, rfs_vkind kind, pv **out) {
    pv *v = rfs_tf_arena_alloc(m->arena, sizeof *v);
    if (!v) return m->arena->err;
    v->v.kind = kind;
    *out = v;
    return RFS_OK;
}

static rfs_status new_opaque(vm *m, const char *name, pv **out) {
    TRY(new_value(m, RFS_V_OPAQUE, out));
    (*out)->v.str = name;
    return RFS_OK;
}

/* Makes room for `need` items (and keys, for dicts). */
static rfs_status reserve_items(vm *m, pv *c, size_t need) {
    if (need <= c->cap) return RFS_OK;
    size_t cap = c->cap ? c->cap : 4, bytes;
    while (cap < need) cap *= 2; /* need is bounded by the input length: no overflow */
    if (rfs_mul_size(&bytes, cap, sizeof(void *)))
        return vm_fail(m, RFS_ERR_LIMIT, "container of %zu items", need);
    rfs_value **items = rfs_tf_arena_alloc(m->arena, bytes);
    if (!items) return m->arena->err;
    if (c->v.len) memcpy(items, c->v.items, c->v.len * sizeof *items);
    c->v.items = items;
    if (c->v.kind == RFS_V_DICT) {
        const char **keys = rfs_tf_arena_alloc(m->arena, bytes);
        if (!keys) return m->arena->err;
        if (c->v.len) memcpy(keys, c->v.keys, c->v.len * sizeof *keys);
        c->v.keys = keys;
    }
    c->cap = cap;
    return RFS_OK;
}

/* list.append(item); appending to an opaque object is ignored (its contents are opaque). */
static rfs_status list_append(vm *m, pv *list, pv *item) {
    if (list->v.kind == RFS_V_OPAQUE) return RFS_OK;
    if (list->v.kind != RFS_V_LIST || (list->flags & PV_TUPLE)) {
        char d[128];
        return vm_fail(m, RFS_ERR_FORMAT, "cannot append to %s",
                       list->v.kind == RFS_V_LIST ? "a tuple"
                                                  : rfs_tf_value_describe(&list->v, d, sizeof d));
    }
    TRY(reserve_items(m, list, list->v.len + 1));
    list->v.items[list->v.len++] = &item->v;
    return RFS_OK;
}

/* dict[key] = value for a string key. Keys of other types are skipped (the interface
 * exposes string keys only). Duplicate keys are kept in order; lookups take the last, as
 * the Python dict would hold it. */
static rfs_status dict_put(vm *m, pv *dict, const char *key, rfs_value *value) {
    TRY(reserve_items(m, dict, dict->v.len + 1));
    dict->v.keys[dict->v.len] = key;
    dict->v.items[dict->v.len++] = value;
    return RFS_OK;
}

static rfs_status dict_set(vm *m, pv *dict, pv *key, pv *value) {
    if (dict->v.kind == RFS_V_OPAQUE) return RFS_OK;
    if (dict->v.kind != RFS_V_DICT) {
        char d[128];
        return vm_fail(m, RFS_ERR_FORMAT, "cannot set an item of %s",
                       rfs_tf_value_describe(&dict->v, d, sizeof d));
    }
    if (key->v.kind != RFS_V_STR) return RFS_OK;
    if (strlen(key->v.str) != key->v.len)
        return vm_fail(m, RFS_ERR_FORMAT, "dict key contains a NUL byte");
    return dict_put(m, dict, key->v.str, &value->v);
}

/* A str from UTF-8 bytes. Bytes that are not UTF-8 give an opaque value (Python would
 * fail to decode them; metadata should still load). */
static rfs_status new_str(vm *m, const uint8_t *s, size_t n, pv **out) {
    if (!rfs_tf_utf8_valid((const char *)s, n)) return new_opaque(m, "builtins.str(invalid UTF-8)", out);
    TRY(new_value(m, RFS_V_STR, out));
    char *copy = rfs_tf_arena_strndup(m->arena, (const char *)s, n);
    if (!copy) return m->arena->err;
    (*out)->v.str = copy;
    (*out)->v.len = n;
    return RFS_OK;
}

static rfs_status new_int(vm *m, int64_t i, pv **out) {
    TRY(new_value(m, RFS_V_INT, out));
    (*out)->v.i = i;
    return RFS_OK;
}

/* ---- stack, marks, memo ---------------------------------------------------------------- */

/* Height of the stack at the innermost open MARK: ops cannot reach below it. */
static size_t stack_floor(const vm *m) { return m->nmarks ? m->marks[m->nmarks - 1] : 0; }

/* Grows a malloc'd array to hold `need` elements (doubling). */
static rfs_status grow(vm *m, void **arr, size_t *cap, size_t need, size_t elem, size_t limit,
                       const char *what) {
    if (need <= *cap) return RFS_OK;
    if (need > limit) return vm_fail(m, RFS_ERR_LIMIT, "%s exceeds %zu entries", what, limit);
    size_t c = *cap ? *cap : 64, bytes;
    while (c < need) c *= 2;
    if (c > limit) c = limit;
    if (rfs_mul_size(&bytes, c, elem)) return vm_fail(m, RFS_ERR_LIMIT, "%s too large", what);
    void *p = rfs_realloc(*arr, bytes);
    if (!p) return RFS_ERR_NOMEM;
    memset((char *)p + *cap * elem, 0, (c - *cap) * elem);
    *arr = p;
    *cap = c;
    return RFS_OK;
}

static rfs_status push(vm *m, pv *v) {
    TRY(grow(m, (void **)&m->stack, &m->stack_cap, m->sp + 1, sizeof *m->stack,
             RFS_PICKLE_MAX_STACK, "stack"));
    m->stack[m->sp++] = v;
    return RFS_OK;
}

static rfs_status pop(vm *m, pv **out) {
    if (m->sp <= stack_floor(m)) return vm_fail(m, RFS_ERR_FORMAT, "stack underflow");
    *out = m->stack[--m->sp];
    return RFS_OK;
}

static rfs_status top(vm *m, pv **out) {
    if (m->sp <= stack_floor(m)) return vm_fail(m, RFS_ERR_FORMAT, "stack underflow");
    *out = m->stack[m->sp - 1];
    return RFS_OK;
}

/* Closes the innermost MARK: the items pushed since are stack[*mark .. m->sp). */
static rfs_status pop_mark(vm *m, size_t *mark) {
    if (!m->nmarks) return vm_fail(m, RFS_ERR_FORMAT, "no MARK to close");
    *mark = m->marks[--m->nmarks];
    return RFS_OK;
}

/* The object an APPENDS/SETITEMS/ADDITEMS adds to: just below the (closed) mark. */
static rfs_status below_mark(vm *m, size_t mark, pv **out) {
    if (mark <= stack_floor(m)) return vm_fail(m, RFS_ERR_FORMAT, "no object below MARK");
    *out = m->stack[mark - 1];
    return RFS_OK;
}

static rfs_status memo_put(vm *m, uint64_t idx) {
    pv *v = NULL;
    TRY(top(m, &v));
    /* Picklers number memo entries 0, 1, 2, ...: an index cannot exceed the number of
     * opcodes, which bounds the memo by the input length. */
    if (idx >= (uint64_t)(m->end - m->base) || idx >= RFS_PICKLE_MAX_MEMO)
        return vm_fail(m, RFS_ERR_FORMAT, "memo index %llu out of range",
                       (unsigned long long)idx);
    TRY(grow(m, (void **)&m->memo, &m->memo_cap, (size_t)idx + 1, sizeof *m->memo,
             RFS_PICKLE_MAX_MEMO, "memo"));
    if (!m->memo[idx]) m->memo_len++;
    m->memo[idx] = v;
    return RFS_OK;
}

static rfs_status memo_get(vm *m, uint64_t idx) {
    if (idx >= m->memo_cap || !m->memo[idx])
        return vm_fail(m, RFS_ERR_FORMAT, "memo index %llu was never stored",
                       (unsigned long long)idx);
    return push(m, m->memo[idx]);
}

/* ---- containers from the stack ---------------------------------------------------------- */

/* A list (or tuple) of stack[from .. m->sp); the items are removed from the stack. */
static rfs_status collect_list(vm *m, size_t from, int tuple) {
    pv *l = NULL;
    size_t n = m->sp - from;
    TRY(new_value(m, RFS_V_LIST, &l));
    if (tuple) l->flags |= PV_TUPLE;
    TRY(reserve_items(m, l, n));
    for (size_t i = 0; i < n; i++) l->v.items[i] = &m->stack[from + i]->v;
    l->v.len = n;
    m->sp = from;
    return push(m, l);
}

static rfs_status set_items(vm *m, pv *dict, size_t from) {
    if ((m->sp - from) % 2)
        return vm_fail(m, RFS_ERR_FORMAT, "odd number of items (%zu) for a dict", m->sp - from);
    for (size_t i = from; i < m->sp; i += 2) TRY(dict_set(m, dict, m->stack[i], m->stack[i + 1]));
    m->sp = from;
    return RFS_OK;
}

/* ---- globals, persistent ids, calls ---------------------------------------------------- */

static rfs_status new_global(vm *m, const char *module, size_t mlen, const char *name,
                             size_t nlen) {
    if (!mlen || !nlen || !rfs_tf_utf8_valid(module, mlen) || !rfs_tf_utf8_valid(name, nlen) ||
        memchr(module, 0, mlen) || memchr(name, 0, nlen))
        return vm_fail(m, RFS_ERR_FORMAT, "malformed global name");
    char *full = rfs_tf_arena_alloc(m->arena, mlen + nlen + 2);
    if (!full) return m->arena->err;
    memcpy(full, module, mlen);
    full[mlen] = '.';
    memcpy(full + mlen + 1, name, nlen);
    pv *g = NULL;
    TRY(new_opaque(m, full, &g));
    g->flags |= PV_GLOBAL;
    for (size_t i = 0; i < sizeof known_globals / sizeof known_globals[0]; i++) {
        if (!strcmp(full, known_globals[i].name)) {
            g->global = known_globals[i].global;
            g->dtype = known_globals[i].dtype;
        }
    }
    return push(m, g);
}

/* GLOBAL: "module\nname\n". */
static rfs_status op_global(vm *m) {
    const uint8_t *mod = m->p, *nl1, *nl2;
    size_t left = (size_t)(m->end - m->p);
    if (left > 1024) left = 1024; /* names are short; bounds the scan */
    if (!(nl1 = memchr(mod, '\n', left))) return vm_fail(m, RFS_ERR_FORMAT, "unterminated GLOBAL");
    const uint8_t *name = nl1 + 1;
    left = (size_t)(m->end - name);
    if (left > 1024) left = 1024;
    if (!(nl2 = memchr(name, '\n', left))) return vm_fail(m, RFS_ERR_FORMAT, "unterminated GLOBAL");
    m->p = nl2 + 1;
    return new_global(m, (const char *)mod, (size_t)(nl1 - mod), (const char *)name,
                      (size_t)(nl2 - name));
}

static rfs_status op_stack_global(vm *m) {
    pv *name = NULL, *mod = NULL;
    TRY(pop(m, &name));
    TRY(pop(m, &mod));
    if (name->v.kind != RFS_V_STR || mod->v.kind != RFS_V_STR)
        return vm_fail(m, RFS_ERR_FORMAT, "STACK_GLOBAL needs two strings");
    return new_global(m, mod->v.str, mod->v.len, name->v.str, name->v.len);
}

/* BINPERSID: torch's ('storage', storage class, key, location, numel). */
static rfs_status op_persid(vm *m) {
    pv *pid = NULL, *out = NULL;
    TRY(pop(m, &pid));
    if (pid->v.kind != RFS_V_LIST || pid->v.len != 5 || pid->v.items[0]->kind != RFS_V_STR ||
        strcmp(pid->v.items[0]->str, "storage"))
        return vm_fail(m, RFS_ERR_FORMAT,
                       "persistent id is not ('storage', type, key, location, numel)");
    const pv *cls = (const pv *)pid->v.items[1];
    const rfs_value *key = pid->v.items[2], *numel = pid->v.items[4];
    if (!(cls->flags & PV_GLOBAL) || key->kind != RFS_V_STR || numel->kind != RFS_V_INT ||
        numel->i < 0 || strlen(key->str) != key->len)
        return vm_fail(m, RFS_ERR_FORMAT, "malformed storage persistent id");
    if (cls->global != G_STORAGE) { /* e.g. complex or quantized storages */
        TRY(new_opaque(m, cls->v.str, &out));
        return push(m, out);
    }
    rfs_pickle_storage *s = rfs_tf_arena_alloc(m->arena, sizeof *s);
    if (!s) return m->arena->err;
    s->key = key->str;
    s->dtype = cls->dtype;
    s->numel = numel->i;
    TRY(new_opaque(m, cls->v.str, &out));
    out->flags |= PV_STORAGE;
    out->storage = s;
    return push(m, out);
}

/* Reads a tuple of non-negative ints (a size or a stride). */
static rfs_status int_tuple(vm *m, const rfs_value *t, int64_t *dst, int *n, const char *what) {
    if (t->kind != RFS_V_LIST) return vm_fail(m, RFS_ERR_FORMAT, "tensor %s is not a tuple", what);
    if (t->len > RFS_MAX_DIMS)
        return vm_fail(m, RFS_ERR_UNSUPPORTED, "tensor has %zu dimensions (at most %d supported)",
                       t->len, RFS_MAX_DIMS);
    for (size_t i = 0; i < t->len; i++) {
        if (t->items[i]->kind != RFS_V_INT || t->items[i]->i < 0)
            return vm_fail(m, RFS_ERR_FORMAT, "tensor %s[%zu] is not a non-negative int", what, i);
        dst[i] = t->items[i]->i;
    }
    *n = (int)t->len;
    return RFS_OK;
}

/* torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, meta]) */
static rfs_status rebuild_tensor(vm *m, const pv *args, pv **out) {
    if (args->v.kind != RFS_V_LIST || args->v.len < 6 || args->v.len > 7)
        return vm_fail(m, RFS_ERR_FORMAT, "_rebuild_tensor_v2 takes 6 or 7 arguments");
    const pv *storage = (const pv *)args->v.items[0];
    const rfs_value *offset = args->v.items[1];
    if (!(storage->flags & PV_STORAGE)) {
        /* A storage class outside the subset (complex, quantized, ...): fine in metadata,
         * an error if the state dict uses it. */
        if (storage->v.kind == RFS_V_OPAQUE) return new_opaque(m, storage->v.str, out);
        return vm_fail(m, RFS_ERR_FORMAT, "_rebuild_tensor_v2 without a storage");
    }
    if (offset->kind != RFS_V_INT || offset->i < 0)
        return vm_fail(m, RFS_ERR_FORMAT, "tensor storage offset is not a non-negative int");
    rfs_pickle_tensor *pt = rfs_tf_arena_alloc(m->arena, sizeof *pt);
    if (!pt) return m->arena->err;
    int nsize = 0, nstride = 0;
    TRY(int_tuple(m, args->v.items[2], pt->t.shape, &nsize, "size"));
    TRY(int_tuple(m, args->v.items[3], pt->t.stride, &nstride, "stride"));
    if (nsize != nstride)
        return vm_fail(m, RFS_ERR_FORMAT, "tensor size has %d dims, stride %d", nsize, nstride);
    if (rfs_tf_shape_numel(pt->t.shape, nsize) < 0)
        return vm_fail(m, RFS_ERR_FORMAT, "tensor element count overflows");
    pt->t.name = "";
    pt->t.dtype = storage->storage->dtype;
    pt->t.ndim = nsize;
    pt->storage = storage->storage;
    pt->offset = offset->i;
    TRY(new_value(m, RFS_V_TENSOR, out));
    (*out)->v.tensor = &pt->t;
    return RFS_OK;
}

static rfs_status new_namespace(vm *m, pv **out) {
    TRY(new_value(m, RFS_V_DICT, out));
    (*out)->flags |= PV_NAMESPACE;
    return RFS_OK;
}

/* REDUCE: callable(*args), for the few callables we know; an opaque value otherwise. */
static rfs_status op_reduce(vm *m) {
    pv *args = NULL, *fn = NULL, *out = NULL;
    TRY(pop(m, &args));
    TRY(pop(m, &fn));
    if (fn->v.kind != RFS_V_OPAQUE) {
        char d[128];
        return vm_fail(m, RFS_ERR_FORMAT, "REDUCE calls %s",
                       rfs_tf_value_describe(&fn->v, d, sizeof d));
    }
    int g = (fn->flags & PV_GLOBAL) ? fn->global : G_OTHER;
    int nargs = args->v.kind == RFS_V_LIST ? (int)(args->v.len < 8 ? args->v.len : 8) : -1;
    switch (g) {
    case G_REBUILD_TENSOR: TRY(rebuild_tensor(m, args, &out)); break;
    case G_REBUILD_PARAM: /* Parameter(data, requires_grad, hooks) -> data */
        if (nargs < 1) return vm_fail(m, RFS_ERR_FORMAT, "_rebuild_parameter without data");
        out = (pv *)args->v.items[0];
        break;
    case G_ODICT: /* OrderedDict(): items follow via SETITEMS */
        if (nargs == 0) TRY(new_value(m, RFS_V_DICT, &out));
        else TRY(new_opaque(m, fn->v.str, &out));
        break;
    case G_NAMESPACE: TRY(new_namespace(m, &out)); break;
    case G_DICTLIKE: TRY(new_value(m, RFS_V_DICT, &out)); break; /* items follow via SETITEMS */
    case G_RECONSTRUCTOR: { /* copyreg._reconstructor(cls, base, state): protocol 0/1 objects */
        const pv *cls = nargs >= 1 ? (const pv *)args->v.items[0] : NULL;
        if (cls && (cls->flags & PV_GLOBAL) && cls->global == G_NAMESPACE)
            TRY(new_namespace(m, &out));
        else
            TRY(new_opaque(m, cls && cls->v.kind == RFS_V_OPAQUE ? cls->v.str : fn->v.str, &out));
        break;
    }
    default: TRY(new_opaque(m, fn->v.str, &out)); break;
    }
    return push(m, out);
}

/* NEWOBJ / NEWOBJ_EX: cls.__new__(cls, *args). */
static rfs_status op_newobj(vm *m, int ex) {
    pv *cls = NULL, *args = NULL, *kwargs = NULL, *out = NULL;
    if (ex) TRY(pop(m, &kwargs));
    TRY(pop(m, &args));
    TRY(pop(m, &cls));
    if (cls->v.kind != RFS_V_OPAQUE) {
        char d[128];
        return vm_fail(m, RFS_ERR_FORMAT, "NEWOBJ on %s", rfs_tf_value_describe(&cls->v, d, sizeof d));
    }
    int g = (cls->flags & PV_GLOBAL) ? cls->global : G_OTHER;
    if (g == G_NAMESPACE) TRY(new_namespace(m, &out));
    else if (g == G_ODICT || g == G_DICTLIKE) TRY(new_value(m, RFS_V_DICT, &out));
    else TRY(new_opaque(m, cls->v.str, &out));
    return push(m, out);
}

/* BUILD: obj.__setstate__(state). Only a Namespace keeps its state (its attributes); the
 * state of anything else (an OrderedDict's _metadata, numpy dtypes, opaque objects) is
 * dropped. */
static rfs_status op_build(vm *m) {
    pv *state = NULL, *obj = NULL;
    TRY(pop(m, &state));
    TRY(top(m, &obj));
    if (!(obj->flags & PV_NAMESPACE)) return RFS_OK;
    const rfs_value *d = &state->v;
    if (d->kind == RFS_V_LIST && d->len == 2) d = d->items[0]; /* (dict, slots) */
    if (d->kind != RFS_V_DICT) return RFS_OK;
    size_t n = d->len; /* d may be obj itself: do not chase the items we add */
    for (size_t i = 0; i < n; i++) TRY(dict_put(m, obj, d->keys[i], d->items[i]));
    return RFS_OK;
}

/* ---- the loop --------------------------------------------------------------------------- */

static rfs_status op_int_le(vm *m, size_t n) { /* LONG1/LONG4 payload: two's complement LE */
    const uint8_t *b = NULL;
    pv *v = NULL;
    TRY(take(m, n, &b));
    if (n > 8) {
        TRY(new_opaque(m, "builtins.int(beyond 64 bits)", &v));
        return push(m, v);
    }
    uint64_t u = 0;
    for (size_t i = 0; i < n; i++) u |= (uint64_t)b[i] << (8 * i);
    if (n && n < 8 && (b[n - 1] & 0x80)) u |= ~(uint64_t)0 << (8 * n);
    int64_t i;
    memcpy(&i, &u, sizeof i);
    TRY(new_int(m, i, &v));
    return push(m, v);
}

static rfs_status op_string(vm *m, int width, int text) {
    size_t n = 0;
    const uint8_t *b = NULL;
    pv *v = NULL;
    TRY(take_len(m, width, &n));
    TRY(take(m, n, &b));
    if (text) TRY(new_str(m, b, n, &v));
    else TRY(new_opaque(m, "builtins.bytes", &v));
    return push(m, v);
}

static rfs_status step(vm *m, const rfs_value **result, int *done) {
    const uint8_t *b = NULL;
    pv *v = NULL, *w = NULL, *x = NULL;
    size_t mark = 0, n = 0;
    if (m->p >= m->end)
        return RFS_FAIL(RFS_ERR_FORMAT, "pickle ends at byte %zu without STOP",
                        (size_t)(m->end - m->base));
    m->op_at = (size_t)(m->p - m->base);
    m->op = *m->p++;
    switch (m->op) {
    case 0x80: /* PROTO */
        TRY(take(m, 1, &b));
        if (b[0] > 5) return vm_fail(m, RFS_ERR_UNSUPPORTED, "pickle protocol %d", b[0]);
        return RFS_OK;
    case 0x95: return take(m, 8, &b); /* FRAME: a length hint only */
    case '.':                         /* STOP */
        TRY(pop(m, &v));
        *result = &v->v;
        *done = 1;
        return RFS_OK;
    case '(': /* MARK */
        TRY(grow(m, (void **)&m->marks, &m->marks_cap, m->nmarks + 1, sizeof *m->marks,
                 RFS_PICKLE_MAX_MARKS, "MARK nesting"));
        m->marks[m->nmarks++] = m->sp;
        return RFS_OK;
    case '0': /* POP: the top item, or the innermost mark when nothing is above it */
        if (m->sp > stack_floor(m)) return m->sp--, RFS_OK;
        return pop_mark(m, &mark);
    case '1': TRY(pop_mark(m, &mark)); m->sp = mark; return RFS_OK; /* POP_MARK */
    case '2': TRY(top(m, &v)); return push(m, v);                   /* DUP */
    case '}': TRY(new_value(m, RFS_V_DICT, &v)); return push(m, v); /* EMPTY_DICT */
    case ']': TRY(new_value(m, RFS_V_LIST, &v)); return push(m, v); /* EMPTY_LIST */
    case 0x8f: TRY(new_value(m, RFS_V_LIST, &v)); return push(m, v); /* EMPTY_SET */
    case ')': return collect_list(m, m->sp, 1);                      /* EMPTY_TUPLE */
    case 'q': TRY(take(m, 1, &b)); return memo_put(m, b[0]);         /* BINPUT */
    case 'r': TRY(take(m, 4, &b)); return memo_put(m, rfs_tf_rd32(b));  /* LONG_BINPUT */
    case 0x94: return memo_put(m, m->memo_len);                      /* MEMOIZE */
    case 'h': TRY(take(m, 1, &b)); return memo_get(m, b[0]);         /* BINGET */
    case 'j': TRY(take(m, 4, &b)); return memo_get(m, rfs_tf_rd32(b));  /* LONG_BINGET */
    case 'X': return op_string(m, 4, 1);                             /* BINUNICODE */
    case 0x8c: return op_string(m, 1, 1);                            /* SHORT_BINUNICODE */
    case 0x8d: return op_string(m, 8, 1);                            /* BINUNICODE8 */
    case 'T': /* BINSTRING: a signed 4-byte length */
        if (m->end - m->p >= 4 && (m->p[3] & 0x80))
            return vm_fail(m, RFS_ERR_FORMAT, "negative BINSTRING length");
        return op_string(m, 4, 1);
    case 'U': return op_string(m, 1, 1);  /* SHORT_BINSTRING */
    case 'B': return op_string(m, 4, 0);  /* BINBYTES */
    case 'C': return op_string(m, 1, 0);  /* SHORT_BINBYTES */
    case 0x8e: return op_string(m, 8, 0); /* BINBYTES8 */
    case 0x96: return op_string(m, 8, 0); /* BYTEARRAY8 */
    case 'J': /* BININT */
        TRY(take(m, 4, &b));
        TRY(new_int(m, (int32_t)rfs_tf_rd32(b), &v));
        return push(m, v);
    case 'K': /* BININT1 */
        TRY(take(m, 1, &b));
        TRY(new_int(m, b[0], &v));
        return push(m, v);
    case 'M': /* BININT2 */
        TRY(take(m, 2, &b));
        TRY(new_int(m, rfs_tf_rd16(b), &v));
        return push(m, v);
    case 0x8a: TRY(take_len(m, 1, &n)); return op_int_le(m, n); /* LONG1 */
    case 0x8b:                                                  /* LONG4: signed length */
        if (m->end - m->p >= 4 && (m->p[3] & 0x80))
            return vm_fail(m, RFS_ERR_FORMAT, "negative LONG4 length");
        TRY(take_len(m, 4, &n));
        return op_int_le(m, n);
    case 'G': { /* BINFLOAT: big-endian IEEE double */
        TRY(take(m, 8, &b));
        uint64_t u = 0;
        for (int i = 0; i < 8; i++) u = u << 8 | b[i];
        TRY(new_value(m, RFS_V_FLOAT, &v));
        memcpy(&v->v.f, &u, sizeof u);
        return push(m, v);
    }
    case 0x88: TRY(new_value(m, RFS_V_BOOL, &v)); v->v.i = 1; return push(m, v); /* NEWTRUE */
    case 0x89: TRY(new_value(m, RFS_V_BOOL, &v)); return push(m, v);             /* NEWFALSE */
    case 'N': TRY(new_value(m, RFS_V_NONE, &v)); return push(m, v);              /* NONE */
    case 't': TRY(pop_mark(m, &mark)); return collect_list(m, mark, 1);          /* TUPLE */
    case 0x85: case 0x86: case 0x87: /* TUPLE1..3 */
        n = (size_t)(m->op - 0x84);
        if (m->sp < stack_floor(m) + n) return vm_fail(m, RFS_ERR_FORMAT, "stack underflow");
        return collect_list(m, m->sp - n, 1);
    case 'l': TRY(pop_mark(m, &mark)); return collect_list(m, mark, 0); /* LIST */
    case 0x91: TRY(pop_mark(m, &mark)); return collect_list(m, mark, 1); /* FROZENSET */
    case 'd': /* DICT */
        TRY(pop_mark(m, &mark));
        TRY(new_value(m, RFS_V_DICT, &v));
        TRY(set_items(m, v, mark));
        return push(m, v);
    case 'a': TRY(pop(m, &w)); TRY(top(m, &v)); return list_append(m, v, w); /* APPEND */
    case 'e': case 0x90: /* APPENDS, ADDITEMS */
        TRY(pop_mark(m, &mark));
        TRY(below_mark(m, mark, &v));
        for (size_t i = mark; i < m->sp; i++) TRY(list_append(m, v, m->stack[i]));
        m->sp = mark;
        return RFS_OK;
    case 's': /* SETITEM */
        TRY(pop(m, &x));
        TRY(pop(m, &w));
        TRY(top(m, &v));
        return dict_set(m, v, w, x);
    case 'u': /* SETITEMS */
        TRY(pop_mark(m, &mark));
        TRY(below_mark(m, mark, &v));
        return set_items(m, v, mark);
    case 'c': return op_global(m);
    case 0x93: return op_stack_global(m);
    case 'R': return op_reduce(m);
    case 0x81: return op_newobj(m, 0);
    case 0x92: return op_newobj(m, 1);
    case 'b': return op_build(m);
    case 'Q': return op_persid(m);
    default:
        return vm_fail(m, RFS_ERR_FORMAT, "unknown or unsupported opcode");
    }
}

/* Rejects cycles (a list appended to itself) and nesting deeper than RFS_PICKLE_MAX_DEPTH,
 * so that anyone may walk the result recursively. Shared sub-objects are visited once. */
static rfs_status check_shape(pv *v, int depth) {
    if (v->color == 2) {
        if (depth + v->height > RFS_PICKLE_MAX_DEPTH + 1)
            return RFS_FAIL(RFS_ERR_LIMIT, "pickle: objects nested deeper than %d",
                            RFS_PICKLE_MAX_DEPTH);
        return RFS_OK;
    }
    if (v->color == 1) return RFS_FAIL(RFS_ERR_FORMAT, "pickle: a container contains itself");
    if (depth > RFS_PICKLE_MAX_DEPTH)
        return RFS_FAIL(RFS_ERR_LIMIT, "pickle: objects nested deeper than %d", RFS_PICKLE_MAX_DEPTH);
    int h = 0;
    if (v->v.kind == RFS_V_LIST || v->v.kind == RFS_V_DICT) {
        v->color = 1;
        for (size_t i = 0; i < v->v.len; i++) {
            pv *c = (pv *)v->v.items[i];
            TRY(check_shape(c, depth + 1));
            if (c->height > h) h = c->height;
        }
    }
    v->color = 2;
    v->height = (uint8_t)(h + 1);
    return RFS_OK;
}

rfs_status rfs_pickle_load(const rfs_value **root, rfs_tf_arena *arena, const uint8_t *data,
                           size_t size) {
    vm m = {.base = data, .p = data, .end = data + size, .arena = arena};
    const rfs_value *result = NULL;
    int done = 0;
    rfs_status st = RFS_OK;
    *root = NULL;
    while (!done && st == RFS_OK) st = step(&m, &result, &done);
    if (st == RFS_OK) st = check_shape((pv *)result, 1);
    free(m.stack);
    free(m.marks);
    free(m.memo);
    if (st == RFS_OK) *root = result;
    return st;
}
