#!/usr/bin/env python3
"""Request counters of a stable and a canary backend, for Prometheus to scrape.

Usage: request_counter.py [--target NAME] [--rps N]
Prints its port on stdout, then serves:
  GET  /metrics   http_requests_total{target, backend, code} counters; each
                  scrape first adds N requests per backend, the backend's
                  error rate of them answered 500 (the rest 200)
  POST /error_rate?backend=canary&rate=0.5   sets a backend's error rate
  GET  /error_rate                           the rates as JSON
  GET  /scrapes                              how many times /metrics was read
Exits when its standard input closes.
"""
import argparse
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

ap = argparse.ArgumentParser()
ap.add_argument("--target", default="api")
ap.add_argument("--rps", type=int, default=100)
args = ap.parse_args()

lock = threading.Lock()
rate = {"stable": 0.0, "canary": 0.0}
total = {(b, c): 0 for b in rate for c in ("200", "500")}
carry = {b: 0.0 for b in rate}
scrapes = [0]


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def reply(self, code, body, ctype="application/json"):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        u = urlparse(self.path)
        if u.path == "/metrics":
            lines = ["# TYPE http_requests_total counter"]
            with lock:
                scrapes[0] += 1
                for b in rate:
                    carry[b] += args.rps * rate[b]
                    errors = int(carry[b])
                    carry[b] -= errors
                    total[(b, "500")] += errors
                    total[(b, "200")] += args.rps - errors
                for (b, c), n in sorted(total.items()):
                    lines.append('http_requests_total{target="%s",backend="%s",'
                                 'code="%s"} %d' % (args.target, b, c, n))
            self.reply(200, "\n".join(lines) + "\n", "text/plain; version=0.0.4")
        elif u.path == "/scrapes":
            with lock:
                self.reply(200, str(scrapes[0]))
        elif u.path == "/error_rate":
            with lock:
                self.reply(200, json.dumps(rate))
        else:
            self.reply(404, '{"error":"not found"}')

    def do_POST(self):
        u = urlparse(self.path)
        q = parse_qs(u.query)
        if u.path != "/error_rate":
            return self.reply(404, '{"error":"not found"}')
        try:
            b = q["backend"][0]
            r = float(q["rate"][0])
            if b not in rate or not 0 <= r <= 1:
                raise ValueError
        except (KeyError, ValueError):
            return self.reply(400, '{"error":"want backend=stable|canary&rate=0..1"}')
        with lock:
            rate[b] = r
        self.reply(200, json.dumps(rate))


srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
srv.daemon_threads = True
threading.Thread(target=srv.serve_forever, daemon=True).start()
print(srv.server_address[1], flush=True)
while os.read(sys.stdin.fileno(), 4096):
    pass
srv.shutdown()
