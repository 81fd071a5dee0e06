/*
 * routes.h - the route table of the REST API and the console's endpoints
 * (routes.c): method, path pattern, handler, role and flags of each.
 */
#ifndef SLUICE_ROUTES_H
#define SLUICE_ROUTES_H

#include "http/http.h"

/* The routes of the HTTP edge, ending with a zero entry. */
extern const struct route ctl_routes[];

#endif
