/* fuzz_tensorpath.c - libFuzzer target for opening checkpoints by path (make fuzz):
 * rfs_tensorfile_open on an in-memory file (fuzz_file.h), which takes the file-path
 * branches fuzz_tensorfile's memory API does not: the regular-file check and read of a
 * safetensors file, and libzip opening a .pth archive by name (pth.c's path reader,
 * which re-opens the archive to read each storage).
 *
 * On success every tensor of up to 1M elements is converted to float32. */
#include "fuzz_file.h"
#include "io/tensorfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file(data, size);
    rfs_tensorfile *f = NULL;
    if (rfs_tensorfile_open(&f, path) != RFS_OK) return 0;
    for (int i = 0; i < f->count; i++) {
        const rfs_tensor *t = &f->tensors[i];
        int64_t n = rfs_tensor_numel(t);
        if (n < 0) abort();
        if (rfs_tensorfile_find(f, t->name) != t) abort();
        if (n > (1 << 20)) continue;
        float *buf = malloc((size_t)(n ? n : 1) * sizeof *buf);
        if (buf && rfs_tensor_to_f32(t, buf) != RFS_OK) abort();
        free(buf);
    }
    rfs_value_int(f->args, "num_classes", 0);
    rfs_tensorfile_free(f);
    return 0;
}
