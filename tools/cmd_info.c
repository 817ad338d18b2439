/* cmd_info.c - `rfseg info MODEL`: the configuration derived from a checkpoint. */
#include "cli.h"

#include <string.h>

/* MODEL (positional or --model), --random-weights SIZE, then up to `nextra` more
 * positional arguments; 0 (after printing why) on anything else. */
static int model_args(int argc, char **argv, const char *cmd, const char **model,
                      const char **random_size, const char **extra, int nextra) {
    int k = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--random-weights")) {
            if (!cli_str(argc, argv, &i, random_size)) return 0;
        } else if (!strcmp(argv[i], "--model")) {
            if (!cli_str(argc, argv, &i, model)) return 0;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "rfseg %s: unknown option %s\n", cmd, argv[i]);
            return 0;
        } else if (!*model && !*random_size) *model = argv[i];
        else if (k < nextra) extra[k++] = argv[i];
        else {
            fprintf(stderr, "rfseg %s: unexpected argument %s\n", cmd, argv[i]);
            return 0;
        }
    }
    return 1;
}

int cmd_info(int argc, char **argv) {
    const char *model = NULL, *random_size = NULL;
    if (!model_args(argc, argv, "info", &model, &random_size, NULL, 0)) return 2;
    rfs_model *m = cli_load_model(model, random_size);
    if (!m) return 1;
    const rfs_config *c = rfs_model_config(m);
    printf("size              %s\n", c->size);
    printf("resolution        %d (patch %d, grid %dx%d, %d window%s per side)\n", c->resolution,
           c->patch_size, c->grid, c->grid, c->num_windows, c->num_windows > 1 ? "s" : "");
    printf("backbone          DINOv2 width %d, %d layers, %d heads, MLP %d, position grid %d%s\n",
           c->vit_dim, c->vit_layers, c->vit_heads, c->vit_mlp, c->pos_grid,
           c->pos_grid != c->grid ? " (interpolated)" : "");
    printf("taps              layers");
    for (int i = 0; i < c->num_taps; i++) printf(" %d", c->tap_layers[i]);
    printf(" (0-based)\n");
    printf("projector         C2f, %d bottlenecks, width %d\n", c->proj_blocks, c->hidden_dim);
    printf("decoder           %d layers, %d self-attn heads, %d deformable heads x %d points, FFN %d\n",
           c->dec_layers, c->sa_heads, c->ca_heads, c->dec_points, c->dim_feedforward);
    printf("queries           %d (%d rows stored), num_select %d\n", c->num_queries, c->query_rows,
           c->num_select);
    printf("classes           %d logits\n", c->num_classes);
    printf("masks             %dx%d logits per query\n", c->mask_side, c->mask_side);
    printf("parameters        %zu used at inference\n", rfs_model_param_count(m));
    rfs_model_free(m);
    return 0;
}

/* `rfseg convert MODEL OUT.safetensors`: the tensors inference uses, as safetensors. */
int cmd_convert(int argc, char **argv) {
    const char *model = NULL, *random_size = NULL, *out = NULL;
    if (!model_args(argc, argv, "convert", &model, &random_size, &out, 1)) return 2;
    if (!out) {
        fprintf(stderr, "usage: rfseg convert MODEL OUT.safetensors\n");
        return 2;
    }
    rfs_model *m = cli_load_model(model, random_size);
    if (!m) return 1;
    int rc = 0;
    if (rfs_model_save(m, out) != RFS_OK) {
        fprintf(stderr, "rfseg convert: %s\n", rfs_last_error());
        rc = 1;
    }
    rfs_model_free(m);
    return rc;
}
