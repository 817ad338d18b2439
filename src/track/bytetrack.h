/* bytetrack.h - multi-object tracking by detection: ByteTrack as supervision implements it.
 *
 * rfs_tracker_update takes one frame's detections (an rfs_result) and gives each a
 * tracker_id that stays the same for the same object from frame to frame. The algorithm
 * is ByteTrack (Zhang et al., 2022) with the choices of supervision's sv.ByteTrack, so the
 * ids equal what `tracker.update_with_detections(detections)` assigns:
 *
 *   - a constant-velocity Kalman filter on (center x, center y, aspect ratio, height);
 *   - first association: confirmed and lost tracks (predicted) against detections scoring
 *     above the activation threshold, cost 1 - IoU x score, optimal assignment (the
 *     shortest augmenting path algorithm, with the tie rules of scipy's
 *     linear_sum_assignment), matches up to cost `matching_threshold`;
 *   - second association: the still unmatched tracked tracks against detections scoring
 *     in (0.1, activation), cost 1 - IoU, up to 0.5; tracks left unmatched become lost;
 *   - unconfirmed tracks (started on the previous frame) against the remaining
 *     detections, up to 0.7; unmatched ones are removed; remaining detections scoring at
 *     least activation + 0.1 start new tracks (confirmed on their next match, or at
 *     once on the first frame);
 *   - lost tracks are forgotten after frame_rate / 30 x lost_buffer frames; a tracked and
 *     a lost track overlapping with IoU > 0.95 are merged, keeping the older;
 *   - each detection gets the id of the output track its box overlaps best (IoU >= 0.5,
 *     optimal assignment); detections without one are removed from the result, as
 *     supervision returns only detections with a tracker id (keep_unmatched keeps them
 *     with tracker_id -1).
 *
 * Ids count from 1 per tracker; one tracker per video stream. Pure C, double precision,
 * no allocation once the tracker has seen its largest frame.
 *
 *     rfs_tracker *t;
 *     rfs_tracker_create(&t, NULL);                 // supervision's defaults
 *     for (each frame) {
 *         rfs_predict(s, &img, 1, &po, &res);
 *         rfs_tracker_update(t, &res);              // res.dets[i].tracker_id
 *     }
 *     rfs_tracker_free(t);
 */
#ifndef RFS_TRACK_BYTETRACK_H
#define RFS_TRACK_BYTETRACK_H

#include "rfseg.h"

typedef struct rfs_tracker rfs_tracker;

typedef struct rfs_tracker_opts {
    float activation_threshold; /* track_activation_threshold: 0.25 */
    int lost_buffer;            /* lost_track_buffer, frames: 30 */
    float matching_threshold;   /* minimum_matching_threshold: 0.8 */
    double frame_rate;          /* frame_rate: 30 (scales lost_buffer by frame_rate / 30) */
    int min_consecutive_frames; /* minimum_consecutive_frames: 1 */
    int keep_unmatched;         /* 1: keep detections without an id (tracker_id -1) */
} rfs_tracker_opts;

/* supervision's sv.ByteTrack() defaults. */
rfs_tracker_opts rfs_tracker_defaults(void);

/* o may be NULL (the defaults). Bad options are RFS_ERR_ARG. */
rfs_status rfs_tracker_create(rfs_tracker **out, const rfs_tracker_opts *o);
/* One frame: sets r->dets[i].tracker_id and removes the detections that got none (unless
 * keep_unmatched), keeping the order of the others. */
rfs_status rfs_tracker_update(rfs_tracker *t, rfs_result *r);
/* Forgets every track; ids start again from 1. */
void rfs_tracker_reset(rfs_tracker *t);
void rfs_tracker_free(rfs_tracker *t);

/* The core on plain arrays (tests, other detection sources): n boxes (x0, y0, x1, y1) and
 * scores in; ids[n] out (-1: none). */
rfs_status rfs_tracker_update_boxes(rfs_tracker *t, const float (*boxes)[4], const float *scores,
                                    int n, int *ids);

/* Optimal assignment of a rows x cols cost matrix (row-major, finite): col_of_row[r] is the
 * column of row r, or -1 when rows > cols leaves it out. The shortest augmenting path
 * algorithm (Crouse 2016) with scipy.optimize.linear_sum_assignment's tie rules. */
rfs_status rfs_assign(int rows, int cols, const double *cost, int *col_of_row);

#endif
