/* package.c - Roboflow model packages: a directory with the weights (weights.pth, or any
 * single .pth/.pt/.safetensors), class_names.txt (required), inference_config.json and
 * optionally model_type.json (docs/roboflow.md 5.3). What the package says about pre-processing
 * (resize mode, padding, static crop, grayscale) and class names (including the removal
 * of Roboflow's placeholder classes, which shifts the ids of the classes after them) is
 * kept in the model for the roboflow preset. Settings rfseg cannot reproduce exactly
 * (contrast equalisation, non-ImageNet normalisation, BGR networks, a training size other
 * than the checkpoint's resolution) fail the load with a message, rather than giving
 * silently different results. */
#include "model/package.h"

#include "io/fileio.h"
#include "util/err.h"

#include <cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_TEXT_FILE (16u << 20)

void rfs_package_defaults(rfs_package *p) {
    memset(p, 0, sizeof *p);
    p->resize_mode = RFS_RESIZE_STRETCH;
    p->auto_orient = 1;
}

static rfs_status read_text(char **out, const char *path) {
    *out = NULL;
    FILE *f;
    rfs_status st = rfs_file_open_read(&f, path, NULL); /* a FIFO is refused, not waited on */
    if (st != RFS_OK) return st;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > MAX_TEXT_FILE) {
                free(buf);
                fclose(f);
                return RFS_FAIL(RFS_ERR_LIMIT, "%s: larger than %u bytes", path, MAX_TEXT_FILE);
            }
            char *nb = rfs_realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return RFS_ERR_NOMEM;
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, 4096, f);
        len += n;
        if (n < 4096) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return RFS_FAIL(RFS_ERR_IO, "%s: read error", path);
    }
    buf[len] = 0;
    *out = buf;
    return RFS_OK;
}

/* class_names.txt: one name per line, each stripped of surrounding white space, blank
 * lines skipped (Roboflow's parse_class_names_file). */
rfs_status rfs_package_parse_class_names(char ***names, int *n, char *text, const char *label) {
    *names = NULL;
    *n = 0;
    int cap = 16, count = 0;
    char **v = rfs_malloc(sizeof(char *) * (size_t)cap);
    if (!v) return RFS_ERR_NOMEM;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        size_t len = strlen(line);
        while (len && isspace((unsigned char)line[len - 1])) line[--len] = 0;
        while (isspace((unsigned char)*line)) line++;
        if (!*line) continue;
        if (count == cap) {
            cap *= 2;
            char **nv = rfs_realloc(v, sizeof(char *) * (size_t)cap);
            if (!nv) goto nomem;
            v = nv;
        }
        if (!(v[count] = strdup(line))) goto nomem;
        count++;
    }
    if (count == 0) {
        free(v);
        return RFS_FAIL(RFS_ERR_FORMAT, "%s: no class names", label);
    }
    *names = v;
    *n = count;
    return RFS_OK;
nomem:
    rfs_package_names_free(v, count);
    return RFS_FAIL(RFS_ERR_NOMEM, "out of memory reading %s", label);
}

