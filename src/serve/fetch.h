/* fetch.h - image URLs, for servers started with --allow-urls (off by default: fetching
 * client-chosen URLs lets clients make the server connect wherever it can reach).
 *
 * Every hop of a download is checked against a policy (the switches of Roboflow's own
 * server, as command-line options):
 *   - scheme: https only, unless allow_non_https (http then too; nothing else ever);
 *   - host name: a literal IP address, or a name that is not a fully qualified domain
 *     (no dot, "localhost", *.localhost, *.local, *.internal, *.lan, *.localdomain,
 *     *.home.arpa, an all-digit last label), is
 *     refused unless allow_without_fqdn;
 *   - allow list: when given, only the destinations it names are fetched; deny list: the
 *     destinations it names never are. Entries are host names (exact, case-insensitive),
 *     IP addresses or CIDR ranges (10.0.0.0/8, fd00::/8);
 *   - addresses: every address a connection is about to use (after DNS, inside libcurl's
 *     socket callback, so a second DNS answer cannot swap the target) must be global
 *     unicast: loopback, private, link-local, shared (CGNAT), documentation, benchmark,
 *     multicast, reserved, unique-local, and IPv4 embedded in mapped, NAT64 or 6to4 IPv6
 *     addresses of those ranges are refused, unless the allow list names the host or an
 *     address range containing the address.
 * Redirects are followed one hop at a time (at most max_redirects), each hop checked like
 * the first; proxies from the environment are ignored. At most max_bytes are received
 * (checked on the announced length and while receiving), within timeout_ms.
 *
 * Errors never carry the remote's bytes or libcurl's texts: "image URL refused: <rule>"
 * (400), "could not fetch the image URL (<what failed>)" (400), too large (413), too slow
 * (504). Needs libcurl at build time; without it every fetch is a 501 that says so.
 */
#ifndef RFS_SERVE_FETCH_H
#define RFS_SERVE_FETCH_H

#include "serve/request.h"

#include <stddef.h>
#include <stdint.h>

typedef struct rfs_url_net {
    int family;         /* 0: a host name; AF_INET or AF_INET6: an address range */
    uint8_t addr[16];
    int bits;           /* prefix length */
    char name[256];     /* host name, lower case */
} rfs_url_net;

typedef struct rfs_url_policy {
    int allow_non_https;
    int allow_without_fqdn;
    int max_redirects;
    rfs_url_net *allow;  /* NULL: no allow list */
    int n_allow;
    rfs_url_net *deny;
    int n_deny;
} rfs_url_policy;

/* Parses a comma-separated list of host names, addresses and CIDR ranges into a malloc'd
 * array. Returns 0, or -1 with a message in msg naming the bad entry. */
int rfs_url_list_parse(rfs_url_net **out, int *n, const char *list, char *msg, size_t msg_cap);

/* Whether a URL is acceptable by its text alone (scheme, host, lists); sets *host_named to
 * 1 when the allow list names its host (its addresses may then be non-global). 0, or 400
 * with the refusal in e. Checked again on every redirect by rfs_fetch_url. */
int rfs_url_check(const rfs_url_policy *p, const char *url, int *host_named, rfs_http_err *e);

/* Whether an address (struct sockaddr_in / sockaddr_in6) may be connected to. 1: yes;
 * 0: no, with the reason in why (why_cap bytes). */
int rfs_url_addr_ok(const rfs_url_policy *p, const void *sockaddr, int host_named, char *why,
                    size_t why_cap);

/* Call once before any thread fetches (libcurl's global initialisation). */
void rfs_fetch_global_init(void);

/* Downloads url into *out (malloc'd, caller frees). gone(user) (may be NULL) is polled
 * while the transfer runs; when it returns nonzero the download stops with status 499.
 * 0, or the HTTP status of the error (see the top of this file). */
int rfs_fetch_url(uint8_t **out, size_t *len, const char *url, const rfs_url_policy *p,
                  size_t max_bytes, long timeout_ms, int (*gone)(void *user), void *user,
                  rfs_http_err *e);

#endif
