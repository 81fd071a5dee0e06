/*
 * bench_pipeline.c - parse and validate a pipeline file just under the
 * LIM_PIPELINE_FILE cap (hundreds of stages, every field used), and
 * compare with what libyaml alone takes to parse the same bytes into
 * events: the baseline is measured in the same run, and the ratio is the
 * result.  Canonical JSON serialization is timed too.
 *
 * Usage: bench_pipeline [STAGES]   (default 800)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <yaml.h>

#include "base/buf.h"
#include "base/caps.h"
#include "base/err.h"
#include "pipeline/pipeline.h"
#include "bench_util.h"

static void
put(struct buf *b, int rc)
{
	if (rc < 0) {
		fprintf(stderr, "bench: generated file too large\n");
		exit(1);
	}
	(void)b;
}

/* One stage of about 1 KiB plus pad bytes. */
static void
stage(struct buf *b, int i, size_t pad)
{
	put(b, buf_printf(b, "  - name: stage-%d\n    needs: ", i));
	if (i == 0)
		put(b, buf_puts(b, "[]\n"));
	else if (i == 1)
		put(b, buf_puts(b, "[stage-0]\n"));
	else
		put(b, buf_printf(b, "[stage-%d, stage-%d]\n", i - 1, i - 2));
	put(b, buf_printf(b,
	    "    image: ghcr.io/acme/trainer:1.%d\n"
	    "    command:\n"
	    "      - python3\n"
	    "      - -m\n"
	    "      - trainer.step\n"
	    "      - --epochs=${params.epochs}\n"
	    "      - --run=${run.id}\n",
	    i));
	if (i > 0)
		put(b, buf_printf(b, "      - --input=${stages.stage-%d.artifacts."
		    "model}\n", i - 1));
	put(b, buf_printf(b,
	    "    env:\n"
	    "      STEP: \"%d\"\n"
	    "      DATA_DIR: /data/shard-%d\n"
	    "      NOTE: \"",
	    i, i % 16));
	for (size_t k = 0; k < pad; k++)
		put(b, buf_putc(b, (char)('a' + k % 26)));
	put(b, buf_puts(b, "\"\n"
	    "    resources: { gpu: 1, gpu_resource: nvidia.com/mig-1g.10gb, "
	    "cpu: 1500m, memory: 16Gi }\n"
	    "    node_selector:\n"
	    "      nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3\n"
	    "      topology.kubernetes.io/zone: eu-west-1a\n"
	    "    tolerations:\n"
	    "      - { key: nvidia.com/gpu, operator: Exists, effect: "
	    "NoSchedule }\n"
	    "      - { key: spot, operator: Equal, value: \"true\", effect: "
	    "NoExecute, toleration_seconds: 60 }\n"
	    "    queue: team-a\n"
	    "    priority_class: ml-high\n"
	    "    volumes:\n"
	    "      - { claim: datasets, mount: /data, read_only: true }\n"
	    "      - { claim: models, mount: /models }\n"
	    "    timeout: 2h\n"
	    "    retries: 2\n"
	    "    gates:\n"
	    "      - { metric: auc, op: \">=\", value: 0.90 }\n"
	    "      - { metric: auc, op: \">=\", baseline: production, "
	    "tolerance: 0.005 }\n"));
}

static void
generate(struct buf *b, int stages, size_t pad)
{
	buf_reset(b);
	put(b, buf_puts(b,
	    "apiVersion: sluice/v1\n"
	    "kind: Pipeline\n"
	    "metadata:\n"
	    "  name: big\n"
	    "spec:\n"
	    "  triggers:\n"
	    "    push: { branches: [main], paths: [\"models/**\"] }\n"
	    "    webhook: true\n"
	    "  params: { epochs: \"10\", lr: \"0.001\" }\n"
	    "  defaults:\n"
	    "    env: { MLFLOW_TRACKING_URI: \"http://mlflow:5000\" }\n"
	    "  checkout: true\n"
	    "  stages:\n"));
	for (int i = 0; i < stages; i++)
		stage(b, i, pad);
	put(b, buf_printf(b,
	    "  - name: rollout\n"
	    "    needs: [stage-%d]\n"
	    "    type: canary\n"
	    "    image: ghcr.io/acme/rollout:1\n"
	    "    command: [/bin/rollout, \"${stages.stage-0.artifacts.model}\"]\n"
	    "    canary:\n"
	    "      target: fraud-api\n"
	    "      steps:\n"
	    "        - { weight: 10, analysis: { duration: 5m, gates: "
	    "[{ metric: error_rate, op: \"<=\", value: 0.01 }] } }\n"
	    "        - { weight: 50, approval: required }\n"
	    "        - { weight: 100, approval: required }\n",
	    stages - 1));
}

