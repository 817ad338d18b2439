"""A small numpy reference of ByteTrack as supervision's sv.ByteTrack implements it, written
from the algorithm's description (src/track/bytetrack.h) for tests/cli_track.py.

Numbers follow supervision's dtypes where they matter: detection boxes and scores are
float32 (as sv.Detections holds them), Kalman state and IoU are float64. The assignment is
the shortest augmenting path algorithm with scipy.optimize.linear_sum_assignment's tie
rules (checked against scipy itself when it is installed)."""
import numpy as np

NEW, TRACKED, LOST, REMOVED = range(4)
W_POS, W_VEL = 1.0 / 20, 1.0 / 160


def lsa(cost):
    """Optimal assignment of a 2-D cost array: (rows, cols) index arrays, rows ascending."""
    cost = np.asarray(cost, dtype=np.float64)
    nr, nc = cost.shape
    if nr == 0 or nc == 0:
        return np.zeros(0, int), np.zeros(0, int)
    transposed = nc < nr
    c = cost.T if transposed else cost
    c = c - c.min()
    nr, nc = c.shape
    u, v = np.zeros(nr), np.zeros(nc)
    path = np.full(nc, -1)
    col4row, row4col = np.full(nr, -1), np.full(nc, -1)
    for cur in range(nr):
        remaining = list(range(nc - 1, -1, -1))
        sr, sc = np.zeros(nr, bool), np.zeros(nc, bool)
        spc = np.full(nc, np.inf)
        min_val, i, sink = 0.0, cur, -1
        while sink == -1:
            index, lowest = -1, np.inf
            sr[i] = True
            for k, j in enumerate(remaining):
                r = min_val + c[i, j] - u[i] - v[j]
                if r < spc[j]:
                    path[j], spc[j] = i, r
                if spc[j] < lowest or (spc[j] == lowest and row4col[j] == -1):
                    lowest, index = spc[j], k
            min_val = lowest
            j = remaining[index]
            if row4col[j] == -1:
                sink = j
            else:
                i = row4col[j]
            sc[j] = True
            remaining[index] = remaining[-1]
            remaining.pop()
        u[cur] += min_val
        for r in range(nr):
            if sr[r] and r != cur:
                u[r] += min_val - spc[col4row[r]]
        v[sc] -= min_val - spc[sc]
        j = sink
        while True:
            r = path[j]
            row4col[j] = r
            col4row[r], j = j, col4row[r]
            if r == cur:
                break
    if transposed:
        order = np.argsort(col4row)
        return col4row[order], order
    return np.arange(nr), col4row


def linear_assignment(cost, thresh):
    """ByteTrack's matching: costs above thresh clamped to thresh + 1e-4, optimal assignment,
    pairs above thresh dropped. (matches [(row, col)], unmatched rows, unmatched cols)."""
    cost = np.array(cost, dtype=np.float64)
    if cost.size == 0:
        return [], list(range(cost.shape[0])), list(range(cost.shape[1]))
    cost[cost > thresh] = thresh + 1e-4
    rows, cols = lsa(cost)
    matches = [(int(r), int(c)) for r, c in zip(rows, cols) if cost[r, c] <= thresh]
    mr = {r for r, _ in matches}
    mc = {c for _, c in matches}
    return (matches, [r for r in range(cost.shape[0]) if r not in mr],
            [c for c in range(cost.shape[1]) if c not in mc])


