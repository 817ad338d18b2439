/* shared_model.c - one model, many sessions: N threads each run their own session of the
 * same model on the same image and print how many detections they found. The model's
 * weights (and, on a GPU, their device copy) exist once; each session holds only its own
 * activations.
 *
 *     build/examples/shared_model MODEL IMAGE [THREADS] */
#include <rfseg.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct job {
    const rfs_model *model;
    const rfs_frame *frame;
    int count;
    rfs_status st;
} job;

static void *run(void *arg) {
    job *j = arg;
    rfs_session_opts so = rfs_session_defaults();
    so.threads = 1; /* one core per session: the threads run side by side */
    rfs_session *s = NULL;
    rfs_result res = {0};
    rfs_image img = rfs_frame_image(j->frame);
    rfs_predict_opts po = rfs_predict_defaults(RFS_PRESET_ROBOFLOW);
    j->st = rfs_session_create(&s, j->model, &so);
    if (j->st == RFS_OK) j->st = rfs_predict(s, &img, 1, &po, &res);
    j->count = res.count;
    rfs_result_free(&res);
    rfs_session_free(s);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL IMAGE [THREADS]\n", argv[0]);
        return 2;
    }
    int n = argc > 3 ? atoi(argv[3]) : 4;
    if (n < 1 || n > 64) n = 4;
    rfs_model *model = NULL;
    rfs_frame frame = {0};
    if (rfs_model_load(&model, argv[1]) != RFS_OK || rfs_image_load(&frame, argv[2], NULL) != RFS_OK) {
        fprintf(stderr, "%s\n", rfs_last_error());
        rfs_model_free(model);
        return 1;
    }
    job jobs[64];
    pthread_t th[64];
    for (int i = 0; i < n; i++) {
        jobs[i] = (job){model, &frame, 0, RFS_OK};
        pthread_create(&th[i], NULL, run, &jobs[i]);
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        if (jobs[i].st != RFS_OK) rc = 1;
        printf("thread %d: %s, %d detections\n", i, rfs_status_name(jobs[i].st), jobs[i].count);
    }
    rfs_frame_free(&frame);
    rfs_model_free(model);
    return rc;
}
