/* rfseg - command line: info, predict, video, bench, serve. */
#include "rfseg.h"
#include <stdio.h>
int main(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "rfseg %s\n", RFSEG_VERSION);
    return 0;
}
