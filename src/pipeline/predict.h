/* predict.h - internals of rfs_predict shared with the session and the CLI. */
#ifndef RFS_PIPELINE_PREDICT_H
#define RFS_PIPELINE_PREDICT_H

#include "rfseg.h"

/* Releases the prediction scratch a session keeps (s->pred). */
void rfs_pred_state_free(void *pred);
/* rfs_predict with the network's outputs given (raw: n images, rfs_raw layout) instead of
 * computed: the pre-processing geometry, selection, boxes and masks as rfs_predict does
 * them. On a CUDA session the device pipeline runs with raw in place of the network, so
 * tests can feed both paths identical outputs. */
rfs_status rfs_predict_raw(rfs_session *s, const rfs_image *frames, int n,
                           const rfs_predict_opts *o, const rfs_raw *raw, rfs_result *results);
/* The preprocessed input of the last rfs_predict call: (batch, 3, R, R) float32. */
const float *rfs_session_input(const rfs_session *s);

#endif