void rfs_package_names_free(char **names, int n) {
    if (!names) return;
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

static rfs_status read_class_names(char ***names, int *n, const char *path) {
    char *text;
    rfs_status st = read_text(&text, path);
    if (st != RFS_OK) return st;
    st = rfs_package_parse_class_names(names, n, text, path);
    free(text);
    return st;
}

static const cJSON *obj(const cJSON *o, const char *key) {
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

static int enabled(const cJSON *o) {
    const cJSON *e = obj(o, "enabled");
    return cJSON_IsTrue(e);
}

static int num_or(const cJSON *o, const char *key, double *out) {
    const cJSON *v = obj(o, key);
    if (!cJSON_IsNumber(v)) return 0;
    *out = v->valuedouble;
    return 1;
}

rfs_status rfs_package_parse_config(rfs_package *p, const char *text, const char *path,
                                    int resolution) {
    cJSON *root = cJSON_Parse(text);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return RFS_FAIL(RFS_ERR_FORMAT, "%s: not a JSON object", path);
    }
    rfs_status st = RFS_OK;
    const cJSON *pre = obj(root, "image_pre_processing"), *net = obj(root, "network_input");
    const cJSON *ao = obj(pre, "auto-orient"), *sc = obj(pre, "static-crop");
    const cJSON *co = obj(pre, "contrast"), *gr = obj(pre, "grayscale");
    if (ao) p->auto_orient = enabled(ao);
    if (sc && enabled(sc)) {
        double v[4];
        if (!num_or(sc, "x_min", &v[0]) || !num_or(sc, "y_min", &v[1]) ||
            !num_or(sc, "x_max", &v[2]) || !num_or(sc, "y_max", &v[3])) {
            st = RFS_FAIL(RFS_ERR_FORMAT, "%s: static-crop needs x_min, y_min, x_max, y_max", path);
            goto done;
        }
        p->static_crop = 1;
        for (int i = 0; i < 4; i++) {
            if (!(v[i] >= 0 && v[i] <= 100)) {
                st = RFS_FAIL(RFS_ERR_FORMAT, "%s: static-crop percentage %g outside [0, 100]", path, v[i]);
                goto done;
            }
            p->crop_pct[i] = (int)v[i];
        }
    }
    if (co && enabled(co)) {
        st = RFS_FAIL(RFS_ERR_UNSUPPORTED, "%s: contrast pre-processing is not supported by rfseg "
                      "(it would change every result); re-export the model without it", path);
        goto done;
    }
    if (gr) p->grayscale = enabled(gr);
    if (net) {
        const cJSON *mode = obj(net, "resize_mode"), *tis = obj(net, "training_input_size");
        if (cJSON_IsString(mode)) {
            const char *m = mode->valuestring;
            if (!strcmp(m, "stretch") || !strcmp(m, "fit-longer-edge")) p->resize_mode = RFS_RESIZE_STRETCH;
            else if (!strcmp(m, "letterbox") || !strcmp(m, "letterbox-reflect-edges"))
                p->resize_mode = RFS_RESIZE_LETTERBOX; /* R1 maps both to the same handler */
            else if (!strcmp(m, "center-crop")) p->resize_mode = RFS_RESIZE_CENTER_CROP;
            else {
                st = RFS_FAIL(RFS_ERR_UNSUPPORTED, "%s: resize_mode '%s' is not supported", path, m);
                goto done;
            }
        }
        double v;
        if (num_or(net, "padding_value", &v)) {
            if (!(v >= 0 && v <= 255)) {
                st = RFS_FAIL(RFS_ERR_FORMAT, "%s: padding_value %g outside [0, 255]", path, v);
                goto done;
            }
            p->padding_value = (float)v;
        }
        if (tis) {
            /* compared as doubles: any JSON number (1e300, 640.5) is safe, and only the
             * checkpoint's resolution itself passes */
            double h = 0, w = 0;
            num_or(tis, "height", &h);
            num_or(tis, "width", &w);
            if ((h != 0 && h != (double)resolution) || (w != 0 && w != (double)resolution)) {
                st = RFS_FAIL(RFS_ERR_UNSUPPORTED, "%s: training_input_size %gx%g differs from the "
                              "checkpoint's resolution %d", path, w, h, resolution);
                goto done;
            }
        }
        if (obj(net, "dataset_version_resize_dimensions") && p->resize_mode != RFS_RESIZE_STRETCH) {
            st = RFS_FAIL(RFS_ERR_UNSUPPORTED, "%s: the two-step resize "
                          "(dataset_version_resize_dimensions) is not supported", path);
            goto done;
        }
        if (num_or(net, "input_channels", &v) && v != 3) {
            st = RFS_FAIL(RFS_ERR_UNSUPPORTED, "%s: input_channels %g (only 3-channel networks)", path, v);
            goto done;
        }
        const cJSON *cm = obj(net, "color_mode");
        if (cJSON_IsString(cm) && strcmp(cm->valuestring, "rgb")) {
            st = RFS_FAIL(RFS_ERR_UNSUPPORTED, "%s: color_mode '%s' (only rgb networks)", path,
                          cm->valuestring);
            goto done;
        }
        if (num_or(net, "scaling_factor", &v) && v != 255) {
            st = RFS_FAIL(RFS_ERR_UNSUPPORTED, "%s: scaling_factor %g (only 255)", path, v);
            goto done;
        }
        const cJSON *norm = obj(net, "normalization");
        static const double mean[3] = {0.485, 0.456, 0.406}, std[3] = {0.229, 0.224, 0.225};
        if (cJSON_IsArray(norm)) {
            int ok = cJSON_GetArraySize(norm) == 2;
            for (int k = 0; ok && k < 2; k++) {
                const cJSON *row = cJSON_GetArrayItem(norm, k);
                ok = cJSON_IsArray(row) && cJSON_GetArraySize(row) == 3;
                for (int c = 0; ok && c < 3; c++) {
                    const cJSON *x = cJSON_GetArrayItem(row, c);
                    ok = cJSON_IsNumber(x) && fabs(x->valuedouble - (k ? std[c] : mean[c])) < 1e-9;
                }
            }
            if (!ok) {
                st = RFS_FAIL(RFS_ERR_UNSUPPORTED, "%s: normalization other than ImageNet's", path);
                goto done;
            }
        }
    }
    /* class_names_operations: [{"type": "class_name_removal", "class_name": ...}] */
    const cJSON *ops = obj(root, "class_names_operations"), *op;
    cJSON_ArrayForEach(op, ops) {
        const cJSON *type = obj(op, "type"), *name = obj(op, "class_name");
        if (!cJSON_IsString(type) || strcmp(type->valuestring, "class_name_removal") || !cJSON_IsString(name)) {
            st = RFS_FAIL(RFS_ERR_UNSUPPORTED, "%s: unknown class_names_operations entry", path);
            goto done;
        }
        if (p->n_removed == RFS_MAX_REMOVED) {
            st = RFS_FAIL(RFS_ERR_LIMIT, "%s: more than %d class removals", path, RFS_MAX_REMOVED);
            goto done;
        }
        if (!(p->removed[p->n_removed++] = strdup(name->valuestring))) {
            st = RFS_FAIL(RFS_ERR_NOMEM, "out of memory");
            goto done;
        }
    }
done:
    cJSON_Delete(root);
    return st;
}

void rfs_package_free(rfs_package *p) {
    for (int i = 0; i < p->n_removed; i++) free(p->removed[i]);
    p->n_removed = 0;
}

rfs_status rfs_package_remap(int **remap, char ***kept, int *n_kept, int K, const rfs_package *p,
                             char **names, int n) {
    *remap = NULL;
    *kept = NULL;
    *n_kept = 0;
    int *rm = K > 0 ? rfs_malloc(sizeof(int) * (size_t)K) : NULL;
    char **kp = rfs_calloc(n > 0 ? (size_t)n : 1, sizeof(char *));
    if ((K > 0 && !rm) || !kp) {
        free(rm);
        free(kp);
        rfs_package_names_free(names, n);
        return RFS_ERR_NOMEM;
    }
    int next = 0;
    for (int i = 0; i < K; i++) {
        int removed = i >= n;
        for (int r = 0; !removed && r < p->n_removed; r++) removed = !strcmp(names[i], p->removed[r]);
        if (removed) {
            rm[i] = -1;
            continue;
        }
        kp[next] = names[i];
        names[i] = NULL;
        rm[i] = next++;
    }
    rfs_package_names_free(names, n); /* the removed ones and any beyond K */
    *remap = rm;
    *kept = kp;
    *n_kept = next;
    return RFS_OK;
}

/* Applies the removals to the model's class ids (see rfs_package_remap). */
static rfs_status apply_names(rfs_model *m, char **names, int n) {
    int *remap;
    char **kept;
    int n_kept;
    rfs_status st = rfs_package_remap(&remap, &kept, &n_kept, m->cfg.num_classes, &m->pkg, names, n);
    if (st != RFS_OK) return st;
    m->pkg_names = kept;
    m->n_pkg_names = n_kept;
    free(m->remap);
    m->remap = remap;
    return RFS_OK;
}

static int has_suffix(const char *s, const char *suf) {
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && !strcmp(s + n - k, suf);
}

/* The weights file: weights.pth / weights.safetensors, else the one checkpoint there. */
static rfs_status find_weights(char *out, size_t cap, const char *dir) {
    static const char *names[] = {"weights.pth", "weights.pt", "weights.safetensors"};
    struct stat sb;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(out, cap, "%s/%s", dir, names[i]);
        if (stat(out, &sb) == 0 && S_ISREG(sb.st_mode)) return RFS_OK;
    }
    DIR *d = opendir(dir);
    if (!d) return RFS_FAIL(RFS_ERR_IO, "%s: %s", dir, strerror(errno));
    int found = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!has_suffix(e->d_name, ".pth") && !has_suffix(e->d_name, ".pt") &&
            !has_suffix(e->d_name, ".safetensors"))
            continue;
        if (found++) break;
        snprintf(out, cap, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    if (found != 1)
        return RFS_FAIL(RFS_ERR_FORMAT, "%s: %s", dir, found ? "several checkpoints; name one weights.pth"
                                                              : "no weights.pth (not a model package)");
    return RFS_OK;
}

rfs_status rfs_model_load_package(rfs_model **out, const char *dir) {
    char path[4096];
    rfs_status st = find_weights(path, sizeof path, dir);
    if (st != RFS_OK) return st;
    if ((st = rfs_model_load_file(out, path)) != RFS_OK) return st;
    rfs_model *m = *out;
    char *text = NULL;
    snprintf(path, sizeof path, "%s/inference_config.json", dir);
    struct stat sb;
    if (stat(path, &sb) == 0) {
        if ((st = read_text(&text, path)) != RFS_OK) goto fail;
        st = rfs_package_parse_config(&m->pkg, text, path, m->cfg.resolution);
        free(text);
        if (st != RFS_OK) goto fail;
    }
    /* required, as Roboflow's loaders require it */
    snprintf(path, sizeof path, "%s/class_names.txt", dir);
    char **names = NULL;
    int n = 0;
    if ((st = read_class_names(&names, &n, path)) != RFS_OK) goto fail;
    if ((st = apply_names(m, names, n)) != RFS_OK) goto fail;
    snprintf(m->source, sizeof m->source, "%s", dir);
    return RFS_OK;
fail:
    rfs_model_free(m);
    *out = NULL;
    return st;
}
