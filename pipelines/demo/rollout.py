#!/usr/bin/env python3
"""Stage `rollout` (canary): shift synthetic traffic to the new model.

There is no real service behind the demo target.  Each canary step
"routes" SLUICE_CANARY_WEIGHT percent of a deterministic batch of synthetic
requests to the new model (the rest stay on SLUICE_PREVIOUS_MODEL), scores
them, holds for a moment as a real step would, and reports
    ::metric error_rate=R canary_requests=N p95_latency_ms=L
A request counts as an error when the model cannot score it, its
simulated latency passes the timeout or it hits a simulated transient
failure (about 0.4%).  --fault-rate injects failures so
the demo can show an analysis gate failing and the rollback.

With --abort (the pipeline's rollback_command, run at weight 0) it routes
all traffic back to the previous model and reports nothing.

Under `make run` with Prometheus installed, DEMO_COUNTER_URL names the
request-counter server Prometheus scrapes (tests/fakes/request_counter.py):
each step sets the canary's error rate there to the one it measured (and
--abort back to 0), so the pipeline's Prometheus analysis sees it.
"""

import argparse
import json
import math
import os
import random
import sys
import time
import urllib.request
import zlib

import stagelib

REQUESTS = 2000          # synthetic requests per step, all routes
TIMEOUT_MS = 250.0       # a slower request counts as an error
TRANSIENT = 0.004        # share of requests that fail whatever the model


def load_model(uri):
    with stagelib.open_input(uri) as fh:
        model = json.load(fh)
    if model.get("kind") != "logistic_regression":
        raise SystemExit("rollout: %s is not a logistic_regression model"
                         % uri)
    return model


def serve(model, weight, seed, fault_rate):
    """Route weight% of the requests to model; return the canary stats."""
    rng = random.Random(seed)
    n_features = len(model["features"])
    served = errors = 0
    latencies = []
    for _ in range(REQUESTS):
        x = [rng.gauss(0.0, 1.0) for _ in range(n_features)]
        to_canary = rng.random() * 100.0 < weight
        latency = rng.lognormvariate(math.log(18.0), 0.8)
        fault = rng.random() < fault_rate or rng.random() < TRANSIENT
        if not to_canary:
            continue
        served += 1
        latencies.append(latency)
        p = stagelib.predict(model, x)
        if fault or not 0.0 <= p <= 1.0 or latency > TIMEOUT_MS:
            errors += 1
    latencies.sort()
    p95 = latencies[int(0.95 * (len(latencies) - 1))] if latencies else 0.0
    return served, errors, p95


def set_counter_error_rate(rate):
    """Tell the demo's request counters the canary's error rate, if any."""
    url = os.environ.get("DEMO_COUNTER_URL")
    if not url:
        return
    try:
        req = urllib.request.Request("%s/error_rate?backend=canary&rate=%.4f"
                                     % (url, min(max(rate, 0.0), 1.0)),
                                     data=b"", method="POST")
        urllib.request.urlopen(req, timeout=5).read()
        print("rollout: canary error rate %.4f sent to %s" % (rate, url),
              flush=True)
    except OSError as e:
        print("rollout: cannot reach the request counters at %s: %s"
              % (url, e), flush=True)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="model URI (file://) being rolled out")
    ap.add_argument("--abort", action="store_true",
                    help="roll back: all traffic to the previous model")
    ap.add_argument("--fault-rate", type=float, default=0.0,
                    help="share of canary requests that fail (demo knob)")
    ap.add_argument("--hold", type=float, default=1.0,
                    help="seconds to keep the step's traffic flowing")
    args = ap.parse_args(argv)

    target = stagelib.env("SLUICE_CANARY_TARGET", "demo-api")
    previous = stagelib.env("SLUICE_PREVIOUS_MODEL", "(none)")
    step = stagelib.env("SLUICE_CANARY_STEP", "0")

    if args.abort:
        set_counter_error_rate(0.0)
        print("rollout: rolled back %s: 100%% of traffic to %s, canary "
              "removed" % (target, previous), flush=True)
        return 0

    if not args.model:
        ap.error("--model is required unless --abort")
    if not 0.0 <= args.fault_rate <= 1.0:
        ap.error("--fault-rate must be between 0 and 1")
    weight_text = stagelib.env("SLUICE_CANARY_WEIGHT")
    try:
        weight = int(weight_text)
    except ValueError:
        raise SystemExit("rollout: SLUICE_CANARY_WEIGHT must be set to "
                         "0..100 (got %r)" % weight_text)
    if not 0 <= weight <= 100:
        raise SystemExit("rollout: SLUICE_CANARY_WEIGHT %d out of 0..100"
                         % weight)

    model = load_model(args.model)
    print("rollout: step %s: %s routes %d%% to %s, %d%% to %s"
          % (step, target, weight, args.model, 100 - weight, previous),
          flush=True)
    seed = zlib.crc32(("%s/%s/%d" % (target, step, weight)).encode())
    served, errors, p95 = serve(model, weight, seed, args.fault_rate)
    set_counter_error_rate(errors / served if served else 0.0)
    if args.hold > 0:
        time.sleep(args.hold)
    stagelib.metric(error_rate=errors / served if served else 0.0,
                    canary_requests=served, p95_latency_ms=p95)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
