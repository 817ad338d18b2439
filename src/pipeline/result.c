/* result.c - rfs_result storage (result.h). */
#include "pipeline/result.h"

#include "util/err.h"

#include <string.h>

static struct rfs_result_store *store(rfs_result *r) {
    if (!r->store) r->store = rfs_calloc(1, sizeof *r->store);
    return r->store;
}

rfs_status rfs_result_reserve(rfs_result *r, int n) {
    struct rfs_result_store *st = store(r);
    if (!st) return RFS_ERR_NOMEM;
    if (n <= st->cap) return RFS_OK;
    rfs_detection *d = rfs_realloc(r->dets, sizeof *d * (size_t)n);
    if (!d) return RFS_ERR_NOMEM;
    r->dets = d;
    st->cap = n;
    return RFS_OK;
}

rfs_status rfs_result_set_preset(rfs_result *r, int preset) {
    struct rfs_result_store *st = store(r);
    if (!st) return RFS_ERR_NOMEM;
    st->preset = preset;
    return RFS_OK;
}

int rfs_result_preset(const rfs_result *r) { return r->store ? r->store->preset : RFS_PRESET_ROBOFLOW; }

uint8_t *rfs_result_pool(rfs_result *r, size_t bytes) {
    struct rfs_result_store *st = store(r);
    if (!st) return NULL;
    if (bytes > st->pool_cap || !st->pool) {
        size_t cap = st->pool_cap ? st->pool_cap : 65536;
        while (cap < bytes) cap *= 2;
        uint8_t *p = rfs_realloc(st->pool, cap);
        if (!p) return NULL;
        st->pool = p;
        st->pool_cap = cap;
    }
    return st->pool;
}

void rfs_result_free(rfs_result *r) {
    if (!r) return;
    free(r->dets);
    if (r->store) free(r->store->pool);
    free(r->store);
    memset(r, 0, sizeof *r);
}
