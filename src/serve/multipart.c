/* multipart.c - the file part of a multipart/form-data body (see multipart.h). */
#include "serve/multipart.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int rfs_multipart_is_form(const char *ct) {
    static const char form[] = "multipart/form-data";
    if (!ct) return 0;
    while (*ct == ' ' || *ct == '\t') ct++;
    return !strncasecmp(ct, form, sizeof form - 1) &&
           (ct[sizeof form - 1] == 0 || ct[sizeof form - 1] == ';' || ct[sizeof form - 1] == ' ');
}

/* Value of parameter `name` (e.g. "boundary") in a header value: quoted or token, copied
 * into out (cap bytes). Returns its length, or -1 when absent, empty or too long. */
static int header_param(char *out, size_t cap, const char *v, size_t vn, const char *name) {
    size_t nl = strlen(name);
    for (size_t i = 0; i + nl < vn; i++) {
        /* a parameter starts after ';' (or at the beginning) plus optional spaces */
        if (i > 0 && v[i - 1] != ';' && v[i - 1] != ' ' && v[i - 1] != '\t') continue;
        if (strncasecmp(v + i, name, nl) || v[i + nl] != '=') continue;
        const char *p = v + i + nl + 1, *end = v + vn;
        size_t len = 0;
        if (p < end && *p == '"') {
            for (p++; p < end && *p != '"'; p++) {
                if (*p == '\\' && p + 1 < end) p++;
                if (len + 1 >= cap) return -1;
                out[len++] = *p;
            }
            if (p >= end) return -1; /* unterminated quote */
        } else {
            for (; p < end && *p != ';' && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n'; p++) {
                if (len + 1 >= cap) return -1;
                out[len++] = *p;
            }
        }
        out[len] = 0;
        return len ? (int)len : -1;
    }
    return -1;
}

/* Reads the part's Content-Disposition: name and whether it has a filename. */
static void part_disposition(const char *h, size_t hn, int *is_file_field, int *has_filename) {
    static const char key[] = "content-disposition:";
    *is_file_field = *has_filename = 0;
    size_t i = 0;
    while (i < hn) {
        const char *line = h + i;
        const char *eol = memchr(line, '\n', hn - i);
        size_t ll = eol ? (size_t)(eol - line) : hn - i;
        if (ll >= sizeof key - 1 && !strncasecmp(line, key, sizeof key - 1)) {
            char val[256];
            const char *v = line + sizeof key - 1;
            size_t vn = ll - (sizeof key - 1);
            if (header_param(val, sizeof val, v, vn, "name") > 0 && !strcmp(val, "file"))
                *is_file_field = 1;
            if (header_param(val, sizeof val, v, vn, "filename") >= 0) *has_filename = 1;
        }
        i += ll + 1;
    }
}

int rfs_multipart_file(const uint8_t **data, size_t *len, const char *content_type,
                       const uint8_t *body, size_t n, char *msg, size_t msg_cap) {
    char boundary[80], delim[90];
    *data = NULL;
    *len = 0;
    if (!rfs_multipart_is_form(content_type)) {
        snprintf(msg, msg_cap, "multipart body expected (Content-Type multipart/form-data)");
        return -1;
    }
    int bl = header_param(boundary, 71, content_type, strlen(content_type), "boundary");
    if (bl <= 0) {
        snprintf(msg, msg_cap, "multipart/form-data without a valid boundary parameter");
        return -1;
    }
    /* delim = "\r\n--boundary"; the first one may sit at the very start without the CRLF */
    size_t dl = (size_t)snprintf(delim, sizeof delim, "\r\n--%s", boundary);
    const uint8_t *end = body + n, *p;
    if (n >= dl - 2 && !memcmp(body, delim + 2, dl - 2)) p = body + dl - 2;
    else {
        p = memmem(body, n, delim, dl);
        if (!p) goto malformed;
        p += dl;
    }
    const uint8_t *best = NULL, *first_named = NULL, *only = NULL;
    size_t best_len = 0, first_named_len = 0, only_len = 0;
    int parts = 0;
    for (;;) {
        /* after a delimiter: "--" ends the body, else optional whitespace and CRLF */
        if (end - p >= 2 && p[0] == '-' && p[1] == '-') break;
        while (p < end && (*p == ' ' || *p == '\t')) p++;
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n') goto malformed;
        p += 2;
        if (++parts > RFS_MULTIPART_MAX_PARTS) {
            snprintf(msg, msg_cap, "multipart body with more than %d parts", RFS_MULTIPART_MAX_PARTS);
            return -1;
        }
        size_t avail = (size_t)(end - p);
        size_t hlimit = avail < RFS_MULTIPART_MAX_HEADER ? avail : RFS_MULTIPART_MAX_HEADER;
        const uint8_t *hend;
        size_t hlen;
        if (hlimit >= 2 && p[0] == '\r' && p[1] == '\n') { /* no headers at all */
            hend = p;
            hlen = 0;
        } else {
            hend = memmem(p, hlimit, "\r\n\r\n", 4);
            if (!hend) goto malformed;
            hlen = (size_t)(hend - p) + 2;
        }
        const uint8_t *content = hend + (hlen ? 4 : 2);
        const uint8_t *cend = memmem(content, (size_t)(end - content), delim, dl);
        if (!cend) goto malformed;
        int is_file, has_filename;
        part_disposition((const char *)p, hlen, &is_file, &has_filename);
        size_t clen = (size_t)(cend - content);
        if (is_file && !best) best = content, best_len = clen;
        if (has_filename && !first_named) first_named = content, first_named_len = clen;
        if (parts == 1) only = content, only_len = clen;
        p = cend + dl;
    }
    if (best) *data = best, *len = best_len;
    else if (first_named) *data = first_named, *len = first_named_len;
    else if (parts == 1) *data = only, *len = only_len;
    else {
        snprintf(msg, msg_cap, "multipart body has no \"file\" part");
        return -1;
    }
    if (*len == 0) {
        snprintf(msg, msg_cap, "the uploaded file is empty");
        return -1;
    }
    return 0;
malformed:
    snprintf(msg, msg_cap, "malformed multipart body (boundary \"%s\")", boundary);
    return -1;
}
