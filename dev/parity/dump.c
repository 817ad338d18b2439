/* dump.c - runs a checkpoint on a reference input and writes every traced tensor plus the
 * outputs to a safetensors file, for offline comparison with numpy.
 *   cc ... dev/parity/dump.c build/librfseg.a ...; dump MODEL.pth REF.safetensors IMAGE OUT */
#include "io/tensorfile.h"
#include "pipeline/session.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static rfs_tensor_out outs[600];
static int nout;
static void on_trace(void *u, const char *name, const float *d, int ndim, const int64_t *shape) {
    rfs_tensor_out *t = &outs[nout++];
    t->name = strdup(name);
    t->dtype = RFS_DT_F32;
    t->ndim = ndim;
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)(t->shape[i] = shape[i]);
    float *c = malloc(n * 4);
    memcpy(c, d, n * 4);
    t->data = c;
}
int main(int argc, char **argv) {
    rfs_model *m; rfs_tensorfile *ref; rfs_session *s;
    if (rfs_model_load(&m, argv[1]) || rfs_tensorfile_open(&ref, argv[2])) { fprintf(stderr, "%s\n", rfs_last_error()); return 1; }
    char key[128]; snprintf(key, sizeof key, "%s/input", argv[3]);
    const rfs_tensor *t = rfs_tensorfile_find(ref, key);
    float *in = malloc(rfs_tensor_numel(t) * 4); rfs_tensor_to_f32(t, in);
    rfs_session_create(&s, m, NULL);
    rfs_session_set_trace(s, on_trace, NULL);
    rfs_raw raw; rfs_forward(s, in, 1, &raw);
    const rfs_config *c = &m->cfg;
    rfs_tensor_out o[3] = {{"pred_logits", RFS_DT_F32, 3, {1, c->num_queries, c->num_classes}, raw.logits},
                           {"pred_boxes", RFS_DT_F32, 3, {1, c->num_queries, 4}, raw.boxes},
                           {"pred_masks", RFS_DT_F32, 4, {1, c->num_queries, c->mask_side, c->mask_side}, raw.masks}};
    for (int i = 0; i < 3; i++) outs[nout++] = o[i];
    if (rfs_safetensors_write(argv[4], outs, nout, NULL, 0)) { fprintf(stderr, "%s\n", rfs_last_error()); return 1; }
    return 0;
}
