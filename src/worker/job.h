/* job.h - a job of `rfseg worker`: the fields of one Redis Streams entry, validated.
 *
 * A job entry carries (field names are case-sensitive; other fields are ignored):
 *   id            the client's id, echoed in the result (required, 1..RFS_WJOB_MAX_ID bytes)
 *   image         the encoded image: JPEG, PNG or BMP bytes (required)
 *   model         the id of one of the worker's models (default: its first model)
 *   confidence    "0.4" or "40%" (rfs_parse_confidence); default: the model's threshold(s)
 *   format        polygon | rle | none (rfs_mask_format_parse); default polygon
 *   class_filter  comma-separated class names: keep only these; empty: all
 * A field given twice is an error. Nothing here touches Redis: the caller hands over the
 * field/value pairs as pointers and lengths (binary-safe), and the parsed job points into
 * them for the image bytes, so they must outlive it.
 */
#ifndef RFS_WORKER_JOB_H
#define RFS_WORKER_JOB_H

#include "rfseg.h"

#include <stddef.h>

#define RFS_WJOB_MAX_ID 1024          /* bytes of a job id */
#define RFS_WJOB_MAX_CLASS_FILTER 1000 /* names in class_filter */

typedef struct rfs_wjob {
    char *id;                 /* NUL-terminated copy (may hold NUL bytes before len) or NULL */
    size_t id_len;
    const uint8_t *image;     /* points into the caller's field values */
    size_t image_len;
    int model;                /* index into the worker's models */
    int custom_confidence;    /* 0: the model's default threshold(s) */
    float confidence;
    rfs_mask_format format;
    char **class_filter;      /* NULL: no filter; the names point into class_filter_buf */
    int n_class_filter;
    char *class_filter_buf;
} rfs_wjob;

/* Parses one entry's fields (n values at f[i] with lengths fl[i]: field, value, field, ...;
 * n odd is malformed). model_ids names the worker's models (n_models >= 1). Returns 0, or
 * -1 with a message in err (the job is malformed; j->id is kept when it was readable, so
 * that the error result can carry it). max_image_bytes bounds the image field. */
int rfs_wjob_parse(rfs_wjob *j, const char *const *f, const size_t *fl, size_t n,
                   const char *const *model_ids, int n_models, size_t max_image_bytes,
                   char *err, size_t err_cap);
void rfs_wjob_free(rfs_wjob *j); /* releases what parse allocated; j may be zeroed or NULL */

#endif
