/*
 * testapi.h - an API server for integration tests: a fresh migrated
 * database, a struct ctl with the real HTTP edge (pool, guard, metrics,
 * rate limits), served on 127.0.0.1 with a free port, and a libcurl client.
 *
 *	struct testapi *a = testapi_start(NULL, NULL, "hook-secret");
 *	struct testreply r;
 *
 *	testapi_request(a, &r, "GET", "/healthz", NULL, 0, NULL);
 *	assert_int_equal(r.status, 200);
 *	testreply_free(&r);
 *	testapi_stop(a);
 *
 * Failures to set up print why and return NULL / -1.
 */
#ifndef SLUICE_TESTAPI_H
#define SLUICE_TESTAPI_H

#include <stddef.h>

#include "http/ctl.h"
#include "testdb.h"

struct route;

struct testapi {
	struct testdb	 t;
	struct ctl	 ctl;
	char		 base[64];	/* http://127.0.0.1:PORT */
	int		 record;	/* the real route table: record every answer */
	long		 timeout_ms;	/* of each request; 0: 60 s */
};

/*
 * Start a server with routes (NULL: the real ctl_routes), configuration
 * settings ("key=value" overrides as for --set, NULL-terminated, may be
 * NULL) and the webhook secret (NULL: none).
 */
struct testapi *testapi_start(const struct route *routes,
	    const char *const *settings, const char *secret);
/* Stop the server, free the ctl, drop the database. */
void	testapi_stop(struct testapi *a);

struct testreply {
	long	 status;
	char	*body;		/* NUL-terminated, "" when empty */
	size_t	 len;
	char	 headers[16384];
	int	 curl_code;	/* CURLE_OK, or why the transfer failed */
};

/*
 * One request: method, path (with query), body (len bytes, NULL for
 * none), extra headers ("Name: value", NULL-terminated, may be NULL).
 * Fills r; free with testreply_free.
 */
void	testapi_request(struct testapi *a, struct testreply *r,
	    const char *method, const char *path, const char *body, size_t len,
	    const char *const *headers);
void	testreply_free(struct testreply *r);

/*
 * The value of response header name (case-insensitive) into out, or -1
 * when absent.
 */
int	testreply_header(const struct testreply *r, const char *name,
	    char *out, size_t outlen);

/* A new token of role ("viewer", ...) called name into out (48 bytes). */
int	testapi_token(struct testapi *a, const char *name, const char *role,
	    char *out);

/*
 * testapi_request with "Authorization: Bearer token" (token NULL: none)
 * and body as a NUL-terminated string (NULL: none).
 */
void	testapi_as(struct testapi *a, struct testreply *r, const char *token,
	    const char *method, const char *path, const char *body);

/* Read a file of the source tree ($SLUICE_TOP/rel); caller frees. */
char	*test_read_top_file(const char *rel, size_t *len);

#endif
