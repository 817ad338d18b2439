/* cli_inputs.h - what `rfseg predict` reads: files, directories, globs, standard input, URLs. */
#ifndef RFS_CLI_INPUTS_H
#define RFS_CLI_INPUTS_H

#include <stddef.h>
#include <stdint.h>

typedef enum cli_input_kind { CLI_IN_FILE, CLI_IN_STDIN, CLI_IN_URL, CLI_IN_ERROR } cli_input_kind;

typedef struct cli_input {
    cli_input_kind kind;
    char *name;  /* path, "-" or URL (shown without credentials) */
    char *error; /* CLI_IN_ERROR: why the operand gave nothing (reported in order) */
} cli_input;

typedef struct cli_inputs {
    cli_input *v;
    int n, cap;
    int n_images; /* entries that are not errors */
} cli_inputs;

/* Expands one operand: "-" (standard input), an http(s) URL (only with allow_urls, else a
 * usage error), a directory (its images by extension, sorted by name; subdirectories with
 * recursive), a glob pattern that names no existing file, or a file. Returns 0 on a usage
 * error (printed), 1 otherwise; operands that expand to nothing add a CLI_IN_ERROR entry. */
int cli_inputs_add(cli_inputs *in, const char *operand, int recursive, int allow_urls);
void cli_inputs_free(cli_inputs *in);

/* The whole of standard input (at most max_bytes), malloc'd. 0 and a message on failure. */
int cli_read_stdin(uint8_t **out, size_t *len, size_t max_bytes, char *err, size_t errcap);

/* An http(s) URL's body (at most max_bytes, 3 redirects, timeout_ms), malloc'd. 0 and a
 * message (without the server's bytes) on failure. */
#define CLI_URL_MAX_BYTES ((size_t)16 << 20)
#define CLI_URL_TIMEOUT_MS 30000L
int cli_fetch_url(uint8_t **out, size_t *len, const char *url, size_t max_bytes, long timeout_ms,
                  char *err, size_t errcap);

/* 1 for http:// and https:// operands. */
int cli_is_http_url(const char *s);

#endif
