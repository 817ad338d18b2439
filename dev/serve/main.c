/* main.c - stand-alone `serve` driver until tools/rfseg.c dispatches to cmd_serve:
 * dev/serve/build.sh builds build/dev/rfseg-serve, which takes serve's options. */
#include "cli.h"

int cmd_serve(int argc, char **argv);

int main(int argc, char **argv) {
    cli_init_logging();
    return cmd_serve(argc, argv);
}
