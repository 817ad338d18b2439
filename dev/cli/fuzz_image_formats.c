/* fuzz_image_formats - a libFuzzer harness over rfs_image_decode used to shake the WebP and
 * TIFF decoders (a dev tool; the project's fuzz targets live in tests/fuzz). With seeds
 * made by PIL (WebP lossy/lossless/alpha, TIFF raw/LZW/Deflate/PackBits/JPEG/gray/1-bit/
 * palette/orientation 6) in seeds/:
 *   clang -std=c11 -D_GNU_SOURCE -O1 -g -fsanitize=fuzzer,address,undefined -Iinclude -Isrc \
 *     -DRFS_HAVE_WEBP=1 -DRFS_HAVE_TIFF=1 $(pkg-config --cflags libpng libjpeg libwebp libtiff-4) \
 *     -o fuzz_img dev/cli/fuzz_image_formats.c src/io/image.c src/util/err.c \
 *     $(pkg-config --libs libpng libjpeg libwebp libtiff-4) -lm
 *   ./fuzz_img corpus seeds -max_total_time=120 -max_len=20000 -rss_limit_mb=1024 */
#include "rfseg.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    static rfs_frame f;
    rfs_decode_opts o = {.max_pixels = 4000000};
    rfs_image_decode(&f, data, n, &o);
    return 0;
}
