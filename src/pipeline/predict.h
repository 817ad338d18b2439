/* predict.h - internals of rfs_predict shared with the session and the CLI. */
#ifndef RFS_PIPELINE_PREDICT_H
#define RFS_PIPELINE_PREDICT_H

#include "rfseg.h"

/* Releases the prediction scratch a session keeps (s->pred). */
void rfs_pred_state_free(void *pred);
/* The preprocessed input of the last rfs_predict call: (batch, 3, R, R) float32. */
const float *rfs_session_input(const rfs_session *s);

#endif
