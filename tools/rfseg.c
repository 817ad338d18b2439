/* rfseg - the command line: info, predict, bench (video and serve join as they land).
 *
 *   rfseg info MODEL
 *   rfseg predict --model MODEL [--preset roboflow|rfdetr|rfdetr-1.4] [--confidence C]
 *                 [--format polygon|rle] [--raw-out OUT.safetensors] IMAGE...
 *   rfseg video --model MODEL IN [--jsonl OUT.jsonl] [--annotate OUT.mp4]
 *   rfseg serve --model MODEL[:ID]... [--host H] [--port P]  (docs/serve.md)
 *   rfseg bench --device cpu|cuda (--model MODEL | --random-weights SIZE) [--batch B]
 *               [--precision fp32|fp16|bf16] [--frames N] [--threads T]
 *
 * MODEL is a checkpoint file (.pth / .safetensors), or an official size name (seg-nano,
 * ...), downloaded once into ~/.cache/rfseg. --random-weights SIZE builds a full-size
 * model with deterministic random weights instead (no file, no download).
 */
#include "rfseg.h"

#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "rfseg %s - RF-DETR instance segmentation\n"
            "\n"
            "usage:\n"
            "  rfseg info MODEL | --random-weights SIZE\n"
            "  rfseg predict --model MODEL [--preset roboflow|rfdetr|rfdetr-1.4] [--confidence C]\n"
            "                [--format polygon|rle] [--clip-boxes] [--raw-out OUT.safetensors]\n"
            "                [--annotate OUT.png|DIR] [--max-megapixels N (default 100)]\n"
            "                [--device cpu|cuda] [--precision fp32|fp16|bf16] IMAGE...\n"
            "  rfseg video --model MODEL IN [--jsonl OUT.jsonl] [--annotate OUT.mp4]\n"
            "              [--preset roboflow|rfdetr] [--confidence C] [--format polygon|rle]\n"
            "              [--device cpu|cuda] [--precision fp32|fp16|bf16] [--batch B] [--max-frames N]\n"
            "              [--max-megapixels N]\n"
            "  rfseg bench --device cpu|cuda (--model MODEL | --random-weights SIZE)\n"
            "              [--batch B] [--precision fp32|fp16|bf16] [--frames N] [--threads T]\n"
            "              [--source VIDEO|y4m|synthetic:WxH [--preset roboflow|rfdetr]\n"
            "               [--format polygon|rle] [--inflight 1|2] [--workers N] [--decode-frames N]]\n"
            "  rfseg serve --model MODEL[:ID]... [--host H] [--port P] [--device cpu|cuda] [--precision P]\n"
            "              [--max-batch B] [--batch-wait-ms MS] [--allow-urls] ...  (docs/serve.md)\n"
            "  rfseg worker --redis redis://HOST:PORT[/DB] --model MODEL[:ID]... [--device cpu|cuda|cuda:all]\n"
            "               [--jobs STREAM] [--group G] [--results STREAM] [--max-batch B] ...  (docs/scale-out.md)\n"
            "  rfseg convert MODEL OUT.safetensors\n"
            "\n"
            "MODEL: a checkpoint (.pth or .safetensors), or an official size, downloaded once:\n"
            "  seg-preview seg-nano seg-small seg-medium seg-large seg-xlarge seg-2xlarge\n",
            RFSEG_VERSION);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("rfseg %s\n", RFSEG_VERSION);
        return 0;
    }
    cli_prefer_passive_omp(argv);
    cli_init_logging();
    if (!strcmp(cmd, "info")) return cmd_info(argc - 1, argv + 1);
    if (!strcmp(cmd, "predict")) return cmd_predict(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench")) return cmd_bench(argc - 1, argv + 1);
    if (!strcmp(cmd, "convert")) return cmd_convert(argc - 1, argv + 1);
    if (!strcmp(cmd, "video")) return cmd_video(argc - 1, argv + 1);
    if (!strcmp(cmd, "serve")) return cmd_serve(argc - 1, argv + 1);
    int cmd_worker(int argc, char **argv); /* tools/cmd_worker.c */
    if (!strcmp(cmd, "worker")) return cmd_worker(argc - 1, argv + 1);
    fprintf(stderr, "rfseg: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
