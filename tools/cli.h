/* cli.h - shared pieces of the rfseg commands: option parsing, model resolution. */
#ifndef RFS_CLI_H
#define RFS_CLI_H

#include "rfseg.h"

#include <stdio.h>

int cmd_info(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_video(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_worker(int argc, char **argv);

/* Restarts the process with OMP_WAIT_POLICY=passive unless the variable is set. */
void cli_prefer_passive_omp(char **argv);

/* Logging to stderr; RFSEG_LOG=debug for more. */
void cli_init_logging(void);
/* The log callback behind it ("rfseg: LEVEL: message"; debug only with RFSEG_LOG=debug),
 * for the server's and the worker's own messages. */
void cli_log(void *user, rfs_log_level level, const char *msg);

/* --device of the commands that run one session per device (serve, worker): cpu, cuda and
 * cuda:N set *base (*out NULL, *n 0); cuda:all gives one session per usable GPU and, with
 * `lists`, cuda:N,M,... one per listed GPU (*out, *n; each a copy of *base). Prints
 * "rfseg CMD: why" and returns 0 on a bad value. */
int cli_session_devices(const char *cmd, const char *device, int lists, rfs_session_opts *base,
                        rfs_session_opts **out, int *n);

/* Model from --model (file or official size, downloaded once) or --random-weights SIZE;
 * prints the error and returns NULL on failure. */
rfs_model *cli_load_model(const char *model, const char *random_size);

/* Option helpers: *i is the index of the option; they consume its value. Print an error
 * and return 0 on a missing or malformed value. */
int cli_str(int argc, char **argv, int *i, const char **out);
int cli_int(int argc, char **argv, int *i, int *out, int lo, int hi);
int cli_float(int argc, char **argv, int *i, float *out, float lo, float hi);

/* Drawing detections (predict --annotate, video --annotate): an annotator plus label and
 * detection buffers that grow as needed and are reused from frame to frame. */
typedef struct cli_annot {
    rfs_annotator *an;
    rfs_annot_det *dets;
    char (*labels)[64];
    int cap;
} cli_annot;
/* Draws r's masks, boxes and labels on f (converted to BGR8 in place when it is RGB8),
 * naming classes as the preset reports them (rfs_class_name), with "#ID " before the name
 * of tracked detections. */
rfs_status cli_annotate(cli_annot *ca, rfs_frame *f, const rfs_result *r, const rfs_model *m,
                        rfs_preset preset);
void cli_annot_free(cli_annot *ca);

/* 1 when st is RFS_OK; else prints rfs_last_error() and returns 0 (option parsing). */
int cli_check(rfs_status st);

/* 1 when the file name part of path ends with one of exts (".png", ...; case ignored). */
int cli_has_ext(const char *path, const char *const *exts);

/* Milliseconds since an arbitrary origin, monotonic. */
double cli_now_ms(void);

#endif