static int
libyaml_only(const char *data, size_t len)
{
	yaml_parser_t yp;
	yaml_event_t ev;
	int n = 0, done = 0;

	if (!yaml_parser_initialize(&yp))
		return -1;
	yaml_parser_set_input_string(&yp, (const unsigned char *)data, len);
	while (!done) {
		if (!yaml_parser_parse(&yp, &ev)) {
			yaml_parser_delete(&yp);
			return -1;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		n++;
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&yp);
	return n;
}

static double
time_parse(const struct buf *b, int iters)
{
	double t0 = bench_now_s();

	for (int i = 0; i < iters; i++) {
		struct pipeline_errors errs;
		struct pipeline *p = NULL;
		struct err err;

		pipeline_errors_init(&errs);
		if (pipeline_parse(&p, &errs, b->data, b->len, "big.yaml",
		    &err) != 0) {
			fprintf(stderr, "bench: %s\n", err.msg);
			exit(1);
		}
		pipeline_free(p);
		pipeline_errors_release(&errs);
	}
	return (bench_now_s() - t0) / iters;
}

static double
time_libyaml(const struct buf *b, int iters)
{
	double t0 = bench_now_s();

	for (int i = 0; i < iters; i++) {
		if (libyaml_only(b->data, b->len) < 0) {
			fprintf(stderr, "bench: libyaml failed\n");
			exit(1);
		}
	}
	return (bench_now_s() - t0) / iters;
}

int
main(int argc, char **argv)
{
	int stages = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 800;
	struct pipeline_errors errs;
	struct pipeline *p = NULL;
	size_t base, pad = 0;
	double tp, ty, tj, t0;
	struct err err;
	char *json = NULL;
	struct buf b;
	int iters;

	if (stages < 1 || stages >= LIM_STAGES) {
		fprintf(stderr, "usage: bench_pipeline [STAGES < %d]\n",
		    LIM_STAGES);
		return 2;
	}
	buf_init(&b, LIM_PIPELINE_FILE);
	generate(&b, stages, 0);
	base = b.len;
	if (base < LIM_PIPELINE_FILE - 64)
		pad = (LIM_PIPELINE_FILE - 64 - base) / (size_t)stages;
	generate(&b, stages, pad);

	/* warm up, check it is valid, and size the runs to about 2 s each */
	pipeline_errors_init(&errs);
	if (pipeline_parse(&p, &errs, b.data, b.len, "big.yaml", &err) != 0) {
		fprintf(stderr, "bench: generated pipeline is invalid: %s\n",
		    err.msg);
		return 1;
	}
	t0 = bench_now_s();
	if (pipeline_to_json(p, &json, &err) != 0) {
		fprintf(stderr, "bench: %s\n", err.msg);
		return 1;
	}
	free(json);
	tj = bench_now_s() - t0;
	tp = time_parse(&b, 1);
	iters = (int)(2.0 / (tp > 1e-6 ? tp : 1e-6));
	if (iters < 3)
		iters = 3;
	if (iters > 1000)
		iters = 1000;
	tp = time_parse(&b, iters);
	ty = time_libyaml(&b, iters);
	t0 = bench_now_s();
	for (int i = 0; i < iters; i++) {
		if (pipeline_to_json(p, &json, &err) != 0)
			return 1;
		free(json);
	}
	tj = (bench_now_s() - t0) / iters;

	printf("bench_pipeline: %zu bytes (cap %d), %zu stages, %d runs each\n",
	    b.len, LIM_PIPELINE_FILE, p->nstages, iters);
	printf("  libyaml events only     %8.2f ms/file  (baseline)\n",
	    ty * 1e3);
	printf("  pipeline_parse+validate %8.2f ms/file  %.2fx libyaml\n",
	    tp * 1e3, tp / ty);
	printf("  pipeline_to_json        %8.2f ms/file  %.2fx libyaml\n",
	    tj * 1e3, tj / ty);
	pipeline_free(p);
	pipeline_errors_release(&errs);
	buf_release(&b);
	return 0;
}
