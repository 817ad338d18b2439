/* bf16_trace.c - relative error of every traced intermediate of a bf16 (or fp32) CPU
 * session against the fixture's float64 reference (astronaut), in forward order: where a
 * reduced-precision path loses accuracy. Usage: bf16_trace MODEL.pth REF.safetensors [fp32] */
#include "io/tensorfile.h"
#include "pipeline/session.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const rfs_tensorfile *REF;

static void on_trace(void *user, const char *name, const float *data, int ndim, const int64_t *shape) {
    char key[200];
    snprintf(key, sizeof key, "astronaut/out:%s", name);
    const rfs_tensor *t = rfs_tensorfile_find(REF, key);
    if (!t) return;
    size_t n = (size_t)rfs_tensor_numel(t);
    float *b = malloc(sizeof(float) * n);
    rfs_tensor_to_f32(t, b);
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) num += (data[i] - b[i]) * (double)(data[i] - b[i]), den += (double)b[i] * b[i];
    printf("%-60s rel %.3e\n", name, sqrt(num / (den > 0 ? den : 1)));
    free(b);
}

int main(int argc, char **argv) {
    rfs_tensorfile *ref;
    if (argc < 3 || rfs_tensorfile_open(&ref, argv[2]) != RFS_OK) return 1;
    REF = ref;
    rfs_model *m;
    if (rfs_model_load(&m, argv[1]) != RFS_OK) return 1;
    rfs_session_opts so = rfs_session_defaults();
    so.precision = argc > 3 ? RFS_FP32 : RFS_BF16;
    rfs_session *s;
    if (rfs_session_create(&s, m, &so) != RFS_OK) return 1;
    const rfs_tensor *in = rfs_tensorfile_find(ref, "astronaut/input");
    float *x = malloc(sizeof(float) * rfs_tensor_numel(in));
    rfs_tensor_to_f32(in, x);
    rfs_session_set_trace(s, on_trace, NULL);
    rfs_forward(s, x, 1, NULL);
    return 0;
}
