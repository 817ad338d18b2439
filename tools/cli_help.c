/* cli_help.c - every command's options and help text (the tables cli_opts.c parses with).
 * Defaults written here are the ones the commands apply; tests/cli_help.py checks that
 * every option a command's source accepts is listed. */
#include "cli_opts.h"

#include <string.h>

#define MODEL_OPTS                                                                             \
    {"--model", 'm', "MODEL",                                                                  \
     "checkpoint (.pth, .safetensors), Roboflow model package directory, or official size\n"  \
     "name (downloaded once into ~/.cache/rfseg)"},                                            \
    {"--random-weights", 0, "SIZE", "a full-size model with deterministic random weights (no download)"}

#define PRECISION_OPT                                                                          \
    {"--precision", 0, "P",                                                                    \
     "fp32, fp16 or bf16 (fp16: cuda only; bf16: cuda, or a CPU with AVX512_BF16 or AMX); default fp32"}

#define DEVICE_OPTS                                                                            \
    {"--device", 0, "DEV", "cpu or cuda (cuda needs a `make cuda` build); default cpu"},       \
    PRECISION_OPT

/* rows the server and the worker share (one session per device, the same image limits) */
#define SESSION_THREADS_OPT {"--threads", 0, "T", "CPU threads per session; default 0 (OpenMP's default)"}
#define MAX_IMAGE_MB_OPT {"--max-image-mb", 0, "MB", "encoded image size limit; default 16"}
#define MAX_PIXELS_OPT {"--max-pixels", 0, "N", "decoded image size limit in pixels; default 25000000"}

#define SIZES_NOTE                                                                             \
    "MODEL sizes: seg-preview seg-nano seg-small seg-medium seg-large seg-xlarge seg-2xlarge\n"

static const cli_opt info_opts[] = {
    MODEL_OPTS,
    {"--help", 'h', NULL, "this help"},
    {NULL, 0, NULL, NULL},
};

const cli_command cli_cmd_info = {
    "info",
    "info MODEL\n"
    "info --random-weights SIZE",
    "Prints the configuration derived from a checkpoint: resolution, backbone, decoder,\n"
    "queries, classes, parameter count.",
    info_opts,
    SIZES_NOTE,
};

static const cli_opt convert_opts[] = {
    MODEL_OPTS,
    {"--overwrite", 0, NULL, "replace OUT if it exists (default: refuse)"},
    {"--help", 'h', NULL, "this help"},
    {NULL, 0, NULL, NULL},
};

const cli_command cli_cmd_convert = {
    "convert",
    "convert MODEL OUT.safetensors\n"
    "convert --random-weights SIZE OUT.safetensors",
    "Writes the tensors inference uses as a safetensors file that loads back as the same\n"
    "model. OUT is written under a temporary name and renamed when complete.",
    convert_opts,
    SIZES_NOTE,
};

static const cli_opt predict_opts[] = {
    MODEL_OPTS,
    {"--preset", 0, "NAME",
     "roboflow (Roboflow inference's response), rfdetr (the official RFDETR.predict of\n"
     "rfdetr 1.9+) or rfdetr-1.4 (that of rfdetr 1.4.1); default roboflow"},
    {"--confidence", 'c', "C",
     "keep detections scoring above C: a fraction (0.4) or a percentage (40%);\n"
     "default 0.4 (roboflow), 0.5 (rfdetr presets)"},
    {"--threshold", 0, "C", "the same as --confidence"},
    {"--format", 0, "FMT", "masks as polygon or rle (COCO run-length); default polygon"},
    {"--clip-boxes", 0, NULL, "clamp boxes to the image (roboflow preset); default off"},
    {"--no-auto-orient", 0, NULL, "ignore EXIF orientation; default: applied (unless the model package disables it)"},
    {"--max-megapixels", 0, "N", "refuse images larger than N megapixels (checked on the header); default 100"},
    {"--recursive", 'r', NULL, "descend into subdirectories of directory operands; default off"},
    {"--allow-urls", 0, NULL,
     "accept http:// and https:// operands (at most 16 MiB, 3 redirects, 30 s each);\n"
     "default off"},
    {"--jsonl", 'o', "FILE", "write the JSON lines to FILE instead of standard output"},
    {"--annotate", 'a', "OUT",
     "draw masks, boxes and labels: OUT.png or OUT.jpg for one image, else a directory\n"
     "(created if missing) receiving one file per image, named after it (.png, or .jpg\n"
     "for JPEG inputs; -1, -2, ... added where names would collide)"},
    {"--raw-out", 0, "FILE", "the last image's network input and outputs as safetensors"},
    {"--overwrite", 0, NULL, "replace existing output files (default: refuse before any work)"},
    DEVICE_OPTS,
    {"--help", 'h', NULL, "this help"},
    {NULL, 0, NULL, NULL},
};

