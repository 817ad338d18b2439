/* pth.c - torch.save zip archives (.pth / .pt).
 *
 * Layout written by torch.save (torch >= 1.6):
 *   <root>/data.pkl      the pickled object (see pickle.c)
 *   <root>/data/<key>    one raw little-endian storage per persistent id, stored uncompressed
 *   <root>/byteorder     "little" (absent in older files)
 *   <root>/version, .format_version, .storage_alignment, .data/serialization_id
 * libzip parses the archive (it is hardened against malformed zips). Loading goes:
 *   1. run data.pkl, pick the state dict, find each tensor's storage entry and check the
 *      entry's sizes from the zip directory against the archive's own size (nothing big is
 *      allocated before that);
 *   2. read each needed storage once into its own 64-byte aligned buffer, owned by the
 *      rfs_tensorfile; large checkpoints are read by several threads, each with its own
 *      handle on the archive, since libzip's CRC-32 check costs as much as the copy;
 *   3. check each tensor's extent against its storage and point it into the buffer.
 */
#include "io/pickle.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#define PTH_MAX_PICKLE (256u << 20)   /* data.pkl of a 600-tensor checkpoint is ~100 KB */
#define PTH_PARALLEL_BYTES (8u << 20)   /* read storages in parallel above this total */
#define PTH_MAX_THREADS 16

typedef struct slot { /* per archive entry that holds a storage the state dict uses */
    const char *name; /* entry name; NULL when the entry is not needed */
    uint64_t nbytes;
    rfs_dtype dtype;
    uint8_t *buf;
} slot;

typedef struct pth {
    rfs_tensorfile *f;
    rfs_tf_impl *im;
    zip_t *za;
    const char *path;    /* the archive, to open again per thread: a file ... */
    const void *mem;     /* ... or a buffer */
    uint64_t archive_size;
    uint64_t read_bytes; /* bytes of the entries read or planned: at most archive_size */
    const char *root;    /* "<root>/" prefix of every entry */
    slot *slots;         /* one per archive entry */
    zip_int64_t nentries;
} pth;

/* "<root>/<rest>" in the arena. */
static const char *entry_name(pth *p, const char *rest) {
    size_t a = strlen(p->root), b = strlen(rest), n;
    if (rfs_add_size(&n, a, b)) return NULL;
    char *s = rfs_tf_arena_alloc(&p->im->arena, n + 1);
    if (s) {
        memcpy(s, p->root, a);
        memcpy(s + a, rest, b);
    }
    return s;
}

/* The archive's root folder: torch.load takes it from the first entry's name. */
static rfs_status find_root(pth *p) {
    if (p->nentries <= 0) return RFS_FAIL(RFS_ERR_FORMAT, "empty zip archive (not a torch.save file)");
    const char *first = zip_get_name(p->za, 0, ZIP_FL_ENC_RAW);
    const char *slash = first ? strchr(first, '/') : NULL;
    if (!slash || slash == first)
        return RFS_FAIL(RFS_ERR_FORMAT, "zip entry '%s' is not inside a root folder (not a "
                        "torch.save file)", first ? first : "?");
    char *root = rfs_tf_arena_strndup(&p->im->arena, first, (size_t)(slash - first) + 1);
    if (!root) return p->im->arena.err;
    p->root = root;
    return RFS_OK;
}

/* ---- entries ---------------------------------------------------------------------------- */

/* Checks entry `idx` from the zip directory before anything is allocated for it and returns
 * its size. A stored entry cannot hold more than the archive, and all entries read together
 * cannot either (entries may overlap in a crafted file). Storages must be stored, as
 * torch.save writes them; other entries (data.pkl) may be deflated, within `max`. */