def iou_matrix(a, b):
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(br - tl, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a[:, None] + area_b[None, :] - inter
    out = np.zeros_like(inter)
    np.divide(inter, union, out=out, where=union != 0)
    return np.nan_to_num(out)


class Track:
    def __init__(self, tlbr, score):
        tlbr = np.asarray(tlbr, dtype=np.float32)
        self.tlwh0 = np.array([tlbr[0], tlbr[1], tlbr[2] - tlbr[0], tlbr[3] - tlbr[1]], dtype=np.float32)
        self.score = np.float32(score)
        self.mean = self.cov = None
        self.state, self.activated = NEW, False
        self.tracklet_len = self.frame_id = self.start_frame = 0
        self.internal_id = self.external_id = -1

    def xyah0(self):
        t = self.tlwh0.copy()
        t[:2] += t[2:] / 2
        t[2] /= t[3]
        return t

    def tlbr(self):
        if self.mean is None:
            t = self.tlwh0.copy()
        else:
            t = self.mean[:4].copy()
            t[2] *= t[3]
            t[:2] -= t[2:] / 2
        t[2:] += t[:2]
        return t

    def initiate(self):
        z = self.xyah0().astype(np.float64)
        h = z[3]
        self.mean = np.r_[z, np.zeros(4)]
        sd = [2 * W_POS * h, 2 * W_POS * h, 1e-2, 2 * W_POS * h, 10 * W_VEL * h, 10 * W_VEL * h, 1e-5, 10 * W_VEL * h]
        self.cov = np.diag(np.square(sd))

    def predict(self):
        if self.state != TRACKED:
            self.mean[7] = 0
        h = self.mean[3]
        sd = [W_POS * h, W_POS * h, 1e-2, W_POS * h, W_VEL * h, W_VEL * h, 1e-5, W_VEL * h]
        F = np.eye(8)
        F[:4, 4:] = np.eye(4)
        self.mean = F @ self.mean
        self.cov = F @ self.cov @ F.T + np.diag(np.square(sd))

    def kalman_update(self, det):
        z = det.xyah0().astype(np.float64)
        h = self.mean[3]
        R = np.diag(np.square([W_POS * h, W_POS * h, 1e-1, W_POS * h]))
        H = np.eye(4, 8)
        S = H @ self.cov @ H.T + R
        K = np.linalg.solve(S, (self.cov @ H.T).T).T
        self.mean = self.mean + K @ (z - H @ self.mean)
        self.cov = self.cov - K @ S @ K.T


class ByteTrackRef:
    def __init__(self, activation=0.25, buffer=30, matching=0.8, frame_rate=30, min_frames=1):
        self.act = float(np.float32(activation))
        self.matching = float(np.float32(matching))
        self.det_thresh = self.act + 0.1
        self.max_lost = int(frame_rate / 30.0 * buffer)
        self.min_frames = min_frames
        self.frame = 0
        self.tracked, self.lost = [], []
        self.next_internal, self.next_external = 0, 1

    # -- track life -------------------------------------------------------------------
    def _activate(self, t):
        t.internal_id = self.next_internal
        self.next_internal += 1
        t.initiate()
        t.tracklet_len, t.state = 0, TRACKED
        if self.frame == 1:
            t.activated = True
        if self.min_frames == 1:
            t.external_id = self.next_external
            self.next_external += 1
        t.frame_id = t.start_frame = self.frame

    def _update(self, t, det):
        t.frame_id = self.frame
        t.tracklet_len += 1
        t.kalman_update(det)
        t.state = TRACKED
        if t.tracklet_len == self.min_frames:
            t.activated = True
            if t.external_id == -1:
                t.external_id = self.next_external
                self.next_external += 1
        t.score = det.score

    def _reactivate(self, t, det):
        t.kalman_update(det)
        t.tracklet_len, t.state, t.frame_id, t.score = 0, TRACKED, self.frame, det.score

    # -- helpers ----------------------------------------------------------------------
    @staticmethod
    def _dist(a, b, fuse=False):
        d = 1 - iou_matrix([t.tlbr() for t in a], [t.tlbr() for t in b])
        if fuse and d.size:
            d = 1 - (1 - d) * np.array([t.score for t in b])[None, :]
        return d

    @staticmethod
    def _join(a, b):
        seen, out = set(), []
        for t in a + b:
            if t.internal_id not in seen:
                seen.add(t.internal_id)
                out.append(t)
        return out

    @staticmethod
    def _sub(a, b):
        d = {t.internal_id: t for t in a}
        for t in b:
            d.pop(t.internal_id, None)
        return list(d.values())

    def update(self, boxes, scores):
        """boxes (N, 4) x0 y0 x1 y1, scores (N,): the tracker id of each detection (-1: none)."""
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        scores = np.asarray(scores, dtype=np.float32).reshape(-1)
        self.frame += 1
        hi = scores > self.act
        lo = np.logical_and(scores > 0.1, scores < self.act)
        dets = [Track(b, s) for b, s in zip(boxes[hi], scores[hi])]
        dets2 = [Track(b, s) for b, s in zip(boxes[lo], scores[lo])]
        unconfirmed = [t for t in self.tracked if not t.activated]
        confirmed = [t for t in self.tracked if t.activated]
        activated, refind, lost_new, removed = [], [], [], []

        pool = self._join(confirmed, self.lost)
        for t in pool:
            t.predict()
        matches, u_track, u_det = linear_assignment(self._dist(pool, dets, True), self.matching)
        for it, idet in matches:
            if pool[it].state == TRACKED:
                self._update(pool[it], dets[idet])
                activated.append(pool[it])
            else:
                self._reactivate(pool[it], dets[idet])
                refind.append(pool[it])

        r_tracked = [pool[i] for i in u_track if pool[i].state == TRACKED]
        matches, u_track2, _ = linear_assignment(self._dist(r_tracked, dets2), 0.5)
        for it, idet in matches:
            t = r_tracked[it]
            if t.state == TRACKED:
                self._update(t, dets2[idet])
                activated.append(t)
            else:
                self._reactivate(t, dets2[idet])
                refind.append(t)
        for it in u_track2:
            t = r_tracked[it]
            if t.state != LOST:
                t.state = LOST
                lost_new.append(t)

        remaining = [dets[i] for i in u_det]
        matches, u_unc, u_new = linear_assignment(self._dist(unconfirmed, remaining, True), 0.7)
        for it, idet in matches:
            self._update(unconfirmed[it], remaining[idet])
            activated.append(unconfirmed[it])
        for it in u_unc:
            unconfirmed[it].state = REMOVED
            removed.append(unconfirmed[it])
        for inew in u_new:
            t = remaining[inew]
            if t.score >= self.det_thresh:
                self._activate(t)
                activated.append(t)

        for t in self.lost:
            if self.frame - t.frame_id > self.max_lost:
                t.state = REMOVED
                removed.append(t)

        tracked = [t for t in self.tracked if t.state == TRACKED]
        tracked = self._join(tracked, activated)
        tracked = self._join(tracked, refind)
        lost = self._sub(self.lost, tracked)
        lost.extend(lost_new)
        lost = self._sub(lost, removed)
        d = self._dist(tracked, lost)
        dup_a, dup_b = set(), set()
        for a, b in zip(*np.where(d < 0.05)):
            ta = tracked[a].frame_id - tracked[a].start_frame
            tb = lost[b].frame_id - lost[b].start_frame
            if ta > tb:
                dup_b.add(b)
            else:
                dup_a.add(a)
        self.tracked = [t for i, t in enumerate(tracked) if i not in dup_a]
        self.lost = [t for i, t in enumerate(lost) if i not in dup_b]

        out = [t for t in self.tracked if t.activated]
        ids = [-1] * len(boxes)
        if out and len(boxes):
            cost = 1 - iou_matrix(boxes, [t.tlbr() for t in out])
            matches, _, _ = linear_assignment(cost, 0.5)
            for idet, itr in matches:
                ids[idet] = int(out[itr].external_id)
        return ids
