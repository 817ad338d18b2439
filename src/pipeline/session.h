/* session.h - the public rfs_session: a backend's network state (model/backend.h) plus
 * the pipeline's per-session scratch (predict.c) and stage times. */
#ifndef RFS_PIPELINE_SESSION_H
#define RFS_PIPELINE_SESSION_H

#include "model/backend.h"

typedef struct rfs_pred_state rfs_pred_state;

struct rfs_session {
    const rfs_model *m;
    rfs_session_opts o;
    rfs_net *net;          /* the backend: n->ops, host input and outputs */
    rfs_pred_state *pred;  /* pre/post-processing scratch and batches in flight (predict.c) */
    rfs_stage_times times;
};

/* Releases the prediction scratch (predict.c). */
void rfs_pred_state_free(rfs_pred_state *ps);

#endif
