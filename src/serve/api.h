/* api.h - what the server uses of the library beyond rfseg.h, under the names the public
 * API gives them (text buffers, shapes, the Roboflow response, frames and decoding, the
 * package's auto-orient switch). Until they are all declared in rfseg.h this header maps
 * them onto the library's internal headers; the server's code uses only these names.
 */
#ifndef RFS_SERVE_API_H
#define RFS_SERVE_API_H

#include "rfseg.h"

#include "io/image.h"
#include "model/model.h"
#include "pipeline/response.h"

#include <stdlib.h>

typedef rfs_jbuf rfs_text;
#define rfs_text_put rfs_jbuf_put
#define rfs_text_puts rfs_jbuf_puts
#define rfs_text_double rfs_jbuf_double
#define rfs_text_int rfs_jbuf_int
#define rfs_text_string rfs_jbuf_string
#define rfs_text_reset rfs_jbuf_reset
#define rfs_text_free rfs_jbuf_free

typedef rfs_shape_ctx rfs_shapes;

static inline rfs_status rfs_shapes_create(rfs_shapes **out) {
    *out = calloc(1, sizeof **out);
    return *out ? RFS_OK : RFS_ERR_NOMEM;
}

static inline void rfs_shapes_free(rfs_shapes *s) {
    if (!s) return;
    rfs_shape_ctx_free(s);
    free(s);
}

static inline int rfs_model_auto_orient(const rfs_model *m) { return m->pkg.auto_orient; }

#endif
