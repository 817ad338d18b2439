/* result.h - the storage behind a public rfs_result: the detection array and one pool for
 * the mask bytes of all detections, reused from call to call (no allocation once warm). */
#ifndef RFS_PIPELINE_RESULT_H
#define RFS_PIPELINE_RESULT_H

#include "rfseg.h"

#include <stddef.h>
#include <stdint.h>

struct rfs_result_store {
    int preset;      /* the rfs_preset that computed the detections (the JSON's class names) */
    int cap;         /* detections r->dets can hold */
    uint8_t *pool;   /* mask bytes */
    size_t pool_cap;
};

/* Makes room for n detections in r->dets (contents kept). */
rfs_status rfs_result_reserve(rfs_result *r, int n);
/* The preset the detections were computed with: rfs_response_rfdetr names the classes as
 * that preset's rfdetr release does. Unset: RFS_PRESET_ROBOFLOW (0). */
rfs_status rfs_result_set_preset(rfs_result *r, int preset);
int rfs_result_preset(const rfs_result *r);

/* Makes the mask pool at least `bytes` long (contents kept; the pool may move, so mask
 * pointers into it are set after the last call) and returns it, or NULL (no memory). */
uint8_t *rfs_result_pool(rfs_result *r, size_t bytes);

#endif
