/* package.h - the parsers behind rfs_model_load_package, on text in memory.
 *
 * rfs_model_load_package reads the package's files and calls these; they are separate so
 * that the fuzz target (tests/fuzz/fuzz_package.c) and tests reach every parser without
 * a checkpoint. Every number in the JSON is range-checked before it is converted. */
#ifndef RFS_MODEL_PACKAGE_H
#define RFS_MODEL_PACKAGE_H

#include "model/model.h"

/* inference_config.json text into p (which starts from rfs_package_defaults); resolution
 * is the checkpoint's, which training_input_size must match. label names the file in
 * messages. On failure p may hold removals already parsed: rfs_package_free releases them. */
rfs_status rfs_package_parse_config(rfs_package *p, const char *text, const char *label,
                                    int resolution);

/* class_names.txt text (modified in place) into *n strdup'ed names (*names allocated);
 * at least one name, else RFS_ERR_FORMAT. Free with rfs_package_names_free. */
rfs_status rfs_package_parse_class_names(char ***names, int *n, char *text, const char *label);
void rfs_package_names_free(char **names, int n);

/* Roboflow's prepare_class_remapping for a network of K classes: logit index i keeps
 * class i unless its name is one of p's removals or i >= n; kept classes get consecutive
 * ids. Takes ownership of names (freed, also on failure); *remap has K entries (-1 =
 * removed), *kept the *n_kept kept names in id order. */
rfs_status rfs_package_remap(int **remap, char ***kept, int *n_kept, int K, const rfs_package *p,
                             char **names, int n);

#endif
