/* save.c - writes a model as safetensors: every tensor the forward pass uses, under its
 * official name (query tables reduced to the rows of group 0, the position table at the
 * runtime grid), plus the settings shapes cannot carry as __metadata__ strings. Loading
 * the file gives the same model. */
#include "model/model.h"

#include "io/tensorfile.h"
#include "util/err.h"

#include <stdio.h>

rfs_status rfs_model_save(const rfs_model *m, const char *path) {
    rfs_binding *b;
    size_t len;
    int n = rfs_bindings_build(&b, &m->cfg, &len);
    if (n < 0) return RFS_ERR_NOMEM;
    rfs_tensor_out *t = rfs_calloc((size_t)n, sizeof *t);
    if (!t) {
        free(b);
        return RFS_ERR_NOMEM;
    }
    for (int i = 0; i < n; i++) {
        t[i].name = b[i].name;
        t[i].dtype = RFS_DT_F32;
        t[i].ndim = b[i].ndim;
        for (int d = 0; d < b[i].ndim; d++) t[i].shape[d] = b[i].shape[d];
        t[i].data = m->arena + b[i].offset;
    }
    const rfs_config *c = &m->cfg;
    char v[9][64];
    snprintf(v[0], 64, "%d", c->resolution);
    snprintf(v[1], 64, "%d", c->num_windows);
    snprintf(v[2], 64, "%d", c->sa_heads);
    snprintf(v[3], 64, "%d", c->ca_heads);
    snprintf(v[4], 64, "%d", c->dec_points);
    snprintf(v[5], 64, "%d", c->num_queries);
    snprintf(v[6], 64, "%d", c->num_select);
    int k = snprintf(v[7], 64, "[");
    for (int i = 0; i < c->num_taps && k < 60; i++)
        k += snprintf(v[7] + k, (size_t)(64 - k), "%s%d", i ? ", " : "", c->tap_layers[i] + 1);
    snprintf(v[7] + k, (size_t)(64 - k), "]");
    snprintf(v[8], 64, "rfseg %s", RFSEG_VERSION);
    const char *meta[] = {"resolution", v[0], "num_windows", v[1], "sa_nheads", v[2],
                          "ca_nheads", v[3], "dec_n_points", v[4], "num_queries", v[5],
                          "num_select", v[6], "out_feature_indexes", v[7], "producer", v[8]};
    rfs_status st = rfs_safetensors_write(path, t, n, meta, 9);
    free(t);
    free(b);
    return st;
}