static rfs_status plan_entry(pth *p, zip_int64_t idx, const char *name, uint64_t max,
                             bool stored_only, uint64_t *size) {
    zip_stat_t sb;
    zip_stat_init(&sb);
    if (zip_stat_index(p->za, (zip_uint64_t)idx, 0, &sb) != 0)
        return RFS_FAIL(RFS_ERR_FORMAT, "entry '%s': %s", name, zip_strerror(p->za));
    const zip_uint64_t need = ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD;
    if ((sb.valid & need) != need)
        return RFS_FAIL(RFS_ERR_FORMAT, "entry '%s': sizes unknown", name);
    if ((sb.valid & ZIP_STAT_ENCRYPTION_METHOD) && sb.encryption_method != ZIP_EM_NONE)
        return RFS_FAIL(RFS_ERR_UNSUPPORTED, "entry '%s' is encrypted", name);
    bool stored = sb.comp_method == ZIP_CM_STORE;
    if (!stored && stored_only)
        return RFS_FAIL(RFS_ERR_UNSUPPORTED, "entry '%s' is compressed (method %d); torch.save "
                        "stores tensor data uncompressed", name, (int)sb.comp_method);
    if (stored && sb.size != sb.comp_size)
        return RFS_FAIL(RFS_ERR_FORMAT, "entry '%s': stored with size %llu but %llu bytes in "
                        "the archive", name, (unsigned long long)sb.size,
                        (unsigned long long)sb.comp_size);
    if (sb.comp_size > p->archive_size - p->read_bytes)
        return RFS_FAIL(RFS_ERR_FORMAT, "entry '%s' claims %llu bytes, more than the %llu-byte "
                        "archive holds", name, (unsigned long long)sb.comp_size,
                        (unsigned long long)p->archive_size);
    if (sb.size > max || sb.size > SIZE_MAX - 64)
        return RFS_FAIL(RFS_ERR_LIMIT, "entry '%s' of %llu bytes (limit %llu)", name,
                        (unsigned long long)sb.size, (unsigned long long)max);
    if (!stored && sb.size / 1032 > sb.comp_size) /* beyond deflate's best ratio */
        return RFS_FAIL(RFS_ERR_FORMAT, "entry '%s': %llu bytes cannot come from %llu compressed",
                        name, (unsigned long long)sb.size, (unsigned long long)sb.comp_size);
    p->read_bytes += sb.comp_size;
    *size = sb.size;
    return RFS_OK;
}

/* Reads exactly `size` bytes of entry `idx` into buf; libzip checks the CRC-32 when the
 * read reaches the end of the entry. Safe to run on separate zip_t handles in parallel. */
static rfs_status fetch_entry(zip_t *za, zip_int64_t idx, const char *name, uint8_t *buf,
                              uint64_t size) {
    zip_file_t *zf = zip_fopen_index(za, (zip_uint64_t)idx, 0);
    if (!zf) return RFS_FAIL(RFS_ERR_FORMAT, "entry '%s': %s", name, zip_strerror(za));
    uint64_t got = 0;
    zip_int64_t r = 1;
    while (got < size && (r = zip_fread(zf, buf + got, size - got)) > 0) got += (uint64_t)r;
    char extra;
    if (got == size) r = zip_fread(zf, &extra, 1); /* 0 at the end, after the CRC check */
    rfs_status st = RFS_OK;
    if (r != 0)
        st = RFS_FAIL(RFS_ERR_FORMAT, "entry '%s': %s", name,
                      r > 0 ? "longer than declared" : zip_file_strerror(zf));
    else if (got != size)
        st = RFS_FAIL(RFS_ERR_FORMAT, "entry '%s': ends after %llu of %llu bytes", name,
                      (unsigned long long)got, (unsigned long long)size);
    zip_fclose(zf);
    return st;
}

/* Reads a small entry whole (data.pkl, byteorder) into a new buffer. */
static rfs_status read_entry(pth *p, zip_int64_t idx, const char *name, uint64_t max,
                             uint8_t **out, uint64_t *nbytes) {
    uint64_t size = 0;
    rfs_status st = plan_entry(p, idx, name, max, false, &size);
    if (st != RFS_OK) return st;
    uint8_t *buf = rfs_aligned_alloc((size_t)size);
    if (!buf) return RFS_ERR_NOMEM;
    if ((st = fetch_entry(p->za, idx, name, buf, size)) != RFS_OK) {
        free(buf);
        return st;
    }
    *out = buf;
    *nbytes = size;
    return RFS_OK;
}