const cli_command cli_cmd_predict = {
    "predict",
    "predict -m MODEL [options] IMAGE...",
    "Segments still images: one JSON document per image on standard output, one line each\n"
    "(Roboflow's response with the roboflow preset; with several images every line also\n"
    "carries \"source\": the image it belongs to). A bad image is reported on standard error\n"
    "and the next one is processed; the exit status is 1 when any image failed.\n"
    "\n"
    "IMAGE is a file (JPEG, PNG, BMP, WebP or TIFF, recognised by content), a directory\n"
    "(its images, by extension, sorted by name), a quoted glob pattern (\"frames/*.jpg\"),\n"
    "`-` for one image read from standard input, or a URL with --allow-urls.",
    predict_opts,
    SIZES_NOTE,
};

static const cli_opt video_opts[] = {
    MODEL_OPTS,
    {"--source", 's', "SRC", "a video source (repeatable; the same as operands)"},
    {"--jsonl", 'o', "FILE", "the JSON lines (one per frame, with source and frame_id), `-` for standard output"},
    {"--annotate", 'a', "OUT",
     "annotated video: OUT.mp4 (also .mkv .mov .m4v .avi .y4m), or with several sources a\n"
     "directory (created if missing) receiving SOURCE-NAME.mp4 per source"},
    {"--preset", 0, "NAME", "roboflow, rfdetr or rfdetr-1.4; default roboflow"},
    {"--confidence", 'c', "C", "a fraction (0.4) or a percentage (40%); default 0.4 (roboflow), 0.5 (rfdetr presets)"},
    {"--threshold", 0, "C", "the same as --confidence"},
    {"--format", 0, "FMT", "masks as polygon or rle; default polygon"},
    {"--clip-boxes", 0, NULL, "clamp boxes to the frame (roboflow preset); default off"},
    {"--track", 't', NULL,
     "give detections a tracker_id (ByteTrack with supervision's defaults: activation\n"
     "0.25, matching 0.8, buffer 30 frames); detections the tracker does not confirm are\n"
     "left out, as supervision's update_with_detections does; default off"},
    {"--track-buffer", 0, "N", "frames a lost track is kept for re-identification; default 30"},
    {"--live", 0, NULL,
     "always take the newest frame, dropping the ones that arrive while a frame is being\n"
     "processed (counted); default for cameras and network streams"},
    {"--no-live", 0, NULL, "process every frame of cameras and streams too"},
    {"--max-fps", 0, "F", "process at most F frames per second per source; default unlimited"},
    {"--batch", 'b', "B", "frames per forward pass; default 1, or the number of sources"},
    {"--max-frames", 'n', "N", "stop after N frames of each source; default all"},
    {"--max-megapixels", 0, "N", "refuse frames larger than N megapixels; default 100"},
    {"--overwrite", 0, NULL, "replace existing output files (default: refuse before any work)"},
    {"--quiet", 'q', NULL, "no progress line"},
    DEVICE_OPTS,
    {"--help", 'h', NULL, "this help"},
    {NULL, 0, NULL, NULL},
};

