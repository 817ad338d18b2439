/* cmd_predict.c - `rfseg predict`: images in, JSON out (filled in with the pipeline). */
#include "cli.h"

int cmd_predict(int argc, char **argv) {
    fprintf(stderr, "rfseg predict: not available yet\n");
    return 1;
}