/* Rejects big-endian archives (torch writes "little" or, in old files, nothing). */
static rfs_status check_byteorder(pth *p) {
    const char *name = entry_name(p, "byteorder");
    if (!name) return p->im->arena.err;
    zip_int64_t idx = zip_name_locate(p->za, name, 0);
    if (idx < 0) return RFS_OK;
    uint8_t *buf = NULL;
    uint64_t n = 0;
    rfs_status st = read_entry(p, idx, name, 64, &buf, &n);
    if (st != RFS_OK) return st;
    bool little = n == 6 && !memcmp(buf, "little", 6);
    free(buf);
    if (!little) return RFS_FAIL(RFS_ERR_UNSUPPORTED, "'%s' is not \"little\": big-endian "
                                 "checkpoints are not supported", name);
    return RFS_OK;
}

/* Reads and runs <root>/data.pkl; *root is the unpickled top-level object. */
static rfs_status load_pickle(pth *p, const rfs_value **root) {
    const char *name = entry_name(p, "data.pkl");
    if (!name) return p->im->arena.err;
    zip_int64_t idx = zip_name_locate(p->za, name, 0);
    if (idx < 0)
        return RFS_FAIL(RFS_ERR_FORMAT, "no '%s' in the archive (not a torch.save file)", name);
    uint8_t *pkl = NULL;
    uint64_t n = 0;
    rfs_status st = read_entry(p, idx, name, PTH_MAX_PICKLE, &pkl, &n);
    if (st != RFS_OK) return st;
    st = rfs_pickle_load(root, &p->im->arena, pkl, (size_t)n);
    free(pkl);
    return st == RFS_OK ? RFS_OK : rfs_fail_context(st, "%s", name);
}

/* ---- the state dict --------------------------------------------------------------------- */

/* A Lightning state dict as the loader sees it: the entries "model.<name>" and
 * "model._orig_mod.<name>" (a torch.compile'd module) renamed to <name>, every other entry
 * (criterion, EMA copies, ...) dropped, as rfdetr's load_pretrain_weights does. Two entries
 * that strip to one name fail later as a duplicate tensor name. */
static rfs_status lightning_view(pth *p, const rfs_value *sd, const rfs_value **out) {
    static const char prefix[] = "model.", compiled[] = "_orig_mod.";
    rfs_value *v = rfs_tf_arena_alloc(&p->im->arena, sizeof *v);
    size_t cap = sd->len ? sd->len : 1;
    if (!v) return p->im->arena.err;
    v->kind = RFS_V_DICT;
    v->keys = rfs_tf_arena_alloc(&p->im->arena, cap * sizeof *v->keys);
    v->items = rfs_tf_arena_alloc(&p->im->arena, cap * sizeof *v->items);
    if (!v->keys || !v->items) return p->im->arena.err;
    for (size_t i = 0; i < sd->len; i++) {
        const char *k = sd->keys[i];
        if (strncmp(k, prefix, sizeof prefix - 1)) continue;
        k += sizeof prefix - 1;
        if (!strncmp(k, compiled, sizeof compiled - 1)) k += sizeof compiled - 1;
        v->keys[v->len] = k;
        v->items[v->len++] = sd->items[i];
    }
    if (!v->len)
        return RFS_FAIL(RFS_ERR_FORMAT, "'state_dict' (a PyTorch Lightning checkpoint) has no "
                        "entry named 'model.*': not an RF-DETR training checkpoint");
    *out = v;
    return RFS_OK;
}

/* The state dict, where rfdetr's loader looks for it (rfdetr-predict-current.md): "model"
 * when it is a dict of tensors (rfdetr .pth files, also when a Lightning-compatible
 * "state_dict" copy sits beside it), else "ema_model", else a PyTorch Lightning .ckpt's
 * "state_dict" (see lightning_view), else the top level itself. The settings come from
 * "args" (an argparse.Namespace, types.SimpleNamespace or dict); a Lightning file without
 * "args" gives its "hyper_parameters" instead. */