const cli_command cli_cmd_video = {
    "video",
    "video -m MODEL [options] SOURCE... (--jsonl FILE | --annotate OUT)",
    "Runs video sources through the whole pipeline, frame by frame, and writes a Roboflow\n"
    "response per frame as JSON Lines (each with \"source\", \"source_id\" and \"frame_id\", the\n"
    "frame's index in its source) and/or an annotated video. Several sources are read\n"
    "together and their frames batched into one forward pass.\n"
    "\n"
    "SOURCE is a video file, `-` (standard input), an FFmpeg URL (http://, https://,\n"
    "rtsp://, rtmp://, tcp://, udp://, srt://, pipe:N), or a camera (/dev/videoN, or N for\n"
    "/dev/videoN) where the build has libavdevice.\n"
    "\n"
    "SIGINT or SIGTERM stops reading, finishes the frames in flight, closes the outputs\n"
    "(a playable video, whole JSON lines), prints the summary and exits 130 or 143.\n"
    "A second signal ends the process at once.",
    video_opts,
    SIZES_NOTE,
};

static const cli_opt bench_opts[] = {
    MODEL_OPTS,
    DEVICE_OPTS,
    {"--source", 0, "SRC",
     "end to end from frames to JSON: a video file, a .y4m file, or synthetic:WxH;\n"
     "default: the network alone on a random input"},
    {"--preset", 0, "NAME", "with --source: roboflow, rfdetr or rfdetr-1.4; default roboflow"},
    {"--format", 0, "FMT", "with --source: polygon or rle; default polygon"},
    {"--batch", 0, "B", "frames per forward pass; default 1"},
    {"--frames", 0, "N", "timed batches; default 20"},
    {"--warmup", 0, "N", "untimed batches first; default 2 (network), 4 (--source)"},
    {"--threads", 0, "T", "CPU threads; default 0 (OpenMP's default)"},
    {"--inflight", 0, "N", "with --source: batches in flight, 1 or 2; default 2"},
    {"--workers", 0, "N", "with --source: threads building the JSON; default 0 (the main thread)"},
    {"--decode-frames", 0, "N", "with --source: frames decoded up front and cycled; default 64"},
    {"--sessions", 0, "N",
     "with --source: N streams side by side, each its own session of the one model\n"
     "(two batches in flight each); total frames/s and the device memory they hold;\n"
     "default 0 (one stream)"},
    {"--help", 'h', NULL, "this help"},
    {NULL, 0, NULL, NULL},
};

const cli_command cli_cmd_bench = {
    "bench",
    "bench (--model MODEL | --random-weights SIZE) [options]",
    "Measures latency and throughput: the network alone, or with --source the whole path\n"
    "from decoded frames to the Roboflow JSON. Prints frames/s, latency p50/p99, a\n"
    "per-stage breakdown and one JSON line with the same figures.",
    bench_opts,
    SIZES_NOTE,
};

static const cli_opt serve_opts[] = {
    {"--model", 'm', "MODEL[:ID]",
     "a model to serve (repeatable); ID is the model_id clients send, or dataset/version;\n"
     "default ID: the file name without extension (or the size name)"},
    {"--random-weights", 0, "SIZE[:ID]", "a random-weights model to serve (repeatable)"},
    {"--host", 0, "H", "address to listen on; default 127.0.0.1"},
    {"--port", 0, "P", "port; default 9001 (0: any free port)"},
    {"--device", 0, "DEV",
     "cpu, cuda, cuda:N, or cuda:all (one session per GPU for every model); default cpu"},
    PRECISION_OPT,
    SESSION_THREADS_OPT,
    {"--max-batch", 0, "B", "images batched into one forward pass; default 4"},
    {"--batch-wait-ms", 0, "MS", "time a batch waits to fill; default 5"},
    {"--queue", 0, "FRAMES", "images accepted per model at once before requests get 503; default 32"},
    {"--deadline-ms", 0, "MS", "a request's time limit, from its headers to its answer; default 30000"},
    {"--api-key", 0, "KEY", "every inference and registry call must carry KEY (also RFSEG_API_KEY); default none"},
    {"--header-timeout", 0, "S", "the request head must arrive whole within S seconds; default 10"},
    {"--body-timeout", 0, "S", "the request body must arrive whole within S seconds; default 30"},
    {"--client-timeout", 0, "S", "a connection silent this long is closed; default 15"},
    {"--max-connections", 0, "N", "connections from all clients; default 256"},
    {"--max-client-connections", 0, "N", "connections from one client address (0: no limit); default 64"},
    {"--max-body-mb", 0, "MB", "request body size limit; default 32"},
    {"--max-inflight-mb", 0, "MB", "request bodies held at once; default 512"},
    {"--memory-budget-mb", 0, "MB", "decoded images held at once, all requests; default 2048"},
    {"--memory-wait-ms", 0, "MS", "how long a request may wait for the memory budget; default 5000"},
    MAX_IMAGE_MB_OPT,
    MAX_PIXELS_OPT,
    {"--max-images", 0, "N", "images in one request; default 16"},
    {"--allow-urls", 0, NULL, "fetch image URLs clients send (https only, public hosts); default off"},
    {"--allow-non-https-urls", 0, NULL, "with --allow-urls: http:// too; default off"},
    {"--allow-urls-without-fqdn", 0, NULL,
     "with --allow-urls: literal IP addresses and names that are not fully qualified; default off"},
    {"--url-allow-list", 0, "LIST",
     "comma-separated hosts, addresses and CIDR ranges: only these are fetched (and may be\n"
     "private); default none"},
    {"--url-deny-list", 0, "LIST", "the same syntax: never fetched; default none"},
    {"--max-url-redirects", 0, "N", "redirects followed, each checked like the first URL; default 3"},
    {"--help", 'h', NULL, "this help"},
    {NULL, 0, NULL, NULL},
};

