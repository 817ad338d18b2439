/* backend.c - the part of a backend's state every backend shares (backend.h). */
#include "model/backend.h"

#include "util/err.h"

#include <string.h>

rfs_status rfs_net_init(rfs_net *n, const rfs_backend_ops *ops, const rfs_model *m,
                        const rfs_session_opts *o) {
    const rfs_config *c = &m->cfg;
    const size_t B = (size_t)o->max_batch, nq = c->num_queries;
    const size_t P = (size_t)c->mask_side * c->mask_side, R = c->resolution;
    n->ops = ops;
    n->m = m;
    n->o = *o;
    n->input = rfs_aligned_alloc(sizeof(float) * B * 3 * R * R);
    n->logits = rfs_aligned_alloc(sizeof(float) * B * nq * c->num_classes);
    n->boxes = rfs_aligned_alloc(sizeof(float) * B * nq * 4);
    n->masks = rfs_aligned_alloc(sizeof(float) * B * nq * P);
    if (!n->input || !n->logits || !n->boxes || !n->masks) {
        rfs_net_release(n);
        return RFS_FAIL(RFS_ERR_NOMEM, "out of memory creating a session for %s (batch %d)",
                        c->size, o->max_batch);
    }
    /* defined contents before the first frame (rfs_session_save_raw, profiling) */
    memset(n->input, 0, sizeof(float) * B * 3 * R * R);
    memset(n->logits, 0, sizeof(float) * B * nq * c->num_classes);
    memset(n->boxes, 0, sizeof(float) * B * nq * 4);
    memset(n->masks, 0, sizeof(float) * B * nq * P);
    return RFS_OK;
}

void rfs_net_release(rfs_net *n) {
    free(n->input);
    free(n->logits);
    free(n->boxes);
    free(n->masks);
    n->input = n->logits = n->boxes = n->masks = NULL;
}
