/* tfdump.c - prints what rfs_tensorfile_open() reads from a checkpoint (development aid).
 *   cc -std=c11 -Iinclude -Isrc dev/tensorfile/tfdump.c build/librfseg.a -lzip -fopenmp -lm -o /tmp/tfdump
 */
#include "io/tensorfile.h"

#include <stdio.h>
#include <stdlib.h>

static void print_value(const rfs_value *v, int depth) {
    switch (v->kind) {
    case RFS_V_NONE: printf("None"); break;
    case RFS_V_BOOL: printf(v->i ? "True" : "False"); break;
    case RFS_V_INT: printf("%lld", (long long)v->i); break;
    case RFS_V_FLOAT: printf("%.17g", v->f); break;
    case RFS_V_STR: printf("'%s'", v->str); break;
    case RFS_V_OPAQUE: printf("<%s>", v->str); break;
    case RFS_V_TENSOR: printf("tensor(%s, ndim %d)", rfs_dtype_name(v->tensor->dtype), v->tensor->ndim); break;
    case RFS_V_LIST:
        printf("[");
        for (size_t i = 0; i < v->len; i++) printf(i ? ", " : ""), print_value(v->items[i], depth + 1);
        printf("]");
        break;
    case RFS_V_DICT:
        printf("{");
        for (size_t i = 0; i < v->len; i++) {
            printf("%s\n%*s'%s': ", i ? "," : "", 2 * depth + 2, "", v->keys[i]);
            print_value(v->items[i], depth + 1);
        }
        printf("}");
        break;
    }
}

int main(int argc, char **argv) {
    for (int a = 1; a < argc; a++) {
        rfs_tensorfile *f;
        if (rfs_tensorfile_open(&f, argv[a]) != RFS_OK) {
            printf("%s\n", rfs_last_error());
            continue;
        }
        printf("%s: %d tensors, state dict at '%s'\n", argv[a], f->count, f->state_key);
        for (int i = 0; i < f->count; i++) {
            const rfs_tensor *t = &f->tensors[i];
            int64_t n = rfs_tensor_numel(t);
            float *v = malloc((size_t)(n ? n : 1) * sizeof *v);
            double s = 0;
            rfs_tensor_to_f32(t, v);
            for (int64_t k = 0; k < n; k++) s += v[k];
            printf("  %-20s %-4s (", t->name, rfs_dtype_name(t->dtype));
            for (int d = 0; d < t->ndim; d++) printf("%s%lld", d ? "," : "", (long long)t->shape[d]);
            printf(") stride (");
            for (int d = 0; d < t->ndim; d++) printf("%s%lld", d ? "," : "", (long long)t->stride[d]);
            printf(") sum %.9g first %.9g\n", s, n ? v[0] : 0.0);
            free(v);
        }
        if (f->root) {
            printf("root: ");
            print_value(f->root, 0);
            printf("\n");
        }
        rfs_tensorfile_free(f);
    }
    return 0;
}