const cli_command cli_cmd_serve = {
    "serve",
    "serve --model MODEL[:ID]... [options]",
    "Roboflow-compatible HTTP API (inference_sdk v1 and v0): POST\n"
    "/infer/instance_segmentation, POST /{dataset}/{version}, /model/registry, /model/add,\n"
    "/model/remove, /model/clear, GET /info /healthz /metrics, and the Open Inference\n"
    "Protocol under /v2 (docs/serve.md). Concurrent requests are batched onto one session\n"
    "per model. Serves until SIGINT or SIGTERM, then finishes the requests it accepted.",
    serve_opts,
    SIZES_NOTE,
};

static const cli_opt worker_opts[] = {
    {"--redis", 0, "URL",
     "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]; default $RFSEG_REDIS_URL, else\n"
     "redis://127.0.0.1:6379"},
    {"--model", 'm', "MODEL[:ID]",
     "a model (repeatable); ID is the `model` field of jobs; default ID: the file name\n"
     "without extension (or the size name); jobs without `model` go to the first"},
    {"--random-weights", 0, "SIZE[:ID]", "a random-weights model (repeatable)"},
    {"--device", 0, "DEV",
     "cpu, cuda, cuda:N, cuda:N,M,... or cuda:all (one session per GPU for every model);\n"
     "default cpu"},
    PRECISION_OPT,
    SESSION_THREADS_OPT,
    {"--jobs", 0, "STREAM", "the jobs stream; default rfseg:jobs"},
    {"--group", 0, "G", "the consumer group; default rfseg"},
    {"--results", 0, "STREAM", "the results stream; default rfseg:results"},
    {"--consumer", 0, "NAME", "this worker's consumer name; default HOST:PID"},
    {"--max-batch", 0, "B", "jobs read at once and frames per forward pass; default 4"},
    {"--batch-wait-ms", 0, "MS", "time a forward batch waits to fill; default 5"},
    {"--inflight", 0, "N", "batches read and not yet answered; default 2 per session (CPU), one per CPU core (CUDA)"},
    {"--block-ms", 0, "MS", "XREADGROUP BLOCK time; default 1000"},
    {"--claim-idle-ms", 0, "T", "pending jobs idle longer than T are claimed (XAUTOCLAIM); default 60000"},
    {"--max-attempts", 0, "N", "deliveries before a job gets an error result; default 3"},
    {"--results-maxlen", 0, "N", "results stream kept at about N entries (MAXLEN ~); default 100000"},
    {"--delete-jobs", 0, NULL, "delete answered jobs from the jobs stream (XDEL); default off"},
    {"--memory-budget-mb", 0, "MB", "decoded images held at once; default 2048"},
    MAX_PIXELS_OPT,
    MAX_IMAGE_MB_OPT,
    {"--metrics-port", 0, "P", "Prometheus text at http://HOST:P/metrics; default none (0)"},
    {"--metrics-host", 0, "H", "address of the metrics port; default 127.0.0.1"},
    {"--log-every", 0, "S", "counters in the log every S seconds (0: only at exit); default 60"},
    {"--help", 'h', NULL, "this help"},
    {NULL, 0, NULL, NULL},
};

