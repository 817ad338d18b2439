/* fuzz_image.c - libFuzzer target for the image decoders (make fuzz): JPEG (libjpeg, EXIF
 * orientation), PNG (libpng, eXIf) and BMP (own parser), through rfs_image_decode.
 *
 * The last input byte picks the options (bit 0: RGB output, bit 1: no EXIF orientation);
 * it is also part of the image, which every decoder tolerates as trailing data. The pixel
 * limit is 4 MP so that one input stays fast. A decoded frame must have the size it says
 * and be fully readable (every row is summed, so ASan sees any short buffer). */
#include "io/image.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static rfs_frame f; /* reused across inputs, as callers reuse frames */
    uint8_t flags = size ? data[size - 1] : 0;
    rfs_decode_opts o = {.rgb = flags & 1, .no_auto_orient = (flags >> 1) & 1, .max_pixels = 1u << 22};
    if (rfs_image_decode(&f, data, size, &o) == RFS_OK) {
        if (f.w <= 0 || f.h <= 0 || f.stride < 3 * f.w || (uint64_t)f.w * (uint64_t)f.h > o.max_pixels)
            abort();
        if (f.fmt != (o.rgb ? RFS_PIX_RGB8 : RFS_PIX_BGR8)) abort();
        unsigned sum = 0;
        for (int y = 0; y < f.h; y++)
            for (int x = 0; x < 3 * f.w; x++) sum += f.data[(size_t)y * f.stride + x];
        if (sum == 0xdeadbeef) abort(); /* keeps the loop */
    }
    if (size == 0) rfs_frame_free(&f);
    return 0;
}
