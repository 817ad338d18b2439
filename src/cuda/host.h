/* host.h - the host-side loops of the device pipeline (pipeline.cu) that run on several
 * CPU threads: staging the frames into pinned memory, unpacking the bit-packed mask
 * rectangles into result bytes. Plain C compiled with the library's C flags (OpenMP), in
 * every build (nothing here needs CUDA). */
#ifndef RFS_CUDA_HOST_H
#define RFS_CUDA_HOST_H

#ifdef __cplusplus
extern "C" {
#endif

#include "rfseg.h"

#include <stddef.h>
#include <stdint.h>

/* Copies n frames of w x h (any stride) packed (stride 3w) into dst, back to back. */
void rfs_pipe_stage_frames(uint8_t *dst, const rfs_image *frames, int n, int w, int h);

/* One packed rectangle: h rows of ceil(w/32) words (bit i of word k = pixel 32k + i),
 * to be written as w*h bytes of 0/1 at dst. */
typedef struct rfs_unpack_job {
    uint8_t *dst;
    const uint32_t *words;
    int w, h;
} rfs_unpack_job;

/* Runs the jobs; pixels: their total (decides whether threads are worth starting). */
void rfs_pipe_unpack(const rfs_unpack_job *jobs, int n, size_t pixels);

#ifdef __cplusplus
}
#endif
#endif
