/*
 * ctl.h - struct ctl, the one context of a running controller: the
 * configuration and the edges (database, HTTP server, executor, poller,
 * engine).  Passed explicitly; there is no global.
 */
#ifndef SLUICE_CTL_H
#define SLUICE_CTL_H

#include <signal.h>
#include <time.h>

#include "http.h"

struct cfg;
struct engine;
struct http_server;
struct poller;

struct ctl {
	struct cfg		*cfg;		/* owned */
	struct http_server	*http;		/* owned */
	struct poller		*poller;	/* owned */
	struct engine		*engine;	/* owned; engine_wake() from any
						   thread (REST API) */
	time_t			 started_at;
	/*
	 * Readiness parts, set by the loop that owns each edge and read by
	 * /readyz from HTTP threads (plain ints written whole).
	 */
	volatile int		 db_ready;
	volatile int		 migrations_ready;
	volatile int		 executor_ready;
	char			 not_ready_reason[256];
};

/* The routes of the HTTP edge (routes.c), ending with a zero entry. */
extern const struct route ctl_routes[];

#endif
