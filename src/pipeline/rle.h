/* rle.h - COCO run-length encoding of a frame-size binary mask (the `rle` of Roboflow's
 * response): the counts `pycocotools.mask.encode(np.asfortranarray(mask))["counts"]`
 * gives, i.e. column-major (Fortran order) run lengths starting with a run of zeros
 * (possibly empty), compressed into pycocotools' LEB128-like ASCII string.
 *
 *     rfs_rle r = {0};
 *     rfs_rle_counts(&r, &mask, W, H);                      // uncompressed runs
 *     char *s = malloc(rfs_rle_string_bound(&r));
 *     size_t len = rfs_rle_string(s, rfs_rle_string_bound(&r), &r);
 *     rfs_rle_free(&r);
 */
#ifndef RFS_PIPELINE_RLE_H
#define RFS_PIPELINE_RLE_H

#include "rfseg.h"
#include <stddef.h>
#include <stdint.h>

/* Uncompressed counts (growable; zero-initialise) plus internal scratch. */
typedef struct rfs_rle {
    uint32_t *counts;
    size_t n, cap;
    void *scratch; /* internal: transition events */
    size_t scratch_cap;
} rfs_rle;

void rfs_rle_free(rfs_rle *r);

/* Run lengths of the mask m (rectangle form, nonzero = set) inside a frame_w x frame_h
 * frame, in column-major order. The rectangle must lie inside the frame. */
rfs_status rfs_rle_counts(rfs_rle *r, const rfs_mask *m, int frame_w, int frame_h);

/* Compressed counts string (pycocotools rleToString). snprintf semantics: writes at most
 * cap bytes including the NUL, returns the full length without the NUL. */
size_t rfs_rle_string(char *dst, size_t cap, const rfs_rle *r);
/* Bytes that always suffice for rfs_rle_string (NUL included). */
size_t rfs_rle_string_bound(const rfs_rle *r);

/* The same string ready to sit between JSON quotes: the alphabet ('0'..'o') contains one
 * character JSON escapes, the backslash, which is written as two. Same semantics; bytes
 * that always suffice: rfs_rle_string_json_bound. */
size_t rfs_rle_string_json(char *dst, size_t cap, const rfs_rle *r);
size_t rfs_rle_string_json_bound(const rfs_rle *r);

/* Parses a compressed counts string back into r (pycocotools rleFrString); fails on a
 * malformed string or when the counts do not add up to total (when total > 0). */
rfs_status rfs_rle_parse(rfs_rle *r, const char *s, size_t len, uint64_t total);

#endif