static rfs_status pick_state_dict(pth *p, const rfs_value *root, const rfs_value **sd) {
    char d[160];
    if (root->kind != RFS_V_DICT)
        return RFS_FAIL(RFS_ERR_FORMAT, "the checkpoint holds %s, not a dict",
                        rfs_tf_value_describe(root, d, sizeof d));
    const rfs_value *ema = rfs_value_get(root, "ema_model"), *model = rfs_value_get(root, "model");
    const rfs_value *lightning = rfs_value_get(root, "state_dict");
    const rfs_value *args = rfs_value_get(root, "args");
    if (model && (model->kind == RFS_V_DICT || !ema)) {
        p->f->state_key = "model";
        *sd = model;
    } else if (ema) {
        p->f->state_key = "ema_model";
        *sd = ema;
    } else if (lightning && lightning->kind == RFS_V_DICT) {
        p->f->state_key = "state_dict";
        rfs_status st = lightning_view(p, lightning, sd);
        if (st != RFS_OK) return st;
        if (!args) args = rfs_value_get(root, "hyper_parameters");
    } else {
        p->f->state_key = "";
        *sd = root;
    }
    p->f->args = args && args->kind == RFS_V_DICT ? args : NULL;
    if ((*sd)->kind != RFS_V_DICT)
        return RFS_FAIL(RFS_ERR_FORMAT, "'%s' holds %s, not a state dict of tensors", p->f->state_key,
                        rfs_tf_value_describe(*sd, d, sizeof d));
    if ((*sd)->len > RFS_TF_MAX_TENSORS)
        return RFS_FAIL(RFS_ERR_LIMIT, "state dict of %zu entries (limit %d)", (*sd)->len,
                        RFS_TF_MAX_TENSORS);
    return RFS_OK;
}

/* Finds the entry of a tensor's storage and plans reading it (once per entry). */
static rfs_status plan_storage(pth *p, const rfs_tensor *t, const rfs_pickle_storage *s,
                               zip_int64_t *idx_out) {
    char rest[80];
    if (strlen(s->key) > 64)
        return RFS_FAIL(RFS_ERR_FORMAT, "tensor '%s': storage key '%.64s...' too long", t->name,
                        s->key);
    snprintf(rest, sizeof rest, "data/%s", s->key);
    const char *name = entry_name(p, rest);
    if (!name) return p->im->arena.err;
    zip_int64_t idx = zip_name_locate(p->za, name, 0);
    if (idx < 0 || idx >= p->nentries)
        return RFS_FAIL(RFS_ERR_FORMAT, "tensor '%s': storage '%s' is missing from the archive",
                        t->name, name);
    slot *sl = &p->slots[idx];
    *idx_out = idx;
    if (sl->name) {
        if (sl->dtype != s->dtype)
            return RFS_FAIL(RFS_ERR_FORMAT, "tensor '%s': storage '%s' is used both as %s and %s",
                            t->name, name, rfs_dtype_name(sl->dtype), rfs_dtype_name(s->dtype));
        return RFS_OK;
    }
    uint64_t size = 0, declared;
    rfs_status st = plan_entry(p, idx, name, UINT64_MAX, true, &size);
    if (st != RFS_OK) return st;
    if (__builtin_mul_overflow((uint64_t)s->numel, (uint64_t)rfs_dtype_size(s->dtype), &declared) ||
        declared != size)
        return RFS_FAIL(RFS_ERR_FORMAT, "storage '%s' holds %llu bytes, but the pickle declares "
                        "%lld elements of %s", name, (unsigned long long)size,
                        (long long)s->numel, rfs_dtype_name(s->dtype));
    sl->name = name;
    sl->nbytes = size;
    sl->dtype = s->dtype;
    return RFS_OK;
}

/* Opens the archive once more, for a reading thread (libzip handles are not shared
 * between threads). */
static zip_t *reopen(const pth *p) {
    zip_error_t ze;
    zip_error_init(&ze);
    zip_t *za = NULL;
    if (p->path) {
        za = zip_open(p->path, ZIP_RDONLY, NULL);
    } else {
        zip_source_t *src = zip_source_buffer_create(p->mem, (zip_uint64_t)p->archive_size, 0, &ze);
        if (src && !(za = zip_open_from_source(src, ZIP_RDONLY, &ze))) zip_source_free(src);
    }
    zip_error_fini(&ze);
    return za;
}

/* Parallel reading: each thread opens the archive once more and takes the next unread
 * entry until none is left. Errors raised in a thread are carried back (messages are
 * thread-local); the one for the lowest entry wins, so the report does not depend on
 * scheduling. */
typedef struct readers {
    pth *p;
    atomic_llong next; /* next entry index to take */
    pthread_mutex_t lock;
    zip_int64_t bad; /* lowest failing entry, -1 if none */
    rfs_status bad_st;
    char bad_msg[512];
} readers;

