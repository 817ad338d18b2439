/* bytetrack.h - multi-object tracking by detection: ByteTrack as supervision implements it.
 * The tracker is public (rfseg.h, "tracking"); this header adds the assignment solver the
 * tests check on its own.
 *
 * The algorithm, with the choices of supervision's sv.ByteTrack, so the ids equal what
 * `tracker.update_with_detections(detections)` assigns:
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
 *     optimal assignment); detections without one are removed from the result.
 *
 * Pure C, double precision, no allocation once the tracker has seen its largest frame.
 */
#ifndef RFS_TRACK_BYTETRACK_H
#define RFS_TRACK_BYTETRACK_H

#include "rfseg.h"

/* Optimal assignment of a rows x cols cost matrix (row-major, finite): col_of_row[r] is the
 * column of row r, or -1 when rows > cols leaves it out. The shortest augmenting path
 * algorithm (Crouse 2016) with scipy.optimize.linear_sum_assignment's tie rules. */
rfs_status rfs_assign(int rows, int cols, const double *cost, int *col_of_row);

#endif
