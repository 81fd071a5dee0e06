/*
 * routes.c - the route table of the HTTP edge (STYLE §13): method, path,
 * handler, minimum role, flags.  docs/api.yaml describes the same set; a
 * test compares the two.
 */
#include <stddef.h>

#include "api_health.h"
#include "ctl.h"
#include "http.h"

const struct route ctl_routes[] = {
	{ "GET", "/healthz", api_healthz, 0, ROUTE_NO_AUTH,
	    "the process is alive" },
	{ "GET", "/readyz", api_readyz, 0, ROUTE_NO_AUTH,
	    "database, migrations and executor are ready" },
	{ NULL, NULL, NULL, 0, 0, NULL },
};
