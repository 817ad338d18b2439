/* cli_opts.c - option parsing from the commands' tables (cli_opts.h). */
#include "cli_opts.h"

#include "rfseg.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void cli_parser_init(cli_parser *p, const cli_command *cmd, int argc, char **argv) {
    memset(p, 0, sizeof *p);
    p->cmd = cmd;
    p->argc = argc;
    p->argv = argv;
    p->i = 1; /* argv[0] is the command's name */
}

static const cli_opt *find_long(const cli_command *c, const char *name, size_t len) {
    for (const cli_opt *o = c->opts; o->name; o++)
        if (strlen(o->name) == len && !strncmp(o->name, name, len)) return o;
    return NULL;
}

static const cli_opt *find_short(const cli_command *c, char ch) {
    for (const cli_opt *o = c->opts; o->name; o++)
        if (o->short_name == ch) return o;
    return NULL;
}

int cli_next(cli_parser *p, const char **opt, const char **val) {
    *opt = NULL;
    *val = NULL;
    if (p->i >= p->argc) return CLI_END;
    const char *a = p->argv[p->i++];
    if (p->operands_only || a[0] != '-' || !a[1]) { /* "-" alone is an operand */
        *val = a;
        return CLI_OPERAND;
    }
    if (!strcmp(a, "--")) {
        p->operands_only = 1;
        return cli_next(p, opt, val);
    }
    const cli_opt *o;
    const char *inline_val = NULL;
    if (a[1] == '-') {
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        o = find_long(p->cmd, a, len);
        if (eq) inline_val = eq + 1;
        if (!o) {
            fprintf(stderr, "rfseg %s: unknown option %.*s (see rfseg %s --help)\n", p->cmd->name,
                    (int)len, a, p->cmd->name);
            return CLI_ERROR;
        }
    } else {
        o = find_short(p->cmd, a[1]);
        if (!o) {
            fprintf(stderr, "rfseg %s: unknown option %s (see rfseg %s --help)\n", p->cmd->name, a,
                    p->cmd->name);
            return CLI_ERROR;
        }
        if (a[2]) {
            if (!o->arg) {
                fprintf(stderr, "rfseg %s: unknown option %s (options are not combined; see rfseg %s --help)\n",
                        p->cmd->name, a, p->cmd->name);
                return CLI_ERROR;
            }
            inline_val = a + 2; /* -mMODEL */
        }
    }
    if (!strcmp(o->name, "--help")) {
        cli_help_print(stdout, p->cmd);
        return CLI_HELP;
    }
    *opt = o->name;
    if (!o->arg) {
        if (inline_val) {
            fprintf(stderr, "rfseg %s: %s takes no value\n", p->cmd->name, o->name);
            return CLI_ERROR;
        }
        return CLI_OPTION;
    }
    if (inline_val) *val = inline_val;
    else if (p->i < p->argc) *val = p->argv[p->i++];
    else {
        fprintf(stderr, "rfseg %s: %s needs a value (%s)\n", p->cmd->name, o->name, o->arg);
        return CLI_ERROR;
    }
    return CLI_OPTION;
}

int cli_to_int(const cli_parser *p, const char *opt, const char *val, int lo, int hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(val, &end, 10);
    if (errno || *end || end == val || isspace((unsigned char)*val) || v < lo || v > hi) {
        fprintf(stderr, "rfseg %s: %s: '%s' is not an integer in [%d, %d]\n", p->cmd->name, opt, val, lo, hi);
        return 0;
    }
    *out = (int)v;
    return 1;
}

int cli_to_double(const cli_parser *p, const char *opt, const char *val, double lo, double hi,
                  double *out) {
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    if (errno || *end || end == val || isspace((unsigned char)*val) || !(v >= lo && v <= hi)) {
        fprintf(stderr, "rfseg %s: %s: '%s' is not a number in [%g, %g]\n", p->cmd->name, opt, val, lo, hi);
        return 0;
    }
    *out = v;
    return 1;
}

int cli_to_confidence(const cli_parser *p, const char *opt, const char *val, float *out) {
    if (rfs_parse_confidence(val, out) == RFS_OK) return 1;
    fprintf(stderr, "rfseg %s: %s: '%s' is not a confidence: give a fraction in [0, 1] (0.4) or a "
            "percentage (40%%)\n", p->cmd->name, opt, val);
    return 0;
}

int cli_to_choice(const cli_parser *p, const char *opt, const char *val, const char *choices) {
    size_t n = strlen(val);
    for (const char *c = choices; *c;) {
        const char *bar = strchr(c, '|');
        size_t len = bar ? (size_t)(bar - c) : strlen(c);
        if (len == n && !strncmp(c, val, n)) return 1;
        c += len + (bar != NULL);
    }
    char list[256];
    snprintf(list, sizeof list, "%s", choices);
    for (char *s = list; *s; s++)
        if (*s == '|') *s = ' ';
    fprintf(stderr, "rfseg %s: %s: unknown value '%s' (one of: %s)\n", p->cmd->name, opt, val, list);
    return 0;
}

int cli_split_equals(const cli_command *c, int argc, char **argv, char **out) {
    int n = 0;
    for (int i = 0; i < argc; i++) {
        char *a = argv[i], *eq = a[0] == '-' && a[1] == '-' ? strchr(a, '=') : NULL;
        const cli_opt *o = eq ? find_long(c, a, (size_t)(eq - a)) : NULL;
        char *name = o && o->arg ? strndup(a, (size_t)(eq - a)) : NULL; /* argv stays intact */
        if (name) {
            out[n++] = name;
            out[n++] = eq + 1;
        } else {
            out[n++] = a;
        }
    }
    out[n] = NULL;
    return n;
}

void cli_split_free(char **out, int n, int argc, char **argv) {
    for (int i = 0; i < n; i++) {
        int theirs = 0;
        for (int k = 0; k < argc && !theirs; k++) theirs = out[i] >= argv[k] && out[i] <= argv[k] + strlen(argv[k]);
        if (!theirs) free(out[i]); /* an option name copied out of "--opt=value" */
    }
    free(out);
}
