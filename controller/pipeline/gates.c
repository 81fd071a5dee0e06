/* gates.c - gate evaluation and messages; see gates.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "pipeline/gates.h"

void
gate_format_number(double v, char *out, size_t outlen)
{
	(void)snprintf(out, outlen, "%.15g", v);
	if (strtod(out, NULL) != v)
		(void)snprintf(out, outlen, "%.17g", v);
}

int
gate_check(const struct pipeline_gate *g, int have, double observed,
    const struct gate_baseline *b, char *msg, size_t msglen)
{
	char obs[40], thr[40], base[40], tol[40];
	double threshold;

	msg[0] = '\0';
	if (!have) {
		(void)snprintf(msg, msglen, "metric '%s' was not reported",
		    g->metric);
		return 0;
	}
	gate_format_number(observed, obs, sizeof(obs));
	if (!g->baseline) {
		if (pipeline_gate_holds(g, observed, 0.0))
			return 1;
		gate_format_number(g->value, thr, sizeof(thr));
		(void)snprintf(msg, msglen, "%s = %s is not %s %s", g->metric,
		    obs, pipeline_op_name(g->op), thr);
		return 0;
	}
	if (b == NULL || !b->found)
		return 1;
	if (pipeline_gate_holds(g, observed, b->value))
		return 1;
	switch (g->op) {
	case PIPELINE_OP_GE:
	case PIPELINE_OP_GT:
		threshold = b->value - g->tolerance;
		break;
	case PIPELINE_OP_LE:
	case PIPELINE_OP_LT:
		threshold = b->value + g->tolerance;
		break;
	default:
		threshold = b->value;
		break;
	}
	gate_format_number(threshold, thr, sizeof(thr));
	gate_format_number(b->value, base, sizeof(base));
	gate_format_number(g->tolerance, tol, sizeof(tol));
	if (g->op == PIPELINE_OP_EQ || g->op == PIPELINE_OP_NE)
		(void)snprintf(msg, msglen, "%s = %s is not %s %s within %s "
		    "(baseline from %s)", g->metric, obs,
		    pipeline_op_name(g->op), base, tol, b->source);
	else
		(void)snprintf(msg, msglen, "%s = %s is not %s %s (baseline %s "
		    "from %s, tolerance %s)", g->metric, obs,
		    pipeline_op_name(g->op), thr, base, b->source, tol);
	return 0;
}
