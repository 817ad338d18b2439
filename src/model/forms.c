/* forms.c - per-device weight forms of a model (model.h): one slot per backend, device
 * and kind, created on first use, reference counted, guarded by the model's lock. */
#include "model/model.h"

#include "util/err.h"

#include <pthread.h>
#include <stdlib.h>

enum { NBACKENDS = 2 };

struct rfs_model_forms {
    pthread_mutex_t lock;
    rfs_form slot[NBACKENDS][RFS_MAX_DEVICES][RFS_FORM_KINDS];
};

rfs_status rfs_model_forms_init(rfs_model *m) {
    m->forms = rfs_calloc(1, sizeof *m->forms);
    if (!m->forms) return RFS_ERR_NOMEM;
    pthread_mutex_init(&m->forms->lock, NULL);
    return RFS_OK;
}

void rfs_model_forms_free(rfs_model *m) {
    struct rfs_model_forms *f = m->forms;
    if (!f) return;
    /* every session holds a reference: a live form here means a session outlived its
     * model, which the API forbids (the form's memory would be released under it) */
    for (int b = 0; b < NBACKENDS; b++)
        for (int d = 0; d < RFS_MAX_DEVICES; d++)
            for (int k = 0; k < RFS_FORM_KINDS; k++)
                if (f->slot[b][d][k].refs)
                    rfs_panic(__FILE__, __LINE__, "rfs_model_free: a session of this model is "
                              "still alive (free sessions before their model)");
    pthread_mutex_destroy(&f->lock);
    free(f);
    m->forms = NULL;
}

static rfs_form *slot(const rfs_model *m, rfs_backend backend, int device, int kind) {
    RFS_ASSERT((int)backend >= 0 && (int)backend < NBACKENDS);
    RFS_ASSERT(device >= 0 && device < RFS_MAX_DEVICES && kind >= 0 && kind < RFS_FORM_KINDS);
    return &m->forms->slot[backend][device][kind];
}

void *rfs_model_form_acquire(const rfs_model *m, rfs_backend backend, int device, int kind,
                             rfs_form_make_fn make) {
    rfs_form *f = slot(m, backend, device, kind);
    void *data = NULL;
    pthread_mutex_lock(&m->forms->lock);
    if (!f->data) {
        void (*destroy)(void *) = NULL;
        /* made under the lock: a second session waits for the first upload instead of
         * making its own copy */
        if (make(m, device, kind, &f->data, &destroy) != RFS_OK) f->data = NULL;
        else f->destroy = destroy;
    }
    if (f->data) {
        f->refs++;
        data = f->data;
    }
    pthread_mutex_unlock(&m->forms->lock);
    return data;
}

void rfs_model_form_release(const rfs_model *m, rfs_backend backend, int device, int kind) {
    rfs_form *f = slot(m, backend, device, kind);
    pthread_mutex_lock(&m->forms->lock);
    RFS_ASSERT(f->refs > 0);
    if (--f->refs == 0) {
        if (f->destroy) f->destroy(f->data);
        f->data = NULL;
        f->destroy = NULL;
    }
    pthread_mutex_unlock(&m->forms->lock);
}
