/* test_model_load.c - configuration and weight binding.
 *
 * - Every official seg size builds (random weights) with the configuration of
 *   rfdetr-seg-model.md 1.2, and its checkpoint parameter count (inference tensors plus the
 *   training-only ones: mask_token, query groups 1..12) equals the published derivation.
 * - A model written as safetensors loads back into the same network.
 * - A missing tensor or a tensor of the wrong shape fails the load with a message naming
 *   it, with the shape found and the shape expected; truncated and garbage files fail
 *   cleanly.
 */
#include "harness.h"

#include "io/tensorfile.h"
#include "pipeline/session.h"

#include <math.h>

static const struct {
    const char *size;
    int R, G, nw, L, nq;
    long total; /* 0 = not published */
} SIZES[] = {
    {"seg-preview", 432, 36, 2, 4, 200, 0},
    {"seg-nano", 312, 26, 1, 4, 100, 33577475},
    {"seg-small", 384, 32, 2, 4, 100, 33711107},
    {"seg-medium", 432, 36, 2, 5, 200, 35694259},
    {"seg-large", 504, 42, 2, 5, 200, 35873971},
    {"seg-xlarge", 624, 52, 2, 6, 300, 38113635},
    {"seg-2xlarge", 768, 64, 2, 6, 300, 38648163},
};

TEST(every_size_config) {
    for (size_t i = 0; i < sizeof SIZES / sizeof SIZES[0]; i++) {
        rfs_model *m = NULL;
        CHECKF(rfs_model_random(&m, SIZES[i].size, 7) == RFS_OK, "%s: %s", SIZES[i].size, rfs_last_error());
        if (!m) continue;
        const rfs_config *c = rfs_model_config(m);
        CHECK(!strcmp(c->size, SIZES[i].size));
        CHECK(c->resolution == SIZES[i].R && c->grid == SIZES[i].G && c->pos_grid == SIZES[i].G);
        CHECK(c->num_windows == SIZES[i].nw && c->dec_layers == SIZES[i].L);
        CHECK(c->num_queries == SIZES[i].nq && c->num_select == SIZES[i].nq);
        CHECK(c->num_classes == 91 && c->vit_dim == 384 && c->hidden_dim == 256);
        CHECK(c->tap_layers[0] == 2 && c->tap_layers[3] == 11 && c->mask_side == SIZES[i].R / 4);
        /* checkpoint tensors = used + mask_token + 12 unused two-stage groups + 12 query groups */
        long C = 256, K = 91;
        long group = (C * C + C) + 2 * C + (K * C + K) + 2 * (C * C + C) + (4 * C + 4);
        long total = (long)rfs_model_param_count(m) + 384 + 12 * group + 12L * c->num_queries * (4 + C);
        if (SIZES[i].total)
            CHECKF(total == SIZES[i].total, "%s: %ld parameters, published %ld", SIZES[i].size,
                   total, SIZES[i].total);
        rfs_model_free(m);
    }
    rfs_model *m = NULL;
    CHECK(rfs_model_random(&m, "seg-huge", 1) == RFS_ERR_ARG && m == NULL);
    CHECK(strstr(rfs_last_error(), "seg-huge") != NULL);
    CHECK(rfs_model_random(&m, "nano", 1) == RFS_OK); /* short name */
    rfs_model_free(m);
}

static int forward_equal(const rfs_model *a, const rfs_model *b) {
    const rfs_config *c = rfs_model_config(a);
    size_t n = (size_t)3 * c->resolution * c->resolution;
    float *in = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) in[i] = (float)sin(0.001 * (double)i);
    rfs_session *sa = NULL, *sb = NULL;
    int same = 0;
    if (rfs_session_create(&sa, a, NULL) == RFS_OK && rfs_session_create(&sb, b, NULL) == RFS_OK) {
        rfs_raw ra, rb;
        rfs_forward(sa, in, 1, &ra);
        rfs_forward(sb, in, 1, &rb);
        size_t nm = (size_t)c->num_queries * c->mask_side * c->mask_side;
        same = !memcmp(ra.logits, rb.logits, sizeof(float) * c->num_queries * c->num_classes) &&
               !memcmp(ra.boxes, rb.boxes, sizeof(float) * c->num_queries * 4) &&
               !memcmp(ra.masks, rb.masks, sizeof(float) * nm);
    }
    rfs_session_free(sa);
    rfs_session_free(sb);
    free(in);
    return same;
}

