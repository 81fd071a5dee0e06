#!/usr/bin/env python3
"""`make run`: switch the demo pipeline's canary to Prometheus analysis, or back.

Usage: demo-prometheus.py FILE [PROMETHEUS_URL COUNTER_URL]

With the URLs, the demo pipeline (FILE, pipelines/demo.yaml of the demo
repository) gets canary.analysis_provider.prometheus at PROMETHEUS_URL, an
analysis query on step 1 (the canary's share of failed requests, from the
request counters Prometheus scrapes), and DEMO_COUNTER_URL in the rollout
stage's environment, so that pipelines/demo/rollout.py sets the canary's
error rate (its --fault-rate) on the counter server.  Without them, the
blocks are taken out again.  The blocks sit between "# >>> make run" and
"# <<< make run" lines and are replaced on every call; a file whose anchor
lines were edited away is left as it is (said on stderr).
"""
import re
import sys

BEGIN = "# >>> make run: Prometheus analysis (scripts/demo-prometheus.py)"
END = "# <<< make run"


def block(indent, lines):
    pad = " " * indent
    return "".join(pad + l + "\n" for l in [BEGIN] + lines + [END])


def main(argv):
    path = argv[0]
    text = open(path).read()
    text = re.sub(r"(?m)^[ ]*" + re.escape(BEGIN) + r"\n(.*\n)*?[ ]*" +
                  re.escape(END) + r"\n", "", text)
    if len(argv) == 3:
        prom, counter = argv[1], argv[2]
        anchors = [
            ("    - name: rollout\n", block(6, [
                'env: { DEMO_COUNTER_URL: "%s" }' % counter])),
            ("        target: demo-api\n", block(8, [
                "analysis_provider:",
                '  prometheus: { address: "%s", timeout: 3s }' % prom])),
            ("              duration: 10s\n", block(14, [
                "interval: 1s",
                "failure_limit: 1",
                "inconclusive: ignore",
                "queries:",
                "  - name: http_error_rate",
                "    query: 'sum(rate(http_requests_total{target=\"${canary.target}\",backend=\"canary\",code=~\"5..\"}[5s])) / sum(rate(http_requests_total{target=\"${canary.target}\",backend=\"canary\"}[5s]))'",
                '    op: "<="',
                "    value: 0.05"])),
        ]
        for anchor, add in anchors:
            if text.count(anchor) != 1:
                print("demo-prometheus: %s was edited (no single %r); left "
                      "as it is" % (path, anchor.strip()), file=sys.stderr)
                return 1
        for anchor, add in anchors:
            text = text.replace(anchor, anchor + add)
    open(path, "w").write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
