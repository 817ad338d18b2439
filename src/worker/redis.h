/* redis.h - the worker's Redis glue over hiredis: URLs, connections that come back, and
 * small readers for the replies of the stream commands.
 *
 * A connection (rfs_rconn) wraps one hiredis context for one thread. Any I/O or protocol
 * error makes it broken: the caller drops it and connects again (rfs_rconn_open), with
 * backoff, since hiredis contexts cannot be reused after an error.
 */
#ifndef RFS_WORKER_REDIS_H
#define RFS_WORKER_REDIS_H

#include <stddef.h>

typedef struct rfs_redis_url {
    char host[256];
    int port;           /* default 6379 */
    int db;             /* default 0 */
    char user[128];     /* ACL user; "" for the default user */
    char password[256]; /* "" for none */
} rfs_redis_url;

/* redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] (HOST may be [IPv6]). 0, or -1 with a
 * message in err. */
int rfs_redis_url_parse(rfs_redis_url *u, const char *s, char *err, size_t cap);

#if RFS_HAVE_HIREDIS
#include <hiredis/hiredis.h>

/* Connects (timeout_ms for the connection), authenticates, selects the database and sets
 * the command timeout to cmd_timeout_ms. NULL with a message in err on failure. */
redisContext *rfs_rconn_open(const rfs_redis_url *u, int timeout_ms, int cmd_timeout_ms, char *err,
                             size_t cap);

/* One command from argv (binary-safe with lengths; lens NULL: strlen). Returns the reply
 * (freeReplyObject it) or NULL when the connection broke (message in c->errstr). */
redisReply *rfs_rcmd(redisContext *c, int argc, const char **argv, const size_t *lens);
/* Convenience: a command from NUL-terminated words, NULL-terminated list. */
redisReply *rfs_rcmdv(redisContext *c, ...);

/* 1 when r is an error reply that starts with prefix (e.g. "NOGROUP", "BUSYGROUP"). */
int rfs_reply_is_error(const redisReply *r, const char *prefix);

/* One stream entry of a reply: its id and its field/value pairs (pointers into the reply). */
typedef struct rfs_sentry {
    const char *id;
    const redisReply *fields; /* array of 2n strings, or NULL when the entry was deleted */
} rfs_sentry;

/* Reads [[id, [f, v, ...]], ...] into out (at most cap entries); the count, or -1 when the
 * reply has another shape. */
int rfs_reply_entries(const redisReply *arr, rfs_sentry *out, int cap);
#endif

#endif