TEST(safetensors_round_trip) {
    const char *models[] = {"fixtures/rfdetr/tiny-w1.pth", "fixtures/rfdetr/tiny-w2.pth"};
    for (int k = 0; k < 2; k++) {
        rfs_model *a = NULL, *b = NULL;
        CHECKF(rfs_model_load(&a, test_shared(models[k])) == RFS_OK, "%s", rfs_last_error());
        if (!a) continue;
        const char *tmp = "/tmp/rfs_test_roundtrip.safetensors";
        CHECKF(rfs_model_save(a, tmp) == RFS_OK, "%s", rfs_last_error());
        CHECKF(rfs_model_load(&b, tmp) == RFS_OK, "%s", rfs_last_error());
        if (b) {
            const rfs_config *ca = rfs_model_config(a), *cb = rfs_model_config(b);
            CHECK(ca->num_windows == cb->num_windows && ca->resolution == cb->resolution);
            CHECK(ca->sa_heads == cb->sa_heads && ca->tap_layers[1] == cb->tap_layers[1]);
            CHECK(forward_equal(a, b));
        }
        rfs_model_free(a);
        rfs_model_free(b);
        remove(tmp);
    }
}

/* Writes tiny-w1's bound tensors as safetensors, dropping or reshaping one. */
static int write_variant(const char *path, const char *drop, const char *reshape) {
    rfs_model *m = NULL;
    if (rfs_model_load(&m, test_shared("fixtures/rfdetr/tiny-w1.pth")) != RFS_OK) return 0;
    rfs_binding *b;
    size_t len;
    int n = rfs_bindings_build(&b, &m->cfg, &len);
    rfs_tensor_out *t = calloc((size_t)n, sizeof *t);
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (drop && !strcmp(b[i].name, drop)) continue;
        t[k].name = b[i].name;
        t[k].dtype = RFS_DT_F32;
        t[k].ndim = b[i].ndim;
        for (int d = 0; d < b[i].ndim; d++) t[k].shape[d] = b[i].shape[d];
        if (reshape && !strcmp(b[i].name, reshape)) { /* same numel, transposed shape */
            t[k].shape[0] = b[i].shape[1];
            t[k].shape[1] = b[i].shape[0];
        }
        t[k].data = m->arena + b[i].offset;
        k++;
    }
    const char *meta[] = {"resolution", "96", "sa_nheads", "4", "ca_nheads", "4",
                          "num_queries", "20", "out_feature_indexes", "[2, 4, 6]"};
    int ok = rfs_safetensors_write(path, t, k, meta, 5) == RFS_OK;
    free(t);
    free(b);
    rfs_model_free(m);
    return ok;
}

TEST(missing_and_misshapen_tensors) {
    const char *p = "/tmp/rfs_test_bad.safetensors";
    rfs_model *m = NULL;
    CHECK(write_variant(p, "transformer.decoder.layers.1.linear2.weight", NULL));
    CHECK(rfs_model_load(&m, p) == RFS_ERR_FORMAT && m == NULL);
    CHECKF(strstr(rfs_last_error(), "missing tensor 'transformer.decoder.layers.1.linear2.weight'"),
           "message: %s", rfs_last_error());
    CHECK(write_variant(p, NULL, "transformer.decoder.layers.1.linear1.weight"));
    CHECK(rfs_model_load(&m, p) == RFS_ERR_FORMAT && m == NULL);
    CHECKF(strstr(rfs_last_error(), "'transformer.decoder.layers.1.linear1.weight' has shape (64, 2048), "
                                    "expected (2048, 64)"),
           "message: %s", rfs_last_error());
    CHECK(write_variant(p, "class_embed.bias", NULL)); /* K is derived from it */
    CHECK(rfs_model_load(&m, p) == RFS_ERR_FORMAT && m == NULL);
    CHECKF(strstr(rfs_last_error(), "class_embed.bias"), "message: %s", rfs_last_error());
    remove(p);
}

TEST(corrupt_files) {
    rfs_model *m = NULL;
    CHECK(rfs_model_load(&m, "/nonexistent/model.pth") == RFS_ERR_IO && m == NULL);
    CHECK(strstr(rfs_last_error(), "/nonexistent/model.pth") != NULL);
    /* truncations of the real checkpoint, and garbage */
    FILE *f = fopen(test_shared("fixtures/rfdetr/tiny-w1.pth"), "rb");
    CHECK(f != NULL);
    if (!f) return;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n);
    CHECK(fread(buf, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    const char *p = "/tmp/rfs_test_trunc.pth";
    long cuts[] = {0, 10, 100, 30000, n / 2, n - 100, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        FILE *o = fopen(p, "wb");
        fwrite(buf, 1, (size_t)cuts[i], o);
        fclose(o);
        rfs_status st = rfs_model_load(&m, p);
        CHECKF(st != RFS_OK && m == NULL, "truncated at %ld loaded", cuts[i]);
        CHECKF(strlen(rfs_last_error()) > 10, "truncated at %ld: no message", cuts[i]);
    }
    for (long i = 0; i < n; i++) buf[i] = (unsigned char)(i * 7919 >> 3);
    FILE *o = fopen(p, "wb");
    fwrite(buf, 1, 5000, o);
    fclose(o);
    CHECK(rfs_model_load(&m, p) != RFS_OK && m == NULL);
    free(buf);
    remove(p);
}

int main(void) {
    RUN(every_size_config);
    RUN(safetensors_round_trip);
    RUN(missing_and_misshapen_tensors);
    RUN(corrupt_files);
    return test_summary();
}
