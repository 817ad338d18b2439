/* job.c - job fields parsed and checked (see job.h). */
#include "worker/job.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int field_is(const char *f, size_t n, const char *name) {
    return n == strlen(name) && !memcmp(f, name, n);
}

/* A short field value as a C string in buf (cap bytes); 0 when it is too long or holds a
 * NUL byte. */
static int small_value(char *buf, size_t cap, const char *v, size_t n) {
    if (n >= cap || memchr(v, 0, n)) return 0;
    memcpy(buf, v, n);
    buf[n] = 0;
    return 1;
}

/* Splits a comma list into names (empty items skipped, spaces around names kept: class
 * names may contain spaces). */
static int split_filter(rfs_wjob *j, const char *v, size_t n, char *err, size_t cap) {
    if (!n) return 0;
    if (memchr(v, 0, n)) return snprintf(err, cap, "job: class_filter holds a NUL byte"), -1;
    if (!(j->class_filter_buf = malloc(n + 1))) return snprintf(err, cap, "job: out of memory"), -1;
    memcpy(j->class_filter_buf, v, n);
    j->class_filter_buf[n] = 0;
    size_t items = 1;
    for (size_t i = 0; i < n; i++) items += v[i] == ',';
    if (items > RFS_WJOB_MAX_CLASS_FILTER)
        return snprintf(err, cap, "job: class_filter names more than %d classes", RFS_WJOB_MAX_CLASS_FILTER), -1;
    if (!(j->class_filter = calloc(items, sizeof *j->class_filter)))
        return snprintf(err, cap, "job: out of memory"), -1;
    for (char *p = j->class_filter_buf, *save = NULL, *t = strtok_r(p, ",", &save); t; t = strtok_r(NULL, ",", &save))
        j->class_filter[j->n_class_filter++] = t;
    if (!j->n_class_filter) { /* only commas: no filter */
        free(j->class_filter);
        j->class_filter = NULL;
    }
    return 0;
}

int rfs_wjob_parse(rfs_wjob *j, const char *const *f, const size_t *fl, size_t n,
                   const char *const *model_ids, int n_models, size_t max_image_bytes,
                   char *err, size_t err_cap) {
    memset(j, 0, sizeof *j);
    j->format = RFS_MASK_POLYGON;
    if (err_cap) err[0] = 0;
    if (n % 2) return snprintf(err, err_cap, "job: odd number of field names and values"), -1;
    enum { F_ID, F_IMAGE, F_MODEL, F_CONF, F_FORMAT, F_FILTER, F_N };
    static const char *const names[F_N] = {"id", "image", "model", "confidence", "format", "class_filter"};
    long at[F_N];
    for (int k = 0; k < F_N; k++) at[k] = -1;
    for (size_t i = 0; i < n; i += 2)
        for (int k = 0; k < F_N; k++)
            if (field_is(f[i], fl[i], names[k])) {
                if (at[k] >= 0) return snprintf(err, err_cap, "job: field \"%s\" given twice", names[k]), -1;
                at[k] = (long)i + 1;
            }
    /* the id first, so that every later error can be reported against it */
    if (at[F_ID] < 0) return snprintf(err, err_cap, "job: missing field \"id\""), -1;
    size_t il = fl[at[F_ID]];
    if (!il || il > RFS_WJOB_MAX_ID)
        return snprintf(err, err_cap, "job: \"id\" must be 1 to %d bytes long", RFS_WJOB_MAX_ID), -1;
    if (!(j->id = malloc(il + 1))) return snprintf(err, err_cap, "job: out of memory"), -1;
    memcpy(j->id, f[at[F_ID]], il);
    j->id[il] = 0;
    j->id_len = il;

    if (at[F_IMAGE] < 0 || !fl[at[F_IMAGE]])
        return snprintf(err, err_cap, "job: missing field \"image\" (encoded JPEG, PNG or BMP bytes)"), -1;
    j->image = (const uint8_t *)f[at[F_IMAGE]];
    j->image_len = fl[at[F_IMAGE]];
    if (j->image_len > max_image_bytes)
        return snprintf(err, err_cap, "job: image of %zu bytes exceeds the limit of %zu bytes", j->image_len,
                        max_image_bytes), -1;

    char buf[RFS_WJOB_MAX_ID + 1];
    if (at[F_MODEL] >= 0) {
        const char *v = f[at[F_MODEL]];
        size_t vl = fl[at[F_MODEL]];
        j->model = -1;
        for (int m = 0; m < n_models && j->model < 0; m++)
            if (field_is(v, vl, model_ids[m])) j->model = m;
        if (j->model < 0) {
            if (!small_value(buf, 128, v, vl)) snprintf(buf, 128, "(%zu bytes)", vl);
            return snprintf(err, err_cap, "job: model \"%s\" is not served by this worker", buf), -1;
        }
    }
    if (at[F_CONF] >= 0) {
        if (!small_value(buf, 64, f[at[F_CONF]], fl[at[F_CONF]]))
            return snprintf(err, err_cap, "job: confidence: expected a fraction in [0, 1] or a percentage like 40%%"), -1;
        if (rfs_parse_confidence(buf, &j->confidence) != RFS_OK)
            return snprintf(err, err_cap, "job: %s", rfs_last_error()), -1;
        j->custom_confidence = 1;
    }
    if (at[F_FORMAT] >= 0) {
        if (!small_value(buf, 64, f[at[F_FORMAT]], fl[at[F_FORMAT]]) ||
            rfs_mask_format_parse(buf, &j->format) != RFS_OK)
            return snprintf(err, err_cap, "job: format must be polygon, rle or none"), -1;
    }
    if (at[F_FILTER] >= 0 && split_filter(j, f[at[F_FILTER]], fl[at[F_FILTER]], err, err_cap)) return -1;
    return 0;
}

void rfs_wjob_free(rfs_wjob *j) {
    if (!j) return;
    free(j->id);
    free(j->class_filter);
    free(j->class_filter_buf);
    memset(j, 0, sizeof *j);
    j->format = RFS_MASK_POLYGON;
}
