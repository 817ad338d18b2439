/* fuzz_tensorfile.c - libFuzzer target for the checkpoint readers (make fuzz).
 *
 * The input is opened with rfs_tensorfile_open_mem(); on success every tensor of up to 1M
 * elements is converted to float32 and every metadata value is walked, then the file is
 * freed. An input that starts like a pickle (0x80 PROTO) is first wrapped into a torch.save
 * style zip (arch/data.pkl plus storages arch/data/0..3), so that mutations reach the
 * pickle VM and the storage checks without having to keep zip CRCs valid.
 */
#include "io/tensorfile.h"

#include <stdlib.h>
#include <string.h>
#include <zip.h>

/* Storages of the wrapper archive: key "k" holds storage_len[k] bytes. */
static const size_t storage_len[4] = {4096, 64, 0, 1024};
static uint8_t storage_data[4096];

/* Wraps data.pkl into an uncompressed zip held in memory; NULL on failure. */
static uint8_t *wrap_pickle(const uint8_t *pkl, size_t n, size_t *out_len) {
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
    zip_t *za = src ? zip_open_from_source(src, ZIP_TRUNCATE, &ze) : NULL;
    uint8_t *out = NULL;
    zip_error_fini(&ze);
    if (!za) {
        if (src) zip_source_free(src);
        return NULL;
    }
    zip_source_keep(src); /* survive zip_close to read the archive back */
    char name[32];
    int ok = 1;
    for (int k = -1; k < 4 && ok; k++) {
        const void *d = k < 0 ? (const void *)pkl : storage_data;
        size_t len = k < 0 ? n : storage_len[k];
        if (k < 0) snprintf(name, sizeof name, "arch/data.pkl");
        else snprintf(name, sizeof name, "arch/data/%d", k);
        zip_source_t *s = zip_source_buffer(za, d, len, 0);
        zip_int64_t idx = s ? zip_file_add(za, name, s, 0) : -1;
        if (idx < 0) {
            if (s) zip_source_free(s);
            ok = 0;
        } else {
            zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_STORE, 0);
        }
    }
    if (!ok || zip_close(za) != 0) {
        if (ok) zip_discard(za);
        else zip_discard(za);
        zip_source_free(src);
        return NULL;
    }
    zip_stat_t st;
    if (zip_source_stat(src, &st) == 0 && zip_source_open(src) == 0) {
        out = malloc(st.size ? st.size : 1);
        if (out && zip_source_read(src, out, st.size) == (zip_int64_t)st.size) *out_len = st.size;
        else free(out), out = NULL;
        zip_source_close(src);
    }
    zip_source_free(src);
    return out;
}

static size_t walk(const rfs_value *v, int depth) {
    size_t n = 1;
    if (!v || depth > 100) abort(); /* the reader promises bounded, acyclic values */
    switch (v->kind) {
    case RFS_V_STR: n += strlen(v->str); break;
    case RFS_V_OPAQUE: n += strlen(v->str); break;
    case RFS_V_TENSOR: n += (size_t)v->tensor->ndim; break;
    case RFS_V_LIST:
        for (size_t i = 0; i < v->len; i++) n += walk(v->items[i], depth + 1);
        break;
    case RFS_V_DICT:
        for (size_t i = 0; i < v->len; i++) n += strlen(v->keys[i]) + walk(v->items[i], depth + 1);
        break;
    default: break;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!storage_data[1])
        for (size_t i = 0; i < sizeof storage_data; i++) storage_data[i] = (uint8_t)(i * 37 + 11);
    uint8_t *wrapped = NULL;
    size_t len = size;
    /* pickles (not torch's legacy magic, which starts 80 02 8a 0a) go into a zip */
    if (size >= 2 && data[0] == 0x80 && !(size >= 4 && data[2] == 0x8a && data[3] == 0x0a)) {
        wrapped = wrap_pickle(data, size, &len);
        if (!wrapped) return 0;
        data = wrapped;
    }
    rfs_tensorfile *f = NULL;
    if (rfs_tensorfile_open_mem(&f, data, len, "fuzz") == RFS_OK) {
        for (int i = 0; i < f->count; i++) {
            const rfs_tensor *t = &f->tensors[i];
            int64_t n = rfs_tensor_numel(t);
            if (n < 0) abort();
            if (rfs_tensorfile_find(f, t->name) != t) abort();
            if (n > (1 << 20)) continue;
            float *buf = malloc((size_t)(n ? n : 1) * sizeof *buf);
            if (buf && rfs_tensor_to_f32(t, buf) != RFS_OK) abort();
            free(buf);
        }
        if (f->root) walk(f->root, 0);
        rfs_value_int(f->args, "num_classes", 0);
        rfs_value_float(f->args, "lr", 0);
        rfs_value_str(f->args, "encoder", "");
        rfs_tensorfile_free(f);
    }
    free(wrapped);
    return 0;
}
