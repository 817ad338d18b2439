/* video_stream.c - a video through rfseg the way a service streams it: frames decoded on
 * the main thread while two batches are in flight (rfs_predict_submit / _collect), one
 * summary line per frame (frame id, detections, best class and score).
 *
 *     build/examples/video_stream MODEL VIDEO [cpu|cuda [BATCH]]
 *
 * On a CUDA session the device works on one batch while this loop decodes the next and
 * reads the results of the previous one; on the CPU the same loop runs each batch at its
 * submit. */
#include <rfseg.h>

#include <stdio.h>
#include <stdlib.h>

enum { MAX_BATCH = 64 };

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL VIDEO [cpu|cuda [BATCH]]\n", argv[0]);
        return 2;
    }
    rfs_session_opts so = rfs_session_defaults();
    if ((argc > 3 && rfs_session_opts_set(&so, "device", argv[3]) != RFS_OK) ||
        (argc > 4 && rfs_session_opts_set(&so, "max_batch", argv[4]) != RFS_OK)) {
        fprintf(stderr, "%s\n", rfs_last_error());
        return 2;
    }
    if (so.max_batch > MAX_BATCH) so.max_batch = MAX_BATCH;
    const int B = so.max_batch;
    rfs_model *model = NULL;
    rfs_session *s = NULL;
    rfs_video *v = NULL;
    rfs_frame frames[2][MAX_BATCH] = {{{0}}};
    rfs_result results[MAX_BATCH] = {{0}};
    long long first_id[2] = {0, 0}, next_id = 0;
    int rc = 1;
    if (rfs_model_load(&model, argv[1]) != RFS_OK || rfs_session_create(&s, model, &so) != RFS_OK ||
        rfs_video_open(&v, argv[2], NULL) != RFS_OK) {
        fprintf(stderr, "%s\n", rfs_last_error());
        goto done;
    }
    rfs_predict_opts po = rfs_predict_defaults(RFS_PRESET_ROBOFLOW);
    int slot = 0, ended = 0;
    for (;;) {
        if (!ended && rfs_predict_pending(s) < 2) {
            /* decode the next batch into this slot's frames (copied by submit, so two
             * slots would do even without the copy; they are kept for the ids) */
            rfs_image imgs[MAX_BATCH];
            int n = 0;
            while (n < B) {
                int done = 0;
                rfs_status st = rfs_video_read(v, &frames[slot][n], &done);
                if (done) {
                    ended = 1;
                    break;
                }
                if (st != RFS_OK) {
                    fprintf(stderr, "frame %lld: %s\n", (long long)rfs_video_frame_index(v) - 1,
                            rfs_last_error());
                    continue;
                }
                imgs[n] = rfs_frame_image(&frames[slot][n]);
                n++;
            }
            if (n > 0) {
                if (rfs_predict_submit(s, imgs, n, &po) != RFS_OK) {
                    fprintf(stderr, "%s\n", rfs_last_error());
                    goto done;
                }
                first_id[slot] = next_id;
                next_id += n;
                slot ^= 1;
            }
            continue;
        }
        if (!rfs_predict_pending(s)) break;
        int n = 0;
        if (rfs_predict_collect(s, results, &n) != RFS_OK) {
            fprintf(stderr, "%s\n", rfs_last_error());
            goto done;
        }
        /* batches complete in submit order: the oldest is the slot not submitted last
         * when two are in flight, else the other one */
        const int oldest = rfs_predict_pending(s) ? slot : slot ^ 1;
        for (int i = 0; i < n; i++) {
            const rfs_result *r = &results[i];
            printf("frame %lld: %d detections", first_id[oldest] + i, r->count);
            if (r->count)
                printf(", best %s %.3f", rfs_model_class_name(model, r->dets[0].class_id),
                       r->dets[0].score);
            printf("\n");
        }
    }
    rc = 0;
done:
    for (int i = 0; i < MAX_BATCH; i++) {
        rfs_result_free(&results[i]);
        rfs_frame_free(&frames[0][i]);
        rfs_frame_free(&frames[1][i]);
    }
    rfs_video_close(v);
    rfs_session_free(s);
    rfs_model_free(model);
    return rc;
}
