/* rfseg - the command line: info, predict, video, bench, serve, worker, convert.
 *
 * Every command takes -h/--help (its options with their defaults), --opt=value, `--` to end
 * the options and `-` for standard input where it reads one (tools/cli_opts.h); `rfseg help
 * CMD` is `rfseg CMD --help`. The manual is docs/rfseg.1.
 */
#include "rfseg.h"

#include "cli.h"
#include "cli_opts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f, "rfseg %s - RF-DETR instance segmentation\n\n", RFSEG_VERSION);
    cli_usage_print(f);
    fprintf(f,
            "\n"
            "MODEL: a checkpoint (.pth or .safetensors), a Roboflow model package directory, or an\n"
            "official size, downloaded once: seg-preview seg-nano seg-small seg-medium seg-large\n"
            "seg-xlarge seg-2xlarge\n");
}

/* -h/--help among a command's options (before any `--`). */
static int wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--")) return 0;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        if (argc > 2 && strcmp(cmd, "help") == 0) {
            const cli_command *c = cli_command_find(argv[2]);
            if (!c) {
                fprintf(stderr, "rfseg: no command '%s'\n\n", argv[2]);
                usage(stderr);
                return 2;
            }
            cli_help_print(stdout, c);
            return 0;
        }
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("rfseg %s\n", RFSEG_VERSION);
        return 0;
    }
    const cli_command *c = cli_command_find(cmd);
    if (!c) {
        fprintf(stderr, "rfseg: unknown command '%s'\n\n", cmd);
        usage(stderr);
        return 2;
    }
    int cargc = argc - 1;
    char **cargv = argv + 1, **split = NULL;
    if (!strcmp(cmd, "bench") || !strcmp(cmd, "serve") || !strcmp(cmd, "worker")) {
        /* these parse their own options: help and --opt=value are handled here */
        if (wants_help(cargc, cargv)) {
            cli_help_print(stdout, c);
            return 0;
        }
        if (!(split = malloc(sizeof *split * (size_t)(2 * cargc + 1)))) return 1;
        cargc = cli_split_equals(c, cargc, cargv, split);
        cargv = split;
    }
    cli_prefer_passive_omp(argv);
    cli_init_logging();
    int rc;
    if (!strcmp(cmd, "info")) rc = cmd_info(cargc, cargv);
    else if (!strcmp(cmd, "predict")) rc = cmd_predict(cargc, cargv);
    else if (!strcmp(cmd, "bench")) rc = cmd_bench(cargc, cargv);
    else if (!strcmp(cmd, "convert")) rc = cmd_convert(cargc, cargv);
    else if (!strcmp(cmd, "video")) rc = cmd_video(cargc, cargv);
    else if (!strcmp(cmd, "worker")) rc = cmd_worker(cargc, cargv);
    else rc = cmd_serve(cargc, cargv);
    if (split) cli_split_free(split, cargc, argc - 1, argv + 1);
    return rc;
}
