/* cli_opts.h - the command line's conventions, shared by every command.
 *
 * Each command describes its options in a table (name, short name, value name, help text
 * with the default); the same table drives parsing and `rfseg CMD --help`:
 *
 *   --opt VALUE and --opt=VALUE, -o VALUE for options with a short name;
 *   -h, --help prints the command's help and exits 0;
 *   `--` ends the options (everything after it is an operand, even "-x");
 *   `-` alone is an operand (standard input where the command reads one).
 *
 *     cli_parser p;
 *     cli_parser_init(&p, &cmd_predict_help, argc, argv);
 *     const char *opt, *val;
 *     int r;
 *     while ((r = cli_next(&p, &opt, &val)) > 0) {
 *         if (r == CLI_OPERAND) add_input(val);
 *         else if (!strcmp(opt, "--model")) model = val;
 *         ...
 *     }
 *     if (r < 0) return r == CLI_HELP ? 0 : 2;
 */
#ifndef RFS_CLI_OPTS_H
#define RFS_CLI_OPTS_H

#include <stdio.h>

typedef struct cli_opt {
    const char *name; /* "--model" */
    char short_name;  /* 'm', or 0 */
    const char *arg;  /* value name ("MODEL"); NULL for a flag */
    const char *help; /* one or more lines ('\n'), ending with the default where there is one */
} cli_opt;

typedef struct cli_command {
    const char *name;     /* "predict" */
    const char *synopsis; /* lines after "usage: rfseg " */
    const char *about;    /* paragraph(s) after the usage */
    const cli_opt *opts;  /* terminated by {NULL} */
    const char *notes;    /* text after the options, or NULL */
} cli_command;

extern const cli_command cli_cmd_info, cli_cmd_predict, cli_cmd_video, cli_cmd_bench,
    cli_cmd_serve, cli_cmd_convert, cli_cmd_worker;

/* The command called `name`, or NULL. */
const cli_command *cli_command_find(const char *name);
/* The whole help of a command: usage, description, every option with its default. */
void cli_help_print(FILE *f, const cli_command *c);
/* The general usage (all commands, one line each). */
void cli_usage_print(FILE *f);

enum { CLI_END = 0, CLI_OPTION = 1, CLI_OPERAND = 2, CLI_HELP = -1, CLI_ERROR = -2 };

typedef struct cli_parser {
    const cli_command *cmd;
    int argc, i;
    char **argv;
    int operands_only; /* after "--" */
    char name[64];     /* the option name of "--name=value" */
} cli_parser;

void cli_parser_init(cli_parser *p, const cli_command *cmd, int argc, char **argv);
/* The next option (CLI_OPTION: *opt its long name, *val its value or NULL for a flag) or
 * operand (CLI_OPERAND: *val), CLI_END, CLI_HELP (help printed on stdout) or CLI_ERROR
 * (message printed on stderr). */
int cli_next(cli_parser *p, const char **opt, const char **val);

/* Value converters: print "rfseg CMD: --opt: ..." and return 0 when the value is bad. */
int cli_to_int(const cli_parser *p, const char *opt, const char *val, int lo, int hi, int *out);
int cli_to_double(const cli_parser *p, const char *opt, const char *val, double lo, double hi,
                  double *out);
/* A confidence as rfs_parse_confidence reads it (the server's syntax): a fraction in
 * [0, 1] ("0.4") or a percentage ("40%"). */
int cli_to_confidence(const cli_parser *p, const char *opt, const char *val, float *out);
/* val must be one of the '|'-separated words in `choices`. */
int cli_to_choice(const cli_parser *p, const char *opt, const char *val, const char *choices);

/* For commands whose parsing lives elsewhere (bench, serve, worker): copies argv into out (room
 * for 2 * argc + 1 entries) with "--opt=value" split into "--opt" "value" for options of
 * the command's table that take a value; argv is not modified. Returns the new count. */
int cli_split_equals(const cli_command *c, int argc, char **argv, char **out);
/* Frees what cli_split_equals allocated (out and the option names it copied). */
void cli_split_free(char **out, int n, int argc, char **argv);

#endif
