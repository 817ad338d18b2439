/* pth.c - torch.save zip archives (.pth / .pt).
 *
 * Layout written by torch.save (torch >= 1.6):
 *   <root>/data.pkl      the pickled object (see pickle.c)
 *   <root>/data/<key>    one raw little-endian storage per persistent id, stored uncompressed
 *   <root>/byteorder     "little" (absent in older files)
 *   <root>/version, .format_version, .storage_alignment, .data/serialization_id
 * libzip parses the archive (it is hardened against malformed zips); every size it reports
 * is checked against the archive's own size before we allocate. Each storage the state dict
 * uses is read once into its own 64-byte aligned buffer, owned by the rfs_tensorfile.
 */
#include "io/pickle.h"

#include <string.h>
#include <sys/stat.h>
#include <zip.h>

#define PTH_MAX_PICKLE (256u << 20) /* data.pkl of a 600-tensor checkpoint is ~100 KB */

typedef struct slot { /* per archive entry: a storage read from it */
    uint8_t *buf;
    uint64_t nbytes;
    rfs_dtype dtype;
} slot;

typedef struct pth {
    rfs_tensorfile *f;
    rfs_tf_impl *im;
    zip_t *za;
    uint64_t archive_size;
    uint64_t read_bytes; /* stored bytes read so far: at most archive_size */
    const char *root;    /* "<root>/" prefix of every entry */
    slot *slots;
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

/* Reads entry `idx` whole into a new 64-byte aligned buffer. Sizes come from the central
 * directory and are checked before allocating: a stored entry cannot hold more than the
 * archive, and all entries read together cannot either (entries may overlap in a crafted
 * file). Compressed entries are accepted only where `max` is small (data.pkl, byteorder). */
static rfs_status read_entry(pth *p, zip_int64_t idx, const char *name, uint64_t max,
                             bool stored_only, uint8_t **out, uint64_t *nbytes) {
    zip_stat_t sb;
    zip_stat_init(&sb);
    if (zip_stat_index(p->za, (zip_uint64_t)idx, 0, &sb) != 0)
        return RFS_FAIL(RFS_ERR_FORMAT, "entry '%s': %s", name, zip_strerror(p->za));
    const zip_uint64_t need = ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD;
    if ((sb.valid & need) != need)
        return RFS_FAIL(RFS_ERR_FORMAT, "entry '%s': sizes unknown", name);
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

    uint8_t *buf = rfs_aligned_alloc((size_t)sb.size);
    if (!buf) return RFS_ERR_NOMEM;
    zip_file_t *zf = zip_fopen_index(p->za, (zip_uint64_t)idx, 0);
    if (!zf) {
        free(buf);
        return RFS_FAIL(RFS_ERR_FORMAT, "entry '%s': %s", name, zip_strerror(p->za));
    }
    uint64_t got = 0;
    zip_int64_t r = 1;
    while (got < sb.size && (r = zip_fread(zf, buf + got, sb.size - got)) > 0) got += (uint64_t)r;
    /* reading on to the end makes libzip check the CRC */
    char extra;
    if (got == sb.size) r = zip_fread(zf, &extra, 1);
    rfs_status st = RFS_OK;
    if (r != 0)
        st = RFS_FAIL(RFS_ERR_FORMAT, "entry '%s': %s", name,
                      r > 0 ? "longer than declared" : zip_file_strerror(zf));
    else if (got != sb.size)
        st = RFS_FAIL(RFS_ERR_FORMAT, "entry '%s': ends after %llu of %llu bytes", name,
                      (unsigned long long)got, (unsigned long long)sb.size);
    zip_fclose(zf);
    if (st != RFS_OK) {
        free(buf);
        return st;
    }
    *out = buf;
    *nbytes = sb.size;
    return RFS_OK;
}

/* Rejects big-endian archives (torch writes "little" or, before 1.x, nothing). */
static rfs_status check_byteorder(pth *p) {
    const char *name = entry_name(p, "byteorder");
    if (!name) return p->im->arena.err;
    zip_int64_t idx = zip_name_locate(p->za, name, 0);
    if (idx < 0) return RFS_OK;
    uint8_t *buf = NULL;
    uint64_t n = 0;
    rfs_status st = read_entry(p, idx, name, 64, false, &buf, &n);
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
    rfs_status st = read_entry(p, idx, name, PTH_MAX_PICKLE, false, &pkl, &n);
    if (st != RFS_OK) return st;
    st = rfs_pickle_load(root, &p->im->arena, pkl, (size_t)n);
    free(pkl);
    return st == RFS_OK ? RFS_OK : rfs_fail_context(st, "%s", name);
}

static bool is_tensor_dict(const rfs_value *v) {
    if (!v || v->kind != RFS_V_DICT) return false;
    for (size_t i = 0; i < v->len; i++)
        if (v->items[i]->kind != RFS_V_TENSOR) return false;
    return true;
}

/* The state dict: "ema_model" when it is a dict of tensors, else "model", else the top
 * level itself (a bare state dict). */
static rfs_status pick_state_dict(pth *p, const rfs_value *root, const rfs_value **sd) {
    char d[160];
    if (root->kind != RFS_V_DICT)
        return RFS_FAIL(RFS_ERR_FORMAT, "the checkpoint holds %s, not a dict",
                        rfs_tf_value_describe(root, d, sizeof d));
    const rfs_value *ema = rfs_value_get(root, "ema_model"), *model = rfs_value_get(root, "model");
    if (is_tensor_dict(ema)) {
        p->f->state_key = "ema_model";
        *sd = ema;
    } else if (model) {
        p->f->state_key = "model";
        *sd = model;
        if (model->kind != RFS_V_DICT)
            return RFS_FAIL(RFS_ERR_FORMAT, "'model' holds %s, not a state dict of tensors",
                            rfs_tf_value_describe(model, d, sizeof d));
    } else {
        p->f->state_key = "";
        *sd = root;
    }
    if ((*sd)->len > RFS_TF_MAX_TENSORS)
        return RFS_FAIL(RFS_ERR_LIMIT, "state dict of %zu entries (limit %d)", (*sd)->len,
                        RFS_TF_MAX_TENSORS);
    return RFS_OK;
}

/* Points t->data into its storage, reading the storage on first use, after checking that
 * the storage holds every element the size/stride/offset reach. */
static rfs_status bind_tensor(pth *p, rfs_tensor *t, const rfs_pickle_tensor *pt) {
    const rfs_pickle_storage *s = pt->storage;
    char rest[64 + 16];
    if (strlen(s->key) > 64)
        return RFS_FAIL(RFS_ERR_FORMAT, "tensor '%s': storage key '%.64s...' too long", t->name, s->key);
    snprintf(rest, sizeof rest, "data/%s", s->key);
    const char *name = entry_name(p, rest);
    if (!name) return p->im->arena.err;
    zip_int64_t idx = zip_name_locate(p->za, name, 0);
    if (idx < 0 || idx >= p->nentries)
        return RFS_FAIL(RFS_ERR_FORMAT, "tensor '%s': storage '%s' is missing from the archive",
                        t->name, name);
    size_t es = rfs_dtype_size(s->dtype);
    slot *sl = &p->slots[idx];
    if (!sl->buf) {
        rfs_status st = read_entry(p, idx, name, UINT64_MAX, true, &sl->buf, &sl->nbytes);
        if (st != RFS_OK) return st;
        p->im->bufs[p->im->nbufs++] = sl->buf; /* owned by the file from now on */
        sl->dtype = s->dtype;
        uint64_t declared;
        if (__builtin_mul_overflow((uint64_t)s->numel, (uint64_t)es, &declared) ||
            declared != sl->nbytes)
            return RFS_FAIL(RFS_ERR_FORMAT, "storage '%s' holds %llu bytes, but the pickle "
                            "declares %lld elements of %s", name,
                            (unsigned long long)sl->nbytes, (long long)s->numel,
                            rfs_dtype_name(s->dtype));
    } else if (sl->dtype != s->dtype) {
        return RFS_FAIL(RFS_ERR_FORMAT, "tensor '%s': storage '%s' is used both as %s and %s",
                        t->name, name, rfs_dtype_name(sl->dtype), rfs_dtype_name(s->dtype));
    }
    int64_t numel = rfs_tf_shape_numel(t->shape, t->ndim);
    if (numel == 0) { /* nothing to read; keep a valid pointer */
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
                        name, (unsigned long long)sl->nbytes, t->name, ovf ? "more than " : "",
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
    const rfs_value *args = rfs_value_get(root, "args");
    f->args = args && args->kind == RFS_V_DICT ? args : NULL;

    size_t n = sd->len;
    p->slots = rfs_calloc((size_t)p->nentries + 1, sizeof *p->slots);
    p->im->bufs = rfs_calloc(n + 1, sizeof *p->im->bufs);
    f->tensors = rfs_tf_arena_alloc(&p->im->arena, (n ? n : 1) * sizeof *f->tensors);
    if (!p->slots || !p->im->bufs) return RFS_ERR_NOMEM;
    if (!f->tensors) return p->im->arena.err;
    const char *where = *f->state_key ? f->state_key : "top level";
    for (size_t i = 0; i < n; i++) {
        const rfs_pickle_tensor *pt = rfs_pickle_tensor_of(sd->items[i]);
        if (!pt)
            return RFS_FAIL(RFS_ERR_FORMAT, "state dict (%s): '%s' holds %s, not a tensor", where,
                            sd->keys[i], rfs_tf_value_describe(sd->items[i], d, sizeof d));
        rfs_tensor *t = &f->tensors[i];
        *t = pt->t;
        t->name = sd->keys[i];
        st = bind_tensor(p, t, pt);
        if (st != RFS_OK) return st;
        f->count = (int)i + 1;
    }
    return RFS_OK;
}

static rfs_status run(rfs_tensorfile *f, zip_t *za, uint64_t archive_size) {
    pth p = {.f = f, .im = f->impl, .za = za, .archive_size = archive_size};
    rfs_status st = read_archive(&p);
    free(p.slots);
    zip_discard(za);
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
    return run(f, za, size);
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
    return run(f, za, (uint64_t)sb.st_size);
}
