/*
 * traffic.h - canary traffic moved by the controller itself
 * (canary.traffic provider kserve or gateway, docs/engine.md "Traffic
 * providers"), through the engine's Kubernetes client (kube_traffic.h):
 * an InferenceService's storageUri and canaryTrafficPercent, or the
 * weights of an HTTPRoute's two backendRefs.  traffic_set and
 * traffic_restore are used by canary.c inside a pass, traffic_follow by
 * loop.c after a pass when it is due; not for other modules.
 *
 * Every call sets values (never adds), reads first and writes only what
 * differs, so a call repeated after a crash writes nothing twice.  What
 * must survive a crash (the InferenceService's storageUri before the
 * first change) is kept in PostgreSQL before the change.  Calls block on
 * the Kubernetes API and the database.
 */
#ifndef SLUICE_TRAFFIC_H
#define SLUICE_TRAFFIC_H

#include <stddef.h>

#include "base/err.h"
#include "engine/pass.h"

struct pipeline_canary;

/*
 * How the waiting_reason of a stage waiting for its traffic begins
 * ("traffic to 10%: inferenceservice fraud not ready: ..."), so that
 * canary.c clears only a reason of its own.
 */
#define TRAFFIC_WAIT_PREFIX	"traffic to "

/* Whether the controller moves c's traffic (provider kserve or gateway). */
int	traffic_by_controller(const struct pipeline_canary *c);

/*
 * Put canary stage st's traffic at weight (final: the promotion, which
 * for kserve removes canaryTrafficPercent).  1: in place and serving;
 * 0: changed or changing, not serving yet (why says what it waits for:
 * the InferenceService's not-Ready condition); ERR_TRANSIENT: the API or
 * the database could not be reached (why says; try again); any other
 * code: it cannot be done (err says why: a missing InferenceService or
 * route, a route without the named backends, no model version, no
 * Kubernetes client).
 */
int	traffic_set(struct eng_pass *ps, const struct snap_stage *st,
	    const struct pipeline_canary *c, int weight, int final, char *why,
	    size_t len, struct err *err) __attribute__((warn_unused_result));

/*
 * Put st's traffic back on the stable version: kserve canaryTrafficPercent
 * 0 and the storageUri kept before the first change (nothing to do when
 * none was kept: nothing was changed); gateway weights 100 / 0.  0 when
 * done; ERR_TRANSIENT: try again; other codes as traffic_set.
 */
int	traffic_restore(struct eng_pass *ps, const struct snap_stage *st,
	    const struct pipeline_canary *c, struct err *err)
	    __attribute__((warn_unused_result));

/*
 * Move the traffic of the production changes made by hand (promotions
 * and rollbacks through the API, recorded in production_traffic by
 * store_model_manual) that are still open: for kserve the
 * InferenceService serves the version now in production to every
 * request (storageUri its URI, canaryTrafficPercent removed); for
 * gateway the route sends every request to the stable backend (weights
 * 100 / 0).  Read, compare, patch only what differs, as traffic_set, so
 * a controller killed at any moment patches nothing twice.  Each row's
 * outcome is recorded: done; pending while the object does not serve it
 * yet or the API cannot be reached (looked at again after poll_ms or
 * backoff_ms); failed with the message (a missing object, no
 * Kubernetes client; tried again after sweep_ms).  Lowers e->next_ms to
 * the next look and sets e->traffic_due_ms to it (or to the safety
 * sweep, sweep_ms, when nothing is open): loop.c calls it after a pass
 * only when due, or when its listener heard STORE_TRAFFIC_NOTIFY, so a
 * pass with nothing to follow costs no statement here.  Only the engine
 * holding the engine lock calls it.
 * Errors: the database's (the rows stay as they were).
 */
struct engine;
int	traffic_follow(struct engine *e, struct err *err)
	    __attribute__((warn_unused_result));

#endif
