/* lab.h - test and benchmark hooks into the library's internals. Not part of the API:
 * only tests/ and dev/ include this; tools/, src/serve/ and everything else use
 * include/rfseg.h. */
#ifndef RFS_LAB_H
#define RFS_LAB_H

#include "rfseg.h"

/* rfs_predict with the network's outputs given (raw: n images, rfs_raw layout) instead of
 * computed: the pre-processing geometry, selection, boxes and masks as rfs_predict does
 * them. On a CUDA session the device pipeline runs with raw in place of the network, so
 * tests can feed both paths identical outputs. */
rfs_status rfs_predict_raw(rfs_session *s, const rfs_image *frames, int n,
                           const rfs_predict_opts *o, const rfs_raw *raw, rfs_result *results);

/* The preprocessed input of the last host-pipeline call: (batch, 3, R, R) float32. */
const float *rfs_session_input(const rfs_session *s);

/* The backend state of a session (tests that reach into a backend). */
struct rfs_net *rfs_session_net(rfs_session *s);

/* CUDA sessions, tests: intermediates of the last forward on lane 0 as host floats:
 * "input" (batch*3*R*R, the network input, e.g. as the device pipeline pre-processed it),
 * "ref" (batch*nq*4 decoder reference boxes), "order" (batch*nq selected tokens), "p4"
 * (batch*G*G*C projector output), "enc_cls" (batch*G*G*K two-stage class logits). */
rfs_status rfs_cuda_read_debug(rfs_session *s, const char *name, float *dst, int batch);
/* CUDA sessions, tests: the two-stage selection of the following forwards takes the tokens
 * order[b * nq + i] (batch*nq, as "order" reads them) instead of ranking by score, on every
 * lane (the CPU's rfs_cpu_net.force_order); NULL ranks by score again. This compares two
 * precisions at one query assignment when their scores tie within the precision's noise. */
rfs_status rfs_cuda_force_order(rfs_session *s, const int *order, int batch);

#endif