const cli_command cli_cmd_worker = {
    "worker",
    "worker --redis redis://HOST:PORT[/DB] --model MODEL[:ID]... [options]",
    "Takes jobs (fields id, image, model, confidence, format, class_filter) from a Redis\n"
    "stream with a consumer group, batches them onto one session per device and adds each\n"
    "result (id, entry, status, json or error, worker, ms) to a results stream, acknowledging\n"
    "the job in the same MULTI/EXEC; claims the jobs of workers that died (docs/scale-out.md).\n"
    "Runs until SIGINT or SIGTERM, then answers the jobs it read and exits 0.",
    worker_opts,
    SIZES_NOTE,
};

static const cli_command *const commands[] = {&cli_cmd_info,  &cli_cmd_predict, &cli_cmd_video,  &cli_cmd_bench,
                                              &cli_cmd_serve, &cli_cmd_convert, &cli_cmd_worker};

const cli_command *cli_command_find(const char *name) {
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(commands[i]->name, name)) return commands[i];
    return NULL;
}

/* Prints text with every line indented by `indent` spaces after the first. */
static void put_lines(FILE *f, const char *text, int indent) {
    for (const char *s = text; *s; s++) {
        fputc(*s, f);
        if (*s == '\n' && s[1]) fprintf(f, "%*s", indent, "");
    }
}

/* Prints text reflowed into lines of at most `width` columns, the first starting at
 * column `col`, the others indented to `indent`. */
static void put_wrapped(FILE *f, const char *text, int col, int indent, int width) {
    const char *s = text;
    int at = col, first = 1;
    while (*s) {
        while (*s == ' ' || *s == '\n') s++;
        size_t n = strcspn(s, " \n");
        if (!n) break;
        if (!first && at + 1 + (int)n > width) {
            fprintf(f, "\n%*s", indent, "");
            at = indent;
        } else if (!first) {
            fputc(' ', f);
            at++;
        }
        fwrite(s, 1, n, f);
        at += (int)n;
        s += n;
        first = 0;
    }
}

#define HELP_COL 28
#define HELP_WIDTH 80

void cli_help_print(FILE *f, const cli_command *c) {
    fputs("usage: rfseg ", f);
    put_lines(f, c->synopsis, 13);
    fputs("\n\n", f);
    fputs(c->about, f);
    fputs("\n\noptions:\n", f);
    for (const cli_opt *o = c->opts; o->name; o++) {
        char head[96];
        int n;
        if (o->short_name)
            n = snprintf(head, sizeof head, "  -%c, %s%s%s", o->short_name, o->name, o->arg ? " " : "",
                         o->arg ? o->arg : "");
        else n = snprintf(head, sizeof head, "      %s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        fputs(head, f);
        if (n + 2 > HELP_COL) fprintf(f, "\n%*s", HELP_COL, "");
        else fprintf(f, "%*s", HELP_COL - n, "");
        put_wrapped(f, o->help, HELP_COL, HELP_COL, HELP_WIDTH);
        fputc('\n', f);
    }
    if (c->notes) {
        fputc('\n', f);
        fputs(c->notes, f);
    }
}

void cli_usage_print(FILE *f) {
    fputs("usage:\n", f);
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
        if (commands[i] == &cli_cmd_worker) continue; /* last, with its guide */
        const char *s = commands[i]->synopsis, *nl = strchr(s, '\n');
        fprintf(f, "  rfseg %.*s\n", nl ? (int)(nl - s) : (int)strlen(s), s);
    }
    fputs("  rfseg help COMMAND          (or rfseg COMMAND --help)\n"
          "  rfseg --version\n"
          "  rfseg worker --redis redis://HOST:PORT --model MODEL[:ID]... [options]  (docs/scale-out.md)\n", f);
}
