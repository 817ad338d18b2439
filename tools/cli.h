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

/* Restarts the process with OMP_WAIT_POLICY=passive unless the variable is set. */
void cli_prefer_passive_omp(char **argv);

/* Logging to stderr; RFSEG_LOG=debug for more. */
void cli_init_logging(void);

/* Model from --model (file or official size, downloaded once) or --random-weights SIZE;
 * prints the error and returns NULL on failure. */
rfs_model *cli_load_model(const char *model, const char *random_size);

/* Option helpers: *i is the index of the option; they consume its value. Print an error
 * and return 0 on a missing or malformed value. */
int cli_str(int argc, char **argv, int *i, const char **out);
int cli_int(int argc, char **argv, int *i, int *out, int lo, int hi);
int cli_float(int argc, char **argv, int *i, float *out, float lo, float hi);

/* Milliseconds since an arbitrary origin, monotonic. */
double cli_now_ms(void);

#endif
