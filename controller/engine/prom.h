/*
 * prom.h - a PromQL instant query against a Prometheus HTTP API
 * (POST {address}/api/v1/query), for canary analysis (engine/analysis.c).
 */
#ifndef SLUICE_PROM_H
#define SLUICE_PROM_H

#include "base/err.h"

struct pipeline_prometheus;

/*
 * Send query (already substituted) to the Prometheus of pr and read its
 * one value.  Blocks for at most pr->timeout_ms.  Return 0 with *value
 * set when the answer is a scalar or a vector of exactly one sample
 * (NaN included: the caller decides), else a negative code with err
 * saying why, in words fit for a stage message:
 *   ERR_NOTFOUND   no sample (an empty vector)
 *   ERR_INVALID    Prometheus answered an error ("bad_data: <its error>",
 *                  verbatim) or something that is not a single sample
 *                  (several series, a matrix, not JSON)
 *   ERR_TRANSIENT  unreachable, timed out, TLS failed, HTTP error without
 *                  a Prometheus error body, or token_env unset
 * The bearer token is read from the controller's environment variable
 * pr->token_env on each call; it never reaches a message.
 */
int	prom_query(const struct pipeline_prometheus *pr, const char *query,
	    double *value, struct err *err) __attribute__((warn_unused_result));

#endif
