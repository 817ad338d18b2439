/* cmd_info.c - `rfseg info MODEL` (the configuration derived from a checkpoint) and
 * `rfseg convert MODEL OUT.safetensors` (the tensors inference uses). */
#include "cli.h"
#include "cli_opts.h"
#include "cli_out.h"

#include <string.h>

/* MODEL (operand or --model), --random-weights SIZE, then up to `nextra` more operands,
 * and --overwrite where the command has it; 0 on anything else, 1 ok, -1 help shown. */
static int model_args(const cli_command *cmd, int argc, char **argv, const char **model,
                      const char **random_size, const char **extra, int nextra, int *overwrite) {
    cli_parser p;
    cli_parser_init(&p, cmd, argc, argv);
    const char *opt, *val;
    int r, k = 0;
    while ((r = cli_next(&p, &opt, &val)) > 0) {
        if (r == CLI_OPERAND) {
            if (!*model && !*random_size) *model = val;
            else if (k < nextra) extra[k++] = val;
            else {
                fprintf(stderr, "rfseg %s: unexpected argument %s\n", cmd->name, val);
                return 0;
            }
        } else if (!strcmp(opt, "--model")) *model = val;
        else if (!strcmp(opt, "--random-weights")) *random_size = val;
        else if (!strcmp(opt, "--overwrite")) *overwrite = 1;
    }
    if (r == CLI_HELP) return -1;
    if (r == CLI_ERROR) return 0;
    if (*model && *random_size) {
        fprintf(stderr, "rfseg %s: give MODEL or --random-weights SIZE, not both\n", cmd->name);
        return 0;
    }
    return 1;
}

int cmd_info(int argc, char **argv) {
    const char *model = NULL, *random_size = NULL;
    int overwrite = 0;
    int r = model_args(&cli_cmd_info, argc, argv, &model, &random_size, NULL, 0, &overwrite);
    if (r <= 0) return r < 0 ? 0 : 2;
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
    cli_stream out;
    cli_stream_stdout(&out, "info");
    return cli_stream_close(&out) ? 0 : 1;
}

int cmd_convert(int argc, char **argv) {
    const char *model = NULL, *random_size = NULL, *out = NULL;
    int overwrite = 0;
    int r = model_args(&cli_cmd_convert, argc, argv, &model, &random_size, &out, 1, &overwrite);
    if (r <= 0) return r < 0 ? 0 : 2;
    if (!out) {
        fprintf(stderr, "usage: rfseg convert MODEL OUT.safetensors (see rfseg convert --help)\n");
        return 2;
    }
    if (!cli_out_check("convert", "OUT", out, overwrite, CLI_OUT_FILE)) return 2;
    rfs_model *m = cli_load_model(model, random_size);
    if (!m) return 1;
    cli_tmp t;
    int rc = 1;
    if (cli_tmp_begin(&t, "convert", out, overwrite)) {
        if (rfs_model_save(m, t.tmp) != RFS_OK) {
            fprintf(stderr, "rfseg convert: %s\n", rfs_last_error());
            cli_tmp_abort(&t);
        } else if (cli_tmp_commit(&t, "convert")) rc = 0;
    }
    rfs_model_free(m);
    return rc;
}
