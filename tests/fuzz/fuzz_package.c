/* fuzz_package.c - libFuzzer target for a Roboflow model package's text files (make fuzz):
 * inference_config.json (cJSON, then every field rfseg reads, range-checked) and
 * class_names.txt, then the class removal/remapping they define together.
 *
 * Input: byte 0 = the network's class count K (0..255), then the JSON text, a NUL byte,
 * then the class names text (no NUL: the names are empty). The checkpoint resolution is
 * 432 (as the seed configs' training_input_size). */
#include "model/package.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int K = data[0];
    const char *rest = (const char *)data + 1;
    size_t n = size - 1;
    const char *nul = memchr(rest, 0, n);
    size_t jlen = nul ? (size_t)(nul - rest) : n;
    char *json = malloc(jlen + 1), *names = NULL;
    if (!json) return 0;
    memcpy(json, rest, jlen);
    json[jlen] = 0;
    size_t nlen = nul ? n - jlen - 1 : 0;
    names = malloc(nlen + 1);
    if (!names) {
        free(json);
        return 0;
    }
    memcpy(names, nul ? nul + 1 : "", nlen);
    names[nlen] = 0;

    rfs_package p;
    rfs_package_defaults(&p);
    rfs_status st = rfs_package_parse_config(&p, json, "inference_config.json", 432);
    char **v = NULL;
    int nv = 0;
    if (st == RFS_OK && rfs_package_parse_class_names(&v, &nv, names, "class_names.txt") == RFS_OK) {
        if (nv <= 0 || !v) abort();
        for (int i = 0; i < nv; i++)
            if (!v[i] || !*v[i]) abort();
        int *remap;
        char **kept;
        int n_kept;
        if (rfs_package_remap(&remap, &kept, &n_kept, K, &p, v, nv) == RFS_OK) {
            int next = 0;
            for (int i = 0; i < K; i++) {
                if (remap[i] >= 0 && remap[i] != next++) abort(); /* consecutive ids */
                if (remap[i] >= n_kept) abort();
            }
            if (next != n_kept) abort();
            for (int i = 0; i < n_kept; i++) free(kept[i]);
            free(kept);
            free(remap);
        }
    }
    if (p.static_crop)
        for (int i = 0; i < 4; i++)
            if (p.crop_pct[i] < 0 || p.crop_pct[i] > 100) abort();
    if (!(p.padding_value >= 0 && p.padding_value <= 255)) abort();
    rfs_package_free(&p);
    free(json);
    free(names);
    return 0;
}
