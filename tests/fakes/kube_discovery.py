#!/usr/bin/env python3
"""Offline stand-in for a Kubernetes API server's discovery endpoints.

kubectl needs discovery (which kinds exist, which are namespaced) even for
`--dry-run=client`, and `apply` GETs each object to decide between create
and patch.  This server answers /version, /api, /apis and the resource
lists of the groups Sluice's manifests use; every other GET answers a
404 Status, so kubectl treats every object as new.  Nothing is stored and
every write is refused: it is only for client-side dry runs.

Usage: kube_discovery.py PORTFILE  -- binds 127.0.0.1 on a free port,
writes the port to PORTFILE, serves until killed.  Python stdlib only.
"""
import http.server
import json
import os
import sys

# (group, version) -> [(plural, kind, namespaced, verbs)]
RW = ["create", "delete", "get", "list", "patch", "update", "watch"]
RESOURCES = {
    ("", "v1"): [
        ("namespaces", "Namespace", False, RW),
        ("serviceaccounts", "ServiceAccount", True, RW),
        ("configmaps", "ConfigMap", True, RW),
        ("secrets", "Secret", True, RW),
        ("services", "Service", True, RW),
        ("pods", "Pod", True, RW),
        ("pods/log", "Pod", True, ["get"]),
        ("events", "Event", True, RW),
        ("persistentvolumeclaims", "PersistentVolumeClaim", True, RW),
    ],
    ("apps", "v1"): [
        ("deployments", "Deployment", True, RW),
        ("statefulsets", "StatefulSet", True, RW),
    ],
    ("batch", "v1"): [("jobs", "Job", True, RW)],
    ("rbac.authorization.k8s.io", "v1"): [
        ("roles", "Role", True, RW),
        ("rolebindings", "RoleBinding", True, RW),
        ("clusterroles", "ClusterRole", False, RW),
        ("clusterrolebindings", "ClusterRoleBinding", False, RW),
    ],
    ("networking.k8s.io", "v1"): [
        ("networkpolicies", "NetworkPolicy", True, RW),
    ],
}


def resource_list(group, version):
    gv = version if not group else group + "/" + version
    out = []
    for plural, kind, namespaced, verbs in RESOURCES[(group, version)]:
        out.append({"name": plural, "singularName": kind.lower(),
                    "namespaced": namespaced, "kind": kind,
                    "verbs": verbs})
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": gv, "resources": out}


def routes():
    r = {
        "/version": {"major": "1", "minor": "32", "gitVersion": "v1.32.4",
                     "platform": "linux/amd64"},
        "/api": {"kind": "APIVersions", "versions": ["v1"],
                 "serverAddressByClientCIDRs": []},
        "/api/v1": resource_list("", "v1"),
    }
    groups = []
    for (group, version) in RESOURCES:
        if not group:
            continue
        gv = {"groupVersion": group + "/" + version, "version": version}
        groups.append({"name": group, "versions": [gv],
                       "preferredVersion": gv})
        r["/apis/%s/%s" % (group, version)] = resource_list(group, version)
    r["/apis"] = {"kind": "APIGroupList", "apiVersion": "v1",
                  "groups": groups}
    return r


ROUTES = routes()


class Handler(http.server.BaseHTTPRequestHandler):
    def send_json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def status(self, code, reason, message):
        self.send_json(code, {"kind": "Status", "apiVersion": "v1",
                              "metadata": {}, "status": "Failure",
                              "reason": reason, "message": message,
                              "code": code})

    def do_GET(self):
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        if path in ROUTES:
            self.send_json(200, ROUTES[path])
        else:
            self.status(404, "NotFound", path + " not found")

    def refuse(self):
        self.status(405, "MethodNotAllowed",
                    "kube_discovery serves client-side dry runs only")

    do_POST = do_PUT = do_PATCH = do_DELETE = refuse

    def log_message(self, fmt, *args):
        if "-v" in sys.argv:
            sys.stderr.write("kube_discovery: " + (fmt % args) + "\n")


def main():
    if len(sys.argv) < 2:
        sys.stderr.write("usage: kube_discovery.py PORTFILE [-v]\n")
        return 2
    srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    # rename so a reader never sees a half-written file
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.replace(sys.argv[1] + ".tmp", sys.argv[1])
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
