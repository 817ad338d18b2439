/* result.h - the storage behind a public rfs_result: the detection array and one pool for
 * the mask bytes of all detections, reused from call to call (no allocation once warm). */
#ifndef RFS_PIPELINE_RESULT_H
#define RFS_PIPELINE_RESULT_H

#include "rfseg.h"

#include <stddef.h>
#include <stdint.h>

struct rfs_result_store {
    int cap;         /* detections r->dets can hold */
    uint8_t *pool;   /* mask bytes */
    size_t pool_cap;
};

/* Makes room for n detections in r->dets (contents kept). */
rfs_status rfs_result_reserve(rfs_result *r, int n);
/* Makes the mask pool at least `bytes` long (contents kept; the pool may move, so mask
 * pointers into it are set after the last call) and returns it, or NULL (no memory). */
uint8_t *rfs_result_pool(rfs_result *r, size_t bytes);

#endif
