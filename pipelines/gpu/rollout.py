#!/usr/bin/env python3
"""Stage `rollout` (canary) of resnet-train: a KServe canary rollout.

Each canary step patches the InferenceService named SLUICE_CANARY_TARGET
(in this pod's namespace) with the new storageUri and
canaryTrafficPercent = SLUICE_CANARY_WEIGHT, waits until the new revision
is ready, then watches the canary revision in Prometheus for --observe
seconds, reporting every --interval seconds
    ::metric error_rate=R p95_latency_ms=L requests_per_second=Q
so that the step's analysis gates see live numbers.  --abort (the
rollback_command) sets canaryTrafficPercent to 0: KServe sends all traffic
back to the last rolled-out revision.

Standard library only; talks to the Kubernetes API with the pod's service
account, which needs get and patch on inferenceservices.serving.kserve.io.
"""

import argparse
import json
import math
import os
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

SA = "/var/run/secrets/kubernetes.io/serviceaccount"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Kube:
    def __init__(self):
        host = os.environ.get("KUBERNETES_SERVICE_HOST")
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        if not host:
            raise SystemExit("rollout: not in a Kubernetes pod "
                             "(KUBERNETES_SERVICE_HOST unset)")
        if ":" in host:
            host = "[%s]" % host
        self.base = "https://%s:%s" % (host, port)
        with open(os.path.join(SA, "token")) as fh:
            self.token = fh.read().strip()
        with open(os.path.join(SA, "namespace")) as fh:
            self.namespace = fh.read().strip()
        self.ctx = ssl.create_default_context(
            cafile=os.path.join(SA, "ca.crt"))

    def call(self, method, path, body=None, ctype="application/json"):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data,
                                     method=method)
        req.add_header("Authorization", "Bearer " + self.token)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", ctype)
        try:
            with urllib.request.urlopen(req, context=self.ctx,
                                        timeout=30) as resp:
                return json.load(resp)
        except urllib.error.HTTPError as e:
            detail = e.read(4096).decode("utf-8", "replace")
            raise SystemExit("rollout: %s %s: %d %s"
                             % (method, path, e.code, detail))

    def isvc_path(self, name):
        return ("/apis/serving.kserve.io/v1beta1/namespaces/%s/"
                "inferenceservices/%s"
                % (self.namespace, urllib.parse.quote(name, safe="")))


def ready(isvc, generation):
    """(True, predictor status) once the patched spec is served."""
    status = isvc.get("status", {})
    if status.get("observedGeneration", 0) < generation:
        return False, {}
    pred = status.get("components", {}).get("predictor", {})
    conds = {c.get("type"): c.get("status")
             for c in status.get("conditions", [])}
    return (conds.get("Ready") == "True"
            and pred.get("latestCreatedRevision")
            and pred.get("latestCreatedRevision")
            == pred.get("latestReadyRevision")), pred


def prom_query(base, query):
    """One instant query; a float, or None when there is no sample."""
    url = "%s/api/v1/query?%s" % (base.rstrip("/"),
                                  urllib.parse.urlencode({"query": query}))
    try:
        with urllib.request.urlopen(url, timeout=15) as resp:
            answer = json.load(resp)
    except OSError as e:
        log("rollout: Prometheus query failed: %s" % e)
        return None
    result = answer.get("data", {}).get("result", [])
    if not result:
        return None
    value = float(result[0]["value"][1])
    return value if math.isfinite(value) else None


def observe(prom, namespace, revision, seconds, interval):
    sel = 'namespace_name="%s",revision_name="%s"' % (namespace, revision)
    window = "2m"
    q_err = ('sum(rate(revision_request_count{%s,response_code_class="5xx"}'
             '[%s])) / sum(rate(revision_request_count{%s}[%s]))'
             % (sel, window, sel, window))
    q_p95 = ('histogram_quantile(0.95, sum by (le) '
             '(rate(revision_request_latencies_bucket{%s}[%s])))'
             % (sel, window))
    q_rps = 'sum(rate(revision_request_count{%s}[%s]))' % (sel, window)
    deadline = time.monotonic() + seconds
    while True:
        rps = prom_query(prom, q_rps)
        if rps:
            err = prom_query(prom, q_err) or 0.0
            p95 = prom_query(prom, q_p95)
            line = "::metric error_rate=%.6f requests_per_second=%.3f" % (
                err, rps)
            if p95 is not None:
                line += " p95_latency_ms=%.3f" % p95
            print(line, flush=True)
        else:
            log("rollout: no traffic on %s yet" % revision)
        if time.monotonic() + interval > deadline:
            return
        time.sleep(interval)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="storage URI (pvc://, s3://, gs://)")
    ap.add_argument("--abort", action="store_true")
    ap.add_argument("--observe", type=int, default=300,
                    help="seconds to watch the canary after it is ready")
    ap.add_argument("--interval", type=int, default=30)
    ap.add_argument("--ready-timeout", type=int, default=900)
    args = ap.parse_args(argv)

    target = os.environ.get("SLUICE_CANARY_TARGET", "")
    if not target:
        raise SystemExit("rollout: SLUICE_CANARY_TARGET is not set")
    kube = Kube()
    path = kube.isvc_path(target)
    merge = "application/merge-patch+json"

    if args.abort:
        kube.call("PATCH", path,
                  {"spec": {"predictor": {"canaryTrafficPercent": 0}}}, merge)
        print("rollout: %s: canary traffic 0%%, back to %s"
              % (target, os.environ.get("SLUICE_PREVIOUS_MODEL") or
                 "the previous revision"), flush=True)
        return 0

    if not args.model:
        ap.error("--model is required unless --abort")
    try:
        weight = int(os.environ.get("SLUICE_CANARY_WEIGHT", ""))
    except ValueError:
        raise SystemExit("rollout: SLUICE_CANARY_WEIGHT is not a number")
    if not 0 <= weight <= 100:
        raise SystemExit("rollout: weight %d out of 0..100" % weight)

    patched = kube.call("PATCH", path, {"spec": {"predictor": {
        "canaryTrafficPercent": weight,
        "model": {"storageUri": args.model}}}}, merge)
    generation = patched.get("metadata", {}).get("generation", 0)
    log("rollout: %s: %s at %d%%" % (target, args.model, weight))

    deadline = time.monotonic() + args.ready_timeout
    while True:
        ok, pred = ready(kube.call("GET", path), generation)
        if ok:
            break
        if time.monotonic() > deadline:
            raise SystemExit("rollout: %s not ready after %ds"
                             % (target, args.ready_timeout))
        time.sleep(5)
    revision = pred["latestReadyRevision"]
    print("rollout: %s revision %s ready with %d%% of traffic"
          % (target, revision, weight), flush=True)

    prom = os.environ.get("PROMETHEUS_URL", "")
    if not prom:
        raise SystemExit("rollout: PROMETHEUS_URL is not set")
    observe(prom, kube.namespace, revision, args.observe,
            max(args.interval, 5))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
