/* track_tool - the tracker on detections from standard input, for tests/cli_track.py.
 *
 *   track_tool [--buffer N] [--keep]   one frame per line: "x0 y0 x1 y1 score" repeated
 *                                      (an empty line: no detections); prints per frame the
 *                                      tracker ids, space separated, -1 for none
 *   track_tool --assign                lines "rows cols c00 c01 ..."; prints col_of_row
 */
#include "track/bytetrack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int assign_mode(void) {
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, stdin) > 0) {
        char *p = line, *end;
        int rows = (int)strtol(p, &end, 10);
        p = end;
        int cols = (int)strtol(p, &end, 10);
        p = end;
        if (rows < 0 || cols < 0 || rows > 4096 || cols > 4096) return 1;
        double *c = malloc(sizeof *c * ((size_t)rows * cols + 1));
        int *m = malloc(sizeof *m * ((size_t)rows + 1));
        for (int k = 0; k < rows * cols; k++) {
            c[k] = strtod(p, &end);
            p = end;
        }
        if (rfs_assign(rows, cols, c, m) != RFS_OK) {
            fprintf(stderr, "track_tool: %s\n", rfs_last_error());
            return 1;
        }
        for (int r = 0; r < rows; r++) printf(r ? " %d" : "%d", m[r]);
        printf("\n");
        free(c), free(m);
    }
    free(line);
    return 0;
}

int main(int argc, char **argv) {
    rfs_tracker_opts o = rfs_tracker_defaults();
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--assign")) return assign_mode();
        if (!strcmp(argv[i], "--buffer") && i + 1 < argc) o.lost_buffer = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--keep")) o.keep_unmatched = 1;
        else {
            fprintf(stderr, "usage: track_tool [--buffer N] [--keep] | --assign\n");
            return 2;
        }
    }
    rfs_tracker *t;
    if (rfs_tracker_create(&t, &o) != RFS_OK) {
        fprintf(stderr, "track_tool: %s\n", rfs_last_error());
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    int nb = 0, cb = 0;
    float(*boxes)[4] = NULL;
    float *scores = NULL;
    int *ids = NULL;
    while (getline(&line, &cap, stdin) > 0) {
        nb = 0;
        char *p = line, *end;
        for (;;) {
            float v[5];
            int k = 0;
            for (; k < 5; k++) {
                v[k] = strtof(p, &end);
                if (end == p) break;
                p = end;
            }
            if (k < 5) break;
            if (nb == cb) {
                cb = cb ? cb * 2 : 16;
                boxes = realloc(boxes, sizeof *boxes * (size_t)cb);
                scores = realloc(scores, sizeof *scores * (size_t)cb);
                ids = realloc(ids, sizeof *ids * (size_t)cb);
            }
            memcpy(boxes[nb], v, sizeof boxes[nb]);
            scores[nb++] = v[4];
        }
        if (rfs_tracker_update_boxes(t, (const float(*)[4])boxes, scores, nb, ids) != RFS_OK) {
            fprintf(stderr, "track_tool: %s\n", rfs_last_error());
            return 1;
        }
        for (int i = 0; i < nb; i++) printf(i ? " %d" : "%d", ids[i]);
        printf("\n");
    }
    free(line), free(boxes), free(scores), free(ids);
    rfs_tracker_free(t);
    return 0;
}
