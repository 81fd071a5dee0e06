#!/usr/bin/env python3
"""A fake of what Sluice notifies: a webhook receiver (Slack-compatible or
JSON) and the commit status APIs of GitHub and GitLab, in one HTTP server.

    notify_receiver.py --port N --log FILE [--token T]

Every request is appended to FILE as one JSON line:
    {"method", "path", "headers": {lower-case name: value}, "body": text,
     "answer": status}
so a test can stop the server (the receiver is down), start it again on
the same port and still see everything it was sent.

Paths:
    POST /github/repos/{owner}/{repo}/statuses/{sha}
        GitHub: needs "Authorization: Bearer T"; a JSON body with state in
        pending|success|failure|error and a context; answers 201.
    POST /gitlab/api/v4/projects/{id}/statuses/{sha}
        GitLab: needs "PRIVATE-TOKEN: T"; state in
        pending|running|success|failed|canceled and a name; answers 201.
    POST anything else: a webhook receiver; the body must be JSON; 200.
    POST /_fail {"status": S, "times": N, "prefix": P}
        the next N requests whose path starts with P (default: any) are
        answered S (a 5xx, say) instead; not logged.
    POST /_fail/clear
        forget every such failure still to come.

Bad requests (wrong token, bad state) are answered 401/422 and logged too,
so a test sees them.
"""
import argparse
import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GITHUB = re.compile(r"^/github/repos/[^/]+/[^/]+/statuses/[0-9a-f]{40}$")
GITLAB = re.compile(r"^/gitlab/api/v4/projects/[^/]+/statuses/[0-9a-f]{40}$")
GITHUB_STATES = {"pending", "success", "failure", "error"}
GITLAB_STATES = {"pending", "running", "success", "failed", "canceled"}

lock = threading.Lock()
failures = []  # [{"status", "times", "prefix"}]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--token", default="token")
    args = ap.parse_args()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            pass

        def answer(self, status, doc):
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n)
            if self.path == "/_fail":
                with lock:
                    failures.append(json.loads(raw))
                return self.answer(200, {})
            if self.path == "/_fail/clear":
                with lock:
                    failures.clear()
                return self.answer(200, {})
            status, doc = self.judge(raw)
            with lock:
                for f in failures:
                    if f.get("times", 0) > 0 and \
                            self.path.startswith(f.get("prefix", "")):
                        f["times"] -= 1
                        status, doc = f["status"], {"message": "told to fail"}
                        break
                with open(args.log, "a") as out:
                    out.write(json.dumps({
                        "method": "POST", "path": self.path,
                        "headers": {k.lower(): v
                                    for k, v in self.headers.items()},
                        "body": raw.decode("utf-8", "replace"),
                        "answer": status}) + "\n")
            self.answer(status, doc)

        def judge(self, raw):
            try:
                doc = json.loads(raw)
            except ValueError:
                return 400, {"message": "body is not JSON"}
            if GITHUB.match(self.path):
                if self.headers.get("Authorization") != \
                        "Bearer " + args.token:
                    return 401, {"message": "Bad credentials"}
                if doc.get("state") not in GITHUB_STATES or \
                        not doc.get("context"):
                    return 422, {"message": "Validation Failed"}
                return 201, {"id": 1, "state": doc["state"]}
            if GITLAB.match(self.path):
                if self.headers.get("Private-Token") != args.token:
                    return 401, {"message": "401 Unauthorized"}
                if doc.get("state") not in GITLAB_STATES or \
                        not doc.get("name"):
                    return 400, {"message": "state is invalid"}
                return 201, {"id": 1, "status": doc["state"]}
            if self.path.startswith(("/github/", "/gitlab/")):
                return 404, {"message": "Not Found"}
            return 200, {"ok": True}

    ThreadingHTTPServer.allow_reuse_address = True
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print("ready", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
