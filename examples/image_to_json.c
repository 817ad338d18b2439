/* image_to_json.c - the smallest complete use of rfseg: one model, one session, images in,
 * Roboflow's response JSON out, one line per image.
 *
 *     build/examples/image_to_json MODEL IMAGE...
 *
 * MODEL is a checkpoint (.pth, .ckpt, .safetensors) or a Roboflow model package. */
#include <rfseg.h>

#include <stdio.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL IMAGE...\n", argv[0]);
        return 2;
    }
    rfs_model *model = NULL;
    if (rfs_model_load(&model, argv[1]) != RFS_OK) {
        fprintf(stderr, "%s\n", rfs_last_error());
        return 1;
    }
    rfs_session *s = NULL;
    if (rfs_session_create(&s, model, NULL) != RFS_OK) { /* defaults: CPU, fp32, batch 1 */
        fprintf(stderr, "%s\n", rfs_last_error());
        rfs_model_free(model);
        return 1;
    }
    rfs_predict_opts po = rfs_predict_defaults(RFS_PRESET_ROBOFLOW);
    rfs_response_opts ro = rfs_response_defaults();
    rfs_shapes *shapes = NULL;
    rfs_frame frame = {0};
    rfs_result res = {0};
    rfs_text json = {0};
    int failed = rfs_shapes_create(&shapes) != RFS_OK;
    for (int i = 2; i < argc && !failed; i++) {
        rfs_decode_opts dopt = {.no_auto_orient = !rfs_model_auto_orient(model)};
        rfs_image img;
        rfs_text_reset(&json);
        if (rfs_image_load(&frame, argv[i], &dopt) != RFS_OK ||
            (img = rfs_frame_image(&frame), rfs_predict(s, &img, 1, &po, &res)) != RFS_OK ||
            rfs_response_roboflow(&json, shapes, &res, model, &ro) != RFS_OK) {
            fprintf(stderr, "%s: %s\n", argv[i], rfs_last_error());
            failed = 1;
            break;
        }
        printf("%s\n", json.p);
    }
    rfs_text_free(&json);
    rfs_result_free(&res);
    rfs_frame_free(&frame);
    rfs_shapes_free(shapes);
    rfs_session_free(s);
    rfs_model_free(model);
    return failed;
}