static void *reader_main(void *arg) {
    readers *r = arg;
    const pth *p = r->p;
    zip_t *za = reopen(p);
    for (;;) {
        zip_int64_t i = (zip_int64_t)atomic_fetch_add(&r->next, 1);
        if (i >= p->nentries) break;
        const slot *sl = &p->slots[i];
        if (!sl->name) continue;
        rfs_status st = za ? fetch_entry(za, i, sl->name, sl->buf, sl->nbytes)
                           : RFS_FAIL(RFS_ERR_IO, "cannot open the archive again");
        if (st == RFS_OK) continue;
        pthread_mutex_lock(&r->lock);
        if (r->bad < 0 || i < r->bad) {
            r->bad = i;
            r->bad_st = st;
            snprintf(r->bad_msg, sizeof r->bad_msg, "%s", rfs_last_error());
        }
        pthread_mutex_unlock(&r->lock);
    }
    if (za) zip_discard(za);
    return NULL;
}

/* Step 2: allocates and reads every planned storage; several threads for large files. */
static rfs_status read_storages(pth *p) {
    uint64_t total = 0;
    for (zip_int64_t i = 0; i < p->nentries; i++) {
        slot *sl = &p->slots[i];
        if (!sl->name) continue;
        if (!(sl->buf = rfs_aligned_alloc((size_t)sl->nbytes))) return RFS_ERR_NOMEM;
        p->im->bufs[p->im->nbufs++] = sl->buf; /* owned by the file from now on */
        total += sl->nbytes;
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int nthreads = total < PTH_PARALLEL_BYTES || ncpu < 2 ? 1
                 : ncpu > PTH_MAX_THREADS ? PTH_MAX_THREADS : (int)ncpu;
    if (nthreads == 1) {
        for (zip_int64_t i = 0; i < p->nentries; i++) {
            slot *sl = &p->slots[i];
            if (!sl->name) continue;
            rfs_status st = fetch_entry(p->za, i, sl->name, sl->buf, sl->nbytes);
            if (st != RFS_OK) return st;
        }
        return RFS_OK;
    }
    readers r = {.p = p, .bad = -1};
    atomic_init(&r.next, 0);
    pthread_mutex_init(&r.lock, NULL);
    pthread_t tid[PTH_MAX_THREADS];
    int started = 0;
    while (started < nthreads - 1 && pthread_create(&tid[started], NULL, reader_main, &r) == 0)
        started++;
    reader_main(&r); /* this thread reads too (and alone, if no thread could start) */
    for (int k = 0; k < started; k++) pthread_join(tid[k], NULL);
    pthread_mutex_destroy(&r.lock);
    return r.bad < 0 ? RFS_OK : RFS_FAIL(r.bad_st, "%s", r.bad_msg);
}

/* Step 3: checks that the storage holds every element the size/stride/offset reach and
 * points t->data at the first. */
static rfs_status bind_tensor(const slot *sl, rfs_tensor *t, const rfs_pickle_tensor *pt) {
    size_t es = rfs_dtype_size(t->dtype);
    if (rfs_tf_shape_numel(t->shape, t->ndim) == 0) { /* nothing to read; a valid pointer */
        t->data = sl->buf;
        return RFS_OK;
    }
    /* one past the last element reached, in elements, then in bytes */
    uint64_t end = (uint64_t)pt->offset + 1, bytes;
    bool ovf = false;
    for (int d = 0; d < t->ndim; d++) {
        uint64_t reach;
        ovf |= __builtin_mul_overflow((uint64_t)(t->shape[d] - 1), (uint64_t)t->stride[d], &reach);
        ovf |= __builtin_add_overflow(end, reach, &end);
    }
    ovf |= __builtin_mul_overflow(end, (uint64_t)es, &bytes);
    if (ovf || bytes > sl->nbytes)
        return RFS_FAIL(RFS_ERR_FORMAT, "storage '%s' holds %llu bytes, tensor '%s' needs %s%llu",
                        sl->name, (unsigned long long)sl->nbytes, t->name, ovf ? "more than " : "",
                        ovf ? (unsigned long long)UINT64_MAX : (unsigned long long)bytes);
    t->data = sl->buf + (uint64_t)pt->offset * es;
    return RFS_OK;
}

/* Fills f from the archive p->za. */
static rfs_status read_archive(pth *p) {
    rfs_tensorfile *f = p->f;
    const rfs_value *root = NULL, *sd = NULL;
    char d[160];
    p->nentries = zip_get_num_entries(p->za, 0);
    if (p->nentries < 0) return RFS_FAIL(RFS_ERR_FORMAT, "unreadable zip directory");
    rfs_status st = find_root(p);
    if (st == RFS_OK) st = check_byteorder(p);
    if (st == RFS_OK) st = load_pickle(p, &root);
    if (st == RFS_OK) st = pick_state_dict(p, root, &sd);
    if (st != RFS_OK) return st;
    f->root = root;

    /* step 1: every tensor's storage entry, checked from the directory */
    size_t n = sd->len;
    zip_int64_t *tslot = rfs_calloc(n + 1, sizeof *tslot);
    p->slots = rfs_calloc((size_t)p->nentries + 1, sizeof *p->slots);
    p->im->bufs = rfs_calloc(n + 1, sizeof *p->im->bufs);
    f->tensors = rfs_tf_arena_alloc(&p->im->arena, (n ? n : 1) * sizeof *f->tensors);
    if (!tslot || !p->slots || !p->im->bufs) st = RFS_ERR_NOMEM;
    else if (!f->tensors) st = p->im->arena.err;
    const char *where = *f->state_key ? f->state_key : "top level";
    for (size_t i = 0; i < n && st == RFS_OK; i++) {
        const rfs_pickle_tensor *pt = rfs_pickle_tensor_of(sd->items[i]);
        if (!pt) {
            st = RFS_FAIL(RFS_ERR_FORMAT, "state dict (%s): '%s' holds %s, not a tensor", where,
                          sd->keys[i], rfs_tf_value_describe(sd->items[i], d, sizeof d));
            break;
        }
        rfs_tensor *t = &f->tensors[i];
        *t = pt->t;
        t->name = sd->keys[i];
        st = plan_storage(p, t, pt->storage, &tslot[i]);
    }
    /* steps 2 and 3 */
    if (st == RFS_OK) st = read_storages(p);
    for (size_t i = 0; i < n && st == RFS_OK; i++) {
        st = bind_tensor(&p->slots[tslot[i]], &f->tensors[i], rfs_pickle_tensor_of(sd->items[i]));
        f->count = (int)i + 1;
    }
    if (st != RFS_OK) f->count = 0;
    free(tslot);
    return st;
}

static rfs_status run(pth *p) {
    rfs_status st = read_archive(p);
    free(p->slots);
    zip_discard(p->za);
    return st;
}

static rfs_status zip_failure(zip_error_t *ze) {
    int code = zip_error_code_zip(ze);
    rfs_status st = code == ZIP_ER_OPEN || code == ZIP_ER_READ ? RFS_ERR_IO
                  : code == ZIP_ER_MEMORY ? RFS_ERR_NOMEM : RFS_ERR_FORMAT;
    return RFS_FAIL(st, "not a readable zip archive: %s", zip_error_strerror(ze));
}

rfs_status rfs_pth_open_buffer(rfs_tensorfile *f, const void *data, size_t size) {
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(data, size, 0, &ze);
    zip_t *za = src ? zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze) : NULL;
    if (!za) {
        rfs_status st = zip_failure(&ze);
        if (src) zip_source_free(src);
        zip_error_fini(&ze);
        return st;
    }
    zip_error_fini(&ze);
    pth p = {.f = f, .im = f->impl, .za = za, .mem = data, .archive_size = size};
    return run(&p);
}

rfs_status rfs_pth_open_path(rfs_tensorfile *f, const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0) return RFS_FAIL(RFS_ERR_IO, "cannot stat the file");
    int code = 0;
    zip_t *za = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &code);
    if (!za) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, code);
        rfs_status st = zip_failure(&ze);
        zip_error_fini(&ze);
        return st;
    }
    pth p = {.f = f, .im = f->impl, .za = za, .path = path, .archive_size = (uint64_t)sb.st_size};
    return run(&p);
}
