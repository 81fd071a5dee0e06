#!/usr/bin/env python3
"""A fake Kubernetes API server for Sluice's tests (python3 stdlib only).

It implements the part of the API that Sluice (and kubectl, as a second,
real client) uses, following the API conventions:

  discovery   /version /api /apis /api/v1 /apis/batch/v1 and a minimal
              /openapi/v3 (enough for kubectl's server-side field validation)
  batch/v1    jobs: create (name or generateName), get, list, watch, delete
              (propagationPolicy Background | Foreground | Orphan)
  core/v1     pods (made by the fake job controller), pods/log (follow,
              timestamps, sinceTime, limitBytes, tailLines),
              events; list, get, watch, delete
  core/v1     nodes (the simulated ones, with labels): get, list, watch;
              secrets: create, get (also as PartialObjectMetadata), list,
              delete
              events; list, get, watch, delete; services: create (409
              AlreadyExists, 422 for a name that is not a DNS-1035 label
              or a bad spec), get, list, watch, delete
  serving.kserve.io/v1beta1 inferenceservices and
  gateway.networking.k8s.io/v1 httproutes: create, get, list, watch,
              delete, and PATCH as a JSON merge patch (RFC 7386, Content-Type
              application/merge-patch+json; other patch types 415); a
              metadata.resourceVersion in the patch that is not the
              object's is 409 Conflict; a spec change bumps
              metadata.generation.  An InferenceService's Ready condition
              goes Unknown (RevisionMissing) at each spec change and True
              --isvc-ready-ms later (status.observedGeneration,
              components.predictor revisions and traffic follow), unless
              /_fake/config {"isvc_hold": true} holds it; with
              {"isvc_fail": "MESSAGE"} it goes False, RevisionFailed
  errors      Status objects: 401, 403, 404, 409 AlreadyExists, 410
              Expired/Gone, 422 Invalid with causes, 429 with Retry-After
  lists       resourceVersion, labelSelector, fieldSelector, limit/continue
  watches     ADDED / MODIFIED / DELETED / BOOKMARK / ERROR events from a
              resourceVersion; one global resourceVersion counter; a
              watch older than the retained history gets a 410 ERROR event

Simulated execution.  Every unsuspended Job gets a pod.  The pod is
scheduled on one of --nodes fake nodes if its GPU request fits (--gpus
RESOURCE=TOTAL, spread over the nodes); otherwise it stays Pending with
condition PodScheduled=False, reason Unschedulable and a message like
"0/4 nodes are available: 4 Insufficient nvidia.com/gpu.", plus a
FailedScheduling event, and starts when capacity frees.  A running pod's
first container decides the outcome through its environment:

  FAKE_EXIT_CODE    exit code (default 0)
  FAKE_DURATION_MS  how long it runs (default --duration-ms, 100)
  FAKE_LOG          its output (default: the command line); "\\n" in the
                    value is a newline; $(VAR) is the container's env VAR
                    (JOB_COMPLETION_INDEX gives each index its own log);
                    lines appear spread over the run
  FAKE_LOG_BYTES    N: first print N bytes of numbered 100-byte lines,
                    made as they are sent (a log of any size)

and an image whose name contains "does-not-exist" is never pulled: the pod
stays Pending in ImagePullBackOff, with a Warning event.  A pod with a
secret volume whose Secret does not exist stays Pending in
ContainerCreating with a Warning event FailedMount ('MountVolume.SetUp
failed for volume "V" : secret "S" not found'), as the kubelet does, and
starts once the Secret is created.  Container statuses carry an imageID
with a digest (REPO@sha256:..., derived from the image name) and
startedAt/finishedAt; pods carry spec.nodeName.  Nodes are labelled
kubernetes.io/hostname and, with --gpu-product NODE=PRODUCT (NODE "*" for
every node) or --node-labels FILE (JSON {"node": {"label": "value"}}),
nvidia.com/gpu.product and whatever else is given.

Indexed Jobs (completionMode Indexed) get one pod per index, up to
parallelism at once, as the real job controller makes them: named
<job>-<index>-<random>, with the annotation and label
batch.kubernetes.io/job-completion-index, spec.hostname <job>-<index>
(spec.subdomain as the template says) and env JOB_COMPLETION_INDEX; env
valueFrom.fieldRef of metadata.annotations / metadata.labels / metadata.name
/ metadata.namespace resolves.  The Job succeeds when every index has
succeeded; with backoffLimit 0 the first failed pod fails it and its other
pods are deleted.  For a failed index:

  FAKE_FAIL_INDEX   the index whose pod exits FAKE_EXIT_CODE (default 1) a
                    quarter into its run; the other indexes exit 0

or, with --exec, by running the container's command on this machine (no
image; cwd --exec-dir) with its env.  Job status follows the real job
controller: startTime, active/ready/succeeded/failed, conditions
SuccessCriteriaMet + Complete, or FailureTarget + Failed (reason
BackoffLimitExceeded or DeadlineExceeded), Suspended for spec.suspend.
ttlSecondsAfterFinished deletes finished Jobs.

Kueue (with --kueue-flavor / --kueue-queue / --kueue-config): discovery
offers kueue.x-k8s.io (v1beta2 and v1beta1, or --kueue-versions), with
workloads (get, list, watch, delete) in every version offered.  A
ClusterQueue (--kueue-cluster-queue, default cluster-queue) has quota per
flavor (--kueue-flavor h100:nvidia.com/gpu=8, in order of preference) and
LocalQueues (--kueue-queue ml-training, in every namespace).  For each
suspended Job labelled kueue.x-k8s.io/queue-name a Workload is made (owner:
the Job; pod set "main", count = parallelism, the pod template); it is
admitted, oldest first, when one flavor's unused quota covers every pod of
the Job at once: QuotaReserved=True, Admitted=True, status.admission
(clusterQueue, podSetAssignments[].flavors / resourceUsage / count), and the
Job is unsuspended.  Otherwise QuotaReserved=False, reason Pending, with
Kueue's message ("couldn't assign flavors to pod set main: insufficient
unused quota for nvidia.com/gpu in flavor h100, 4 more needed").  An
eviction (/_fake/kueue/evict) sets Evicted=True (reason Preempted) and
Preempted=True, QuotaReserved and Admitted False, counts it in
status.schedulingStats.evictions, re-suspends the Job and deletes its pods;
re-admission turns Evicted False ("Previously: ...").  A finished Job's
Workload is Finished=True and frees its quota; a deleted Job's Workload
goes with it.

Authentication: a bearer token from --token (repeatable; POST /_fake/tokens
replaces them) or a client certificate signed by --client-ca; 401
otherwise; 403 for a --forbidden-token.

Control API (no auth), JSON in and out:

  GET  /_fake/stats          request counts by "verb resource" (e.g.
                             "list jobs", "get pods/log"), by token, ...
  POST /_fake/stats/reset
  POST /_fake/faults         {"path_regex", "method", "status", "count",
                             "retry_after", "reason", "message", "drop",
                             "delay_ms"}: the next `count` matching API
                             requests fail so (drop: the connection is cut)
  DELETE /_fake/faults
  POST /_fake/compact        forget the watch history: older watches get 410
  POST /_fake/drop-watches   cut every open watch and log stream
  POST /_fake/bookmark       send a BOOKMARK on every watch that allows them
  POST /_fake/admit          {"namespace", "name"} (or {} for all): unsuspend
                             (a Job Kueue manages: only lift a hold)
  POST /_fake/kueue/evict    {"namespace", "name" (the Job), "hold": bool,
                             "message"}: preempt its Workload; with hold it
                             is not admitted again until /_fake/admit
  POST /_fake/kueue/quota    {"flavor", "quota": {"nvidia.com/gpu": 8}}
  POST /_fake/tokens         {"tokens": [...], "forbidden": [...]}
  POST /_fake/config         {"gone_as_http": bool, "bookmark_interval_ms",
                             "auto_admit": bool, "duration_ms",
                             "kueue_versions": ["v1beta1"],
                             "log_drop_after_bytes": N, "log_drop_count": K}
                             (the next K followed pod logs are cut after
                             N bytes, as a dropped connection)
  GET  /_fake/objects        every stored object
  GET  /_fake/wait?after=RV&timeout_ms=T
                             {"rv": N}: answers once the resourceVersion
                             is past RV (any object changed), or after T
                             ms (default 1000, at most 10000): a test's
                             wait loop asks again when something changed,
                             not every few milliseconds
  GET  /_fake/timeline       {"jobs": [{"namespace", "name", "posted",
                             "token", "finished", "condition"}]}: per Job
                             (API-created, not dry runs) when its create
                             request arrived, with which bearer token (""
                             for a client certificate), and when the Job
                             got its Complete or Failed condition, as Unix
                             times in seconds with fractions (null until
                             then); emptied by /_fake/stats/reset

Usage:
  kube_apiserver.py [--port 0] [--port-file F] [--cert C --key K]
      [--client-ca CA] [--token T]... [--forbidden-token T]...
      [--nodes 4] [--gpus nvidia.com/gpu=4] [--gpu-product NODE=PRODUCT]...
      [--node-labels FILE] [--auto-admit] [--exec]
      [--kueue-flavor F:RES=N]... [--kueue-queue Q]... [--kueue-versions V,...]
      [--kueue-cluster-queue CQ] [--kueue-config FILE]
      [--http] [-v]
It prints "listening on https://127.0.0.1:PORT" as its first line.
"""
import argparse
import base64
import bisect
import copy
import hashlib
import http.server
import json
import os
import random
import re
import signal
import socket
import ssl
import string
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid

# --------------------------------------------------------------------------
# Resources

RW = ["create", "delete", "deletecollection", "get", "list", "patch",
      "update", "watch"]
KUEUE_GROUP = "kueue.x-k8s.io"
KSERVE_GROUP = "serving.kserve.io"
GATEWAY_GROUP = "gateway.networking.k8s.io"
KUEUE_VERSIONS = ["v1beta2", "v1beta1"]     # newest first
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
# plural -> (group, version, kind, namespaced, verbs)
RESOURCES = {
    "jobs": ("batch", "v1", "Job", True, RW),
    "pods": ("", "v1", "Pod", True, RW),
    "events": ("", "v1", "Event", True, RW),
    "namespaces": ("", "v1", "Namespace", False, ["get", "list"]),
    "nodes": ("", "v1", "Node", False, ["get", "list", "watch"]),
    "secrets": ("", "v1", "Secret", True, RW),
    # Kueue (only served when the fake runs with a ClusterQueue, see
    # "Kueue" below; the version is the one the request names)
    "workloads": (KUEUE_GROUP, "v1beta2", "Workload", True,
                  ["delete", "get", "list", "watch"]),
    "services": ("", "v1", "Service", True, RW),
    # canary traffic (the controller's merge patches)
    "inferenceservices": (KSERVE_GROUP, "v1beta1", "InferenceService", True, RW),
    "httproutes": (GATEWAY_GROUP, "v1", "HTTPRoute", True, RW),
}
SUBRESOURCES = {
    "jobs/status": ("batch", "v1", "Job", True, ["get"]),
    "pods/log": ("", "v1", "Pod", True, ["get"]),
    "pods/status": ("", "v1", "Pod", True, ["get"]),
}
GROUP_NAMES = {"jobs": "batch", "pods": "", "events": "", "namespaces": "",
               "nodes": "", "secrets": "", "workloads": KUEUE_GROUP,
               "services": "", "inferenceservices": KSERVE_GROUP,
               "httproutes": GATEWAY_GROUP}

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

VERBOSE = False


def log(msg):
    if VERBOSE:
        sys.stderr.write("kube_apiserver: %s\n" % msg)
        sys.stderr.flush()


def ts(t=None):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ",
                         time.gmtime(time.time() if t is None else t))


def rfc3339_nano(t):
    sec = int(t)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + \
        ".%09dZ" % int(round((t - sec) * 1e9))


def micro_ts(t=None):
    t = time.time() if t is None else t
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + \
        ".%06dZ" % int((t % 1) * 1000000)


def gv_of(plural):
    group, version = RESOURCES[plural][0], RESOURCES[plural][1]
    return version if not group else group + "/" + version


def qualified(plural):
    g = GROUP_NAMES.get(plural, "")
    return plural if not g else plural + "." + g


class APIError(Exception):
    def __init__(self, code, reason, message, details=None, headers=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}


def status_obj(code, reason, message, details=None):
    o = {"kind": "Status", "apiVersion": "v1", "metadata": {},
         "status": "Failure", "message": message, "reason": reason,
         "code": code}
    if details:
        o["details"] = details
    return o


def not_found(plural, name):
    return APIError(404, "NotFound", '%s "%s" not found' % (qualified(plural), name),
                    {"name": name, "group": GROUP_NAMES.get(plural, ""),
                     "kind": plural})


# --------------------------------------------------------------------------
# Selectors

def parse_label_selector(text):
    """Return a list of (key, op, values); raise APIError 400 when bad."""
    reqs = []
    if not text:
        return reqs
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    for p in parts:
        p = p.strip()
        if not p:
            raise APIError(400, "BadRequest", "unable to parse requirement: empty")
        m = re.match(r"^(\S+)\s+(in|notin)\s+\((.*)\)$", p)
        if m:
            vals = [v.strip() for v in m.group(3).split(",") if v.strip()]
            reqs.append((m.group(1), m.group(2), vals))
            continue
        m = re.match(r"^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$", p)
        if m:
            op = "=" if m.group(2) in ("=", "==") else "!="
            if not LABEL_VALUE.match(m.group(3)):
                raise APIError(400, "BadRequest",
                               "unable to parse requirement: invalid label value: %r" % m.group(3))
            reqs.append((m.group(1), op, [m.group(3)]))
            continue
        m = re.match(r"^(!?)([^=!\s]+)$", p)
        if m:
            reqs.append((m.group(2), "!exists" if m.group(1) else "exists", []))
            continue
        raise APIError(400, "BadRequest", "unable to parse requirement: %r" % p)
    return reqs


def labels_match(reqs, labels):
    labels = labels or {}
    for key, op, vals in reqs:
        have = key in labels
        v = labels.get(key)
        if op == "=" and (not have or v != vals[0]):
            return False
        if op == "!=" and have and v == vals[0]:
            return False
        if op == "in" and (not have or v not in vals):
            return False
        if op == "notin" and have and v in vals:
            return False
        if op == "exists" and not have:
            return False
        if op == "!exists" and have:
            return False
    return True


def parse_field_selector(text):
    reqs = []
    if not text:
        return reqs
    for p in text.split(","):
        m = re.match(r"^([A-Za-z.]+)\s*(==|=|!=)\s*(.*)$", p.strip())
        if not m:
            raise APIError(400, "BadRequest", "invalid field selector: %r" % p)
        reqs.append((m.group(1), "!=" if m.group(2) == "!=" else "=",
                     m.group(3)))
    return reqs


def field_value(obj, path):
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    return "" if cur is None else str(cur)


def fields_match(reqs, obj):
    for path, op, val in reqs:
        v = field_value(obj, path)
        if op == "=" and v != val:
            return False
        if op == "!=" and v == val:
            return False
    return True


def quantity(v):
    """A resource quantity ("8", "500m", "2Gi", 4) as a number."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return v
    m = re.match(r"^([0-9.]+)([a-zA-Z]*)$", str(v or "0"))
    if not m:
        return 0
    n = float(m.group(1))
    mult = {"": 1, "m": 0.001, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
            "Ki": 1024, "Mi": 1024 ** 2, "Gi": 1024 ** 3, "Ti": 1024 ** 4}
    n *= mult.get(m.group(2), 1)
    return int(n) if n == int(n) else n


def fmt_qty(n):
    return str(int(n)) if n == int(n) else "%dm" % round(n * 1000)


def kueue_config(args):
    """The fake Kueue's ClusterQueue, from --kueue-config (JSON) and the
    --kueue-* flags, or None when none of them is given."""
    cfg = {}
    if args.kueue_config:
        with open(args.kueue_config) as f:
            cfg = json.load(f)
    flavors = [{"name": f["name"], "quota": {r: quantity(v) for r, v in
                                             (f.get("quota") or {}).items()}}
               for f in cfg.get("flavors", [])]
    for spec in args.kueue_flavor or []:
        name, _, rest = spec.partition(":")
        quota = {}
        for part in filter(None, rest.split(",")):
            r, _, v = part.partition("=")
            quota[r] = quantity(v)
        flavors.append({"name": name, "quota": quota})
    queues = list(cfg.get("queues", [])) + list(args.kueue_queue or [])
    if not flavors and not queues:
        return None
    versions = cfg.get("versions") or (args.kueue_versions.split(",")
                                       if args.kueue_versions else KUEUE_VERSIONS)
    for v in versions:
        if v not in KUEUE_VERSIONS:
            raise SystemExit("kube_apiserver: unknown Kueue version %r" % v)
    return {"cluster_queue": cfg.get("clusterQueue") or args.kueue_cluster_queue,
            "flavors": flavors, "queues": set(queues), "versions": versions}


# --------------------------------------------------------------------------
# The store and the simulated controllers

class Store:
    def __init__(self, args):
        self.args = args
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.rv = 1000
        self.objs = {p: {} for p in RESOURCES}
        self.history = []           # (rv, plural, type, obj)
        self.oldest_rv = self.rv    # watches from rv < oldest_rv are stale
        self.history_max = args.history
        self.drop_gen = 0           # bumped by /_fake/drop-watches
        self.bookmark_gen = 0       # bumped by /_fake/bookmark
        self.log_drop_after = 0     # /_fake/config: cut followed logs
        self.log_drop_count = 0
        self.faults = []
        self.tokens = set(args.token or [])
        self.forbidden = set(args.forbidden_token or [])
        self.stats = {}
        self.by_token = {}
        self.stats_extra = {"faults_served": 0, "bookmarks": 0,
                            "watch_gone": 0, "unauthorized": 0,
                            "forbidden": 0, "dropped": 0}
        self.open_watches = 0
        self.gone_as_http = False
        self.bookmark_interval = args.bookmark_interval_ms / 1000.0
        self.auto_admit = args.auto_admit
        self.duration_ms = args.duration_ms
        self.pod_start_ms = args.pod_start_ms
        # simulated nodes: list of {"name", "capacity": {res: n}, "used": {}}
        self.nodes = []
        gpus = {}
        for spec in args.gpus or []:
            res, _, n = spec.partition("=")
            gpus[res] = int(n)
        for i in range(args.nodes):
            cap = {}
            for res, total in gpus.items():
                cap[res] = total // args.nodes + (1 if i < total % args.nodes else 0)
            self.nodes.append({"name": "fake-node-%d" % (i + 1), "capacity": cap,
                               "used": {r: 0 for r in cap}})
        with self.lock:
            self.node_objects(args)
        self.event_index = {}       # event_key -> Event, to fold repeats
        self.sim = {}               # (ns, pod name) -> simulation state
        self.finishing = {}         # (ns, job name) -> pending final condition
        self.job_times = {}         # (ns, job name) -> /_fake/timeline entry
        self.stopping = False
        self.next_due = None        # run(): when an idle loop must tick again
        self.kueue = kueue_config(args)  # None: no Kueue in this cluster
        self.wl_of_job = {}         # job uid -> (ns, workload name)
        self.wl_held = set()        # workloads kept from admission
        self.isvc_ready_ms = args.isvc_ready_ms
        self.isvc_hold = False      # /_fake/config: keep new revisions not ready
        self.isvc_due = {}          # (ns, name) -> when it becomes Ready
        self.isvc_fail = None       # /_fake/config: new revisions fail so

    def node_objects(self, args):
        """The simulated nodes as Node objects, labelled as configured."""
        extra = {}
        if getattr(args, "node_labels", None):
            with open(args.node_labels) as f:
                extra = json.load(f)
        for spec in getattr(args, "gpu_product", None) or []:
            node, _, product = spec.partition("=")
            extra.setdefault(node, {})["nvidia.com/gpu.product"] = product
        for n in self.nodes:
            labels = {"kubernetes.io/hostname": n["name"],
                      "kubernetes.io/os": "linux"}
            labels.update(extra.get("*", {}))
            labels.update(extra.get(n["name"], {}))
            cap = {"cpu": "32", "memory": "128Gi", "pods": "110"}
            cap.update({r: str(v) for r, v in n["capacity"].items()})
            obj = {"apiVersion": "v1", "kind": "Node",
                   "metadata": self.new_meta("", n["name"], labels),
                   "spec": {},
                   "status": {"capacity": cap, "allocatable": dict(cap),
                              "conditions": [{"type": "Ready", "status": "True",
                                              "reason": "KubeletReady"}]}}
            del obj["metadata"]["namespace"]
            self.put("nodes", obj, "ADDED")

    @staticmethod
    def image_id(image):
        """What a kubelet reports as imageID: the repository and a digest."""
        if "@sha256:" in image:
            return image
        repo = image
        if ":" in repo.rsplit("/", 1)[-1]:
            repo = repo.rsplit(":", 1)[0]
        return "%s@sha256:%s" % (repo, hashlib.sha256(image.encode()).hexdigest())

    def missing_secret(self, ns, pod):
        """(volume, secret) of the first secret volume whose Secret is
        missing, or None."""
        for v in pod["spec"].get("volumes") or []:
            sec = v.get("secret")
            if not isinstance(sec, dict) or sec.get("optional"):
                continue
            if (ns, sec.get("secretName", "")) not in self.objs["secrets"]:
                return v.get("name", ""), sec.get("secretName", "")
        return None

    def create_secret(self, ns, body):
        md = body.setdefault("metadata", {})
        name = md.get("name", "")
        if not name or len(name) > 253 or not DNS1123_SUBDOMAIN.match(name):
            raise APIError(422, "Invalid", 'Secret "%s" is invalid' % name,
                           {"causes": [{"reason": "FieldValueInvalid",
                                        "field": "metadata.name",
                                        "message": "Invalid value: %r" % name}]})
        with self.lock:
            if (ns, name) in self.objs["secrets"]:
                raise APIError(409, "AlreadyExists",
                               'secrets "%s" already exists' % name,
                               {"name": name, "kind": "secrets"})
            obj = {"apiVersion": "v1", "kind": "Secret",
                   "metadata": self.new_meta(ns, name, md.get("labels")),
                   "type": body.get("type", "Opaque"),
                   "data": dict(body.get("data") or {})}
            for k, v in (body.get("stringData") or {}).items():
                obj["data"][k] = base64.b64encode(v.encode()).decode()
            self.put("secrets", obj, "ADDED")
            return copy.deepcopy(obj)

    # -- resourceVersion and history -------------------------------------
    def bump(self, plural, etype, obj):
        self.rv += 1
        if etype != "DELETED":
            obj["metadata"]["resourceVersion"] = str(self.rv)
        else:
            obj = copy.deepcopy(obj)
            obj["metadata"]["resourceVersion"] = str(self.rv)
        self.history.append((self.rv, plural, etype, copy.deepcopy(obj)))
        if len(self.history) > 2 * self.history_max:
            cut = len(self.history) - self.history_max
            self.oldest_rv = self.history[cut - 1][0]
            del self.history[:cut]
        self.cond.notify_all()

    def compact(self):
        with self.lock:
            self.history = []
            self.oldest_rv = self.rv
            self.cond.notify_all()

    # -- objects ---------------------------------------------------------
    def put(self, plural, obj, etype):
        md = obj["metadata"]
        key = (md.get("namespace", ""), md["name"])
        self.objs[plural][key] = obj
        self.bump(plural, etype, obj)

    def remove(self, plural, ns, name):
        obj = self.objs[plural].pop((ns, name), None)
        if obj is not None:
            if plural == "events":
                self.event_index.pop(self.event_key(obj), None)
            self.bump(plural, "DELETED", obj)
        return obj

    def new_meta(self, ns, name, labels=None, owner=None):
        md = {"name": name, "namespace": ns, "uid": str(uuid.uuid4()),
              "creationTimestamp": ts(), "labels": dict(labels or {})}
        if owner:
            md["ownerReferences"] = [owner]
        return md

    @staticmethod
    def event_key(ev):
        io = ev["involvedObject"]
        return (ev["metadata"]["namespace"], io["kind"], io["name"],
                ev["reason"], ev["message"])

    def event(self, ns, kind, name, uid, etype, reason, message, component):
        """Record an Event, folding repeats into count like the apiserver
        (found through an index: thousands of Jobs make many events)."""
        ev = self.event_index.get((ns, kind, name, reason, message))
        if ev is not None:
            ev["count"] = ev.get("count", 1) + 1
            ev["lastTimestamp"] = ts()
            self.bump("events", "MODIFIED", ev)
            return
        evname = "%s.%x" % (name, random.getrandbits(60))
        ev = {"apiVersion": "v1", "kind": "Event",
              "metadata": self.new_meta(ns, evname),
              "involvedObject": {"kind": kind, "namespace": ns, "name": name,
                                 "uid": uid,
                                 "apiVersion": "batch/v1" if kind == "Job" else "v1"},
              "type": etype, "reason": reason, "message": message,
              "source": {"component": component},
              "reportingComponent": component, "count": 1,
              "firstTimestamp": ts(), "lastTimestamp": ts(),
              "eventTime": None}
        del ev["metadata"]["labels"]
        self.event_index[self.event_key(ev)] = ev
        self.put("events", ev, "ADDED")

    # -- jobs ------------------------------------------------------------
    def validate_job(self, ns, job):
        causes = []

        def bad(field, reason, msg):
            causes.append({"reason": reason, "message": msg, "field": field})

        md = job.get("metadata") or {}
        name = md.get("name", "")
        if not name:
            bad("metadata.name", "FieldValueRequired",
                "Required value: name or generateName is required")
        elif len(name) > 63 or not DNS1123_LABEL.match(name):
            bad("metadata.name", "FieldValueInvalid",
                'Invalid value: "%s": a lowercase RFC 1123 label must consist '
                "of lower case alphanumeric characters or '-', and must "
                "start and end with an alphanumeric character (e.g. "
                "'my-name',  or '123-abc', regex used for validation is "
                "'[a-z0-9]([-a-z0-9]*[a-z0-9])?') and be at most 63 "
                "characters" % name)
        for k, v in (md.get("labels") or {}).items():
            kn = k.split("/")[-1]
            if not LABEL_NAME.match(kn) or len(kn) > 63:
                bad("metadata.labels", "FieldValueInvalid",
                    'Invalid value: "%s": name part must consist of '
                    "alphanumeric characters, '-', '_' or '.'" % k)
            if not isinstance(v, str) or len(v) > 63 or not LABEL_VALUE.match(v):
                bad("metadata.labels", "FieldValueInvalid",
                    'Invalid value: "%s": a valid label must be an empty '
                    "string or consist of alphanumeric characters, '-', '_' "
                    "or '.', and must start and end with an alphanumeric "
                    "character and be at most 63 characters" % v)
        spec = job.get("spec")
        if not isinstance(spec, dict):
            bad("spec.template", "FieldValueRequired", "Required value")
            return causes
        tpl = spec.get("template") or {}
        pspec = tpl.get("spec") or {}
        containers = pspec.get("containers") or []
        if not containers:
            bad("spec.template.spec.containers", "FieldValueRequired",
                "Required value")
        for i, c in enumerate(containers):
            if not c.get("name"):
                bad("spec.template.spec.containers[%d].name" % i,
                    "FieldValueRequired", "Required value")
            elif not DNS1123_LABEL.match(c["name"]):
                bad("spec.template.spec.containers[%d].name" % i,
                    "FieldValueInvalid", 'Invalid value: "%s"' % c["name"])
            if not c.get("image"):
                bad("spec.template.spec.containers[%d].image" % i,
                    "FieldValueRequired", "Required value")
        rp = pspec.get("restartPolicy")
        if rp not in ("Never", "OnFailure"):
            bad("spec.template.spec.restartPolicy", "FieldValueNotSupported",
                'Unsupported value: "%s": supported values: "OnFailure", '
                '"Never"' % (rp or "Always"))
        for f in ("backoffLimit", "activeDeadlineSeconds",
                  "ttlSecondsAfterFinished", "completions", "parallelism"):
            v = spec.get(f)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
                bad("spec." + f, "FieldValueInvalid",
                    "Invalid value: %s: must be greater than or equal to 0"
                    % json.dumps(v))
        if spec.get("activeDeadlineSeconds") == 0:
            bad("spec.activeDeadlineSeconds", "FieldValueInvalid",
                "Invalid value: 0: must be greater than 0")
        mode = spec.get("completionMode", "NonIndexed")
        if mode not in ("NonIndexed", "Indexed"):
            bad("spec.completionMode", "FieldValueNotSupported",
                'Unsupported value: "%s": supported values: "NonIndexed", '
                '"Indexed"' % mode)
        if mode == "Indexed" and not isinstance(spec.get("completions"), int):
            bad("spec.completions", "FieldValueRequired",
                "Required value: when completion mode is Indexed")
        sub = pspec.get("subdomain")
        if sub is not None and (not isinstance(sub, str) or len(sub) > 63
                                or not DNS1123_LABEL.match(sub)):
            bad("spec.template.spec.subdomain", "FieldValueInvalid",
                'Invalid value: "%s": a lowercase RFC 1123 label' % sub)
        return causes

    def create_job(self, ns, job, dry_run=False, posted=None):
        """posted: (arrival time, bearer token) for /_fake/timeline."""
        md = job.setdefault("metadata", {})
        if md.get("namespace") and md["namespace"] != ns:
            raise APIError(400, "BadRequest",
                           "the namespace of the provided object does not "
                           "match the namespace sent on the request")
        if not md.get("name") and md.get("generateName"):
            md["name"] = md["generateName"] + "".join(
                random.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
        causes = self.validate_job(ns, job)
        name = md.get("name", "")
        if causes:
            raise APIError(422, "Invalid", 'Job.batch "%s" is invalid: %s' % (
                name, "; ".join("%s: %s" % (c["field"], c["message"]) for c in causes)),
                {"name": name, "group": "batch", "kind": "Job", "causes": causes})
        with self.lock:
            if (ns, name) in self.objs["jobs"]:
                raise APIError(409, "AlreadyExists",
                               'jobs.batch "%s" already exists' % name,
                               {"name": name, "group": "batch", "kind": "jobs"})
            uid = str(uuid.uuid4())
            job["apiVersion"] = "batch/v1"
            job["kind"] = "Job"
            md.update({"namespace": ns, "uid": uid, "creationTimestamp": ts(),
                       "generation": 1})
            md.setdefault("labels", {})
            md.pop("resourceVersion", None)
            spec = job["spec"]
            spec.setdefault("parallelism", 1)
            spec.setdefault("completions", 1)
            spec.setdefault("backoffLimit", 6)
            spec.setdefault("suspend", False)
            spec.setdefault("completionMode", "NonIndexed")
            spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
            sel = {"batch.kubernetes.io/controller-uid": uid}
            spec["selector"] = {"matchLabels": sel}
            tmd = spec["template"].setdefault("metadata", {})
            tl = tmd.setdefault("labels", {})
            tl.update({"batch.kubernetes.io/controller-uid": uid,
                       "batch.kubernetes.io/job-name": name,
                       "controller-uid": uid, "job-name": name})
            for c in spec["template"]["spec"]["containers"]:
                c.setdefault("imagePullPolicy", "IfNotPresent")
                c.setdefault("terminationMessagePath", "/dev/termination-log")
                c.setdefault("resources", {})
            job["status"] = {}
            if dry_run:
                return job
            self.put("jobs", job, "ADDED")
            if posted is not None:
                self.job_times[(ns, name)] = {
                    "namespace": ns, "name": name, "posted": posted[0],
                    "token": posted[1], "finished": None, "condition": None}
            log("created job %s/%s" % (ns, name))
            return copy.deepcopy(job)

    def set_cond(self, obj, ctype, status, reason="", message=""):
        conds = obj["status"].setdefault("conditions", [])
        for c in conds:
            if c["type"] == ctype:
                if c["status"] == status and c.get("reason", "") == reason \
                   and c.get("message", "") == message:
                    return False
                c.update({"status": status, "reason": reason,
                          "message": message, "lastTransitionTime": ts(),
                          "lastProbeTime": ts()})
                return True
        conds.append({"type": ctype, "status": status, "reason": reason,
                      "message": message, "lastTransitionTime": ts(),
                      "lastProbeTime": ts()})
        return True

    def cond_true(self, obj, ctype):
        for c in obj.get("status", {}).get("conditions", []) or []:
            if c["type"] == ctype and c["status"] == "True":
                return True
        return False

    def job_finished(self, job):
        return self.cond_true(job, "Complete") or self.cond_true(job, "Failed")

    def job_pods(self, ns, job):
        uid = job["metadata"]["uid"]
        return [p for (pns, _), p in self.objs["pods"].items()
                if pns == ns and p["metadata"]["labels"].get(
                    "batch.kubernetes.io/controller-uid") == uid]

    def make_pod(self, ns, job, index=None):
        jname = job["metadata"]["name"]
        suffix = "".join(random.choice(string.ascii_lowercase + string.digits)
                         for _ in range(5))
        if index is None:
            name = "%s-%s" % (jname[:57], suffix)
        else:
            prefix = "%s-%d-" % (jname, index)
            if len(prefix) > 58:
                prefix = prefix[:58 - len("-%d-" % index)] + "-%d-" % index
            name = prefix + suffix
        tpl = copy.deepcopy(job["spec"]["template"])
        if index is not None:
            self.index_template(tpl, jname, index)
        owner = {"apiVersion": "batch/v1", "kind": "Job", "name": jname,
                 "uid": job["metadata"]["uid"], "controller": True,
                 "blockOwnerDeletion": True}
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": self.new_meta(ns, name, tpl.get("metadata", {}).get("labels"), owner),
               "spec": tpl["spec"],
               "status": {"phase": "Pending", "qosClass": "BestEffort"}}
        pod["metadata"]["generateName"] = jname + "-" if index is None \
            else name[:-5]
        if index is not None:
            pod["metadata"]["annotations"] = dict(
                tpl["metadata"].get("annotations") or {})
        pod["spec"].setdefault("schedulerName", "default-scheduler")
        pod["spec"].setdefault("terminationGracePeriodSeconds", 30)
        self.put("pods", pod, "ADDED")
        self.sim[(ns, name)] = {"state": "pending", "node": None, "alloc": {},
                                "log": [], "created": time.time()}
        self.event(ns, "Job", jname, job["metadata"]["uid"], "Normal",
                   "SuccessfulCreate", "Created pod: " + name, "job-controller")
        return pod

    @staticmethod
    def index_template(tpl, jname, index):
        """What the job controller adds to the pod of one index."""
        md = tpl.setdefault("metadata", {})
        md.setdefault("annotations", {})[COMPLETION_INDEX] = str(index)
        md.setdefault("labels", {})[COMPLETION_INDEX] = str(index)
        tpl["spec"]["hostname"] = "%s-%d" % (jname, index)
        for c in tpl["spec"].get("containers", []) + \
                tpl["spec"].get("initContainers", []):
            c.setdefault("env", []).append(
                {"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
                    "fieldPath": "metadata.annotations['%s']" % COMPLETION_INDEX}}})

    @staticmethod
    def field_ref(pod, path):
        md = pod["metadata"]
        m = re.match(r"^metadata\.(annotations|labels)\['([^']*)'\]$", path)
        if m:
            return (md.get(m.group(1)) or {}).get(m.group(2), "")
        if path in ("metadata.name", "metadata.namespace", "metadata.uid"):
            return md.get(path.split(".")[1], "")
        if path == "spec.nodeName":
            return pod["spec"].get("nodeName", "")
        return ""

    def pod_request(self, pod):
        req = {}
        for c in pod["spec"].get("containers", []):
            res = c.get("resources") or {}
            for section in ("limits", "requests"):
                for k, v in (res.get(section) or {}).items():
                    if any(k in n["capacity"] for n in self.nodes) or "gpu" in k:
                        try:
                            n = int(v)
                        except (TypeError, ValueError):
                            n = 0
                        req[k] = max(req.get(k, 0), n)
        return req

    def try_schedule(self, ns, pod, sim):
        req = self.pod_request(pod)
        for node in self.nodes:
            if all(node["capacity"].get(r, 0) - node["used"].get(r, 0) >= n
                   for r, n in req.items()):
                for r, n in req.items():
                    node["used"][r] = node["used"].get(r, 0) + n
                sim["alloc"] = req
                sim["node"] = node
                return None
        # Why not: "0/4 nodes are available: 4 Insufficient nvidia.com/gpu."
        counts = {}
        for node in self.nodes:
            for r, n in sorted(req.items()):
                if node["capacity"].get(r, 0) - node["used"].get(r, 0) < n:
                    counts[r] = counts.get(r, 0) + 1
                    break
        parts = ["%d Insufficient %s" % (c, r) for r, c in sorted(counts.items())]
        nn = len(self.nodes)
        return ("0/%d nodes are available: %s. preemption: 0/%d nodes are "
                "available: %d No preemption victims found for incoming pod."
                % (nn, ", ".join(parts), nn, nn))

    def release_pod(self, sim):
        node = sim.get("node")
        if node is not None:
            for r, n in sim.get("alloc", {}).items():
                node["used"][r] = node["used"].get(r, 0) - n
        sim["alloc"] = {}
        proc = sim.get("proc")
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass

    def container_env(self, pod):
        c = pod["spec"]["containers"][0]
        env = {}
        for e in c.get("env") or []:
            if "value" in e:
                env[e["name"]] = str(e["value"])
            elif "fieldRef" in (e.get("valueFrom") or {}):
                env[e["name"]] = self.field_ref(
                    pod, e["valueFrom"]["fieldRef"].get("fieldPath", ""))
        return c, env

    def start_pod(self, ns, pod, sim, now):
        c, env = self.container_env(pod)
        sim["state"] = "running"
        sim["started"] = now
        cmdline = list(c.get("command") or []) + list(c.get("args") or [])
        if self.args.exec:
            self.start_exec(pod, sim, c, env, cmdline)
        else:
            try:
                dur = int(env.get("FAKE_DURATION_MS", self.duration_ms))
            except ValueError:
                dur = self.duration_ms
            try:
                sim["exit"] = int(env.get("FAKE_EXIT_CODE", "0"))
            except ValueError:
                sim["exit"] = 1
            index = env.get("JOB_COMPLETION_INDEX")
            if env.get("FAKE_FAIL_INDEX") is not None and index is not None:
                if index == env["FAKE_FAIL_INDEX"]:
                    sim["exit"] = int(env.get("FAKE_EXIT_CODE", "1") or 1)
                    dur = dur // 4
                else:
                    sim["exit"] = 0
            try:
                gen = int(env.get("FAKE_LOG_BYTES", "0")) // 100
            except ValueError:
                gen = 0
            if gen > 0:
                sim["gen"] = (gen, now)
            text = env.get("FAKE_LOG")
            if text is None and gen > 0:
                text = ""
            if text is None:
                text = " ".join(cmdline) if cmdline else "ok"
            text = re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                          lambda m: env.get(m.group(1), m.group(0)), text)
            text = text.replace("\\n", "\n")
            lines = [ln + "\n" for ln in text.split("\n")]
            if lines and lines[-1] == "\n" and text.endswith("\n"):
                lines.pop()
            if gen > 0 and env.get("FAKE_LOG") is None:
                lines = []
            sim["finish_at"] = now + dur / 1000.0
            n = max(len(lines), 1)
            sim["pending_log"] = [(now + (dur / 1000.0) * i / n, ln.encode())
                                  for i, ln in enumerate(lines)]
        st = pod["status"]
        st["phase"] = "Running"
        st["startTime"] = st.get("startTime") or ts(now)
        st["containerStatuses"] = [{
            "name": c["name"], "image": c.get("image", ""),
            "imageID": self.image_id(c.get("image", "")), "ready": True,
            "restartCount": 0, "started": True,
            "state": {"running": {"startedAt": ts(now)}}}]
        self.set_cond(pod, "Initialized", "True")
        self.set_cond(pod, "ContainersReady", "True")
        self.set_cond(pod, "Ready", "True")
        self.put("pods", pod, "MODIFIED")
        self.event(ns, "Pod", pod["metadata"]["name"], pod["metadata"]["uid"],
                   "Normal", "Started", "Started container " + c["name"],
                   "kubelet")

    def start_exec(self, pod, sim, c, env, cmdline):
        full = dict(os.environ)
        full.update(env)
        sim["finish_at"] = None
        if not cmdline:
            sim["exit"] = 0
            sim["finish_at"] = time.time()
            return
        try:
            proc = subprocess.Popen(cmdline, env=full, cwd=self.args.exec_dir or None,
                                    stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        except OSError as e:
            sim["log"].append(("%s\n" % e).encode())
            sim["exit"] = 127
            sim["finish_at"] = time.time()
            return
        sim["proc"] = proc

        def reader():
            for line in proc.stdout:
                with self.lock:
                    sim["log"].append(line)
                    self.cond.notify_all()
            rc = proc.wait()
            with self.lock:
                sim["exit"] = rc if rc >= 0 else 128 - rc
                sim["finish_at"] = time.time()
                self.cond.notify_all()
        threading.Thread(target=reader, daemon=True).start()

    def finish_pod(self, ns, pod, sim, now, exit_code, reason=None, message=None):
        c = pod["spec"]["containers"][0]
        sim["state"] = "done"
        sim["exit"] = exit_code
        for _, ln in sim.pop("pending_log", []):
            sim["log"].append(ln)
        self.release_pod(sim)
        st = pod["status"]
        st["phase"] = "Succeeded" if exit_code == 0 else "Failed"
        if reason == "DeadlineExceeded":
            st["reason"] = reason
            st["message"] = message
        started = sim.get("started", now)
        st["containerStatuses"] = [{
            "name": c["name"], "image": c.get("image", ""),
            "imageID": self.image_id(c.get("image", "")), "ready": False,
            "restartCount": 0, "started": False,
            "state": {"terminated": {
                "exitCode": exit_code,
                "reason": reason or ("Completed" if exit_code == 0 else "Error"),
                "startedAt": ts(started), "finishedAt": ts(now)}}}]
        self.set_cond(pod, "Ready", "False", "PodCompleted")
        self.set_cond(pod, "ContainersReady", "False", "PodCompleted")
        self.put("pods", pod, "MODIFIED")

    # -- canary traffic objects -----------------------------------------
    def create_traffic(self, plural, ns, body):
        md = body.setdefault("metadata", {})
        name = md.get("name") or ""
        if not DNS1123_SUBDOMAIN.match(name):
            raise APIError(422, "Invalid", "%s %r is invalid: metadata.name: "
                           "Invalid value" % (RESOURCES[plural][2], name))
        if md.get("namespace") and md["namespace"] != ns:
            raise APIError(400, "BadRequest", "the namespace of the provided "
                           "object does not match the namespace sent on the request")
        with self.lock:
            if (ns, name) in self.objs[plural]:
                raise APIError(409, "AlreadyExists", '%s "%s" already exists'
                               % (qualified(plural), name),
                               {"name": name, "group": RESOURCES[plural][0],
                                "kind": plural})
            obj = copy.deepcopy(body)
            obj["apiVersion"] = gv_of(plural)
            obj["kind"] = RESOURCES[plural][2]
            meta = self.new_meta(ns, name, md.get("labels"))
            meta["generation"] = 1
            if md.get("annotations"):
                meta["annotations"] = dict(md["annotations"])
            obj["metadata"] = meta
            obj.setdefault("spec", {})
            obj["status"] = {}
            if plural == "inferenceservices":
                self.isvc_changed(obj, new_revision=True)
            self.put(plural, obj, "ADDED")
            return copy.deepcopy(obj)

    @staticmethod
    def merge(target, patch):
        """RFC 7386 JSON merge patch."""
        if not isinstance(patch, dict):
            return copy.deepcopy(patch)
        if not isinstance(target, dict):
            target = {}
        out = dict(target)
        for k, v in patch.items():
            if v is None:
                out.pop(k, None)
            else:
                out[k] = Store.merge(out.get(k), v)
        return out

    def patch_traffic(self, plural, ns, name, patch):
        if not isinstance(patch, dict):
            raise APIError(400, "BadRequest", "the merge patch is not an object")
        with self.lock:
            old = self.objs[plural].get((ns, name))
            if old is None:
                raise not_found(plural, name)
            want_rv = (patch.get("metadata") or {}).get("resourceVersion")
            if want_rv is not None and want_rv != old["metadata"]["resourceVersion"]:
                raise APIError(409, "Conflict",
                               'Operation cannot be fulfilled on %s "%s": the object '
                               'has been modified; please apply your changes to the '
                               'latest version and try again' % (qualified(plural), name),
                               {"name": name, "group": RESOURCES[plural][0],
                                "kind": plural})
            new = self.merge(old, {k: v for k, v in patch.items() if k != "status"})
            md = new["metadata"]
            for k in ("name", "namespace", "uid", "creationTimestamp", "generation"):
                md[k] = old["metadata"].get(k)
            new["status"] = copy.deepcopy(old.get("status", {}))
            if new.get("spec") != old.get("spec"):
                md["generation"] = old["metadata"].get("generation", 1) + 1
                if plural == "inferenceservices":
                    ospec = dict((old.get("spec") or {}).get("predictor") or {})
                    nspec = dict((new.get("spec") or {}).get("predictor") or {})
                    ospec.pop("canaryTrafficPercent", None)
                    nspec.pop("canaryTrafficPercent", None)
                    self.isvc_changed(new, new_revision=ospec != nspec)
            if new == old:
                return copy.deepcopy(old)
            self.put(plural, new, "MODIFIED")
            return copy.deepcopy(new)

    def isvc_changed(self, obj, new_revision):
        """A spec change: a new predictor revision (when the predictor
        changed), Ready Unknown until it is rolled out."""
        st = obj.setdefault("status", {})
        pred = st.setdefault("components", {}).setdefault("predictor", {})
        name = obj["metadata"]["name"]
        if new_revision:
            last = pred.get("latestCreatedRevision") or "-0"
            n = int(last.rsplit("-", 1)[1]) + 1
            pred["latestCreatedRevision"] = "%s-predictor-%05d" % (name, n)
        for t in ("PredictorReady", "Ready"):
            self.set_cond(obj, t, "Unknown", "RevisionMissing",
                          'Configuration "%s-predictor" is waiting for a '
                          'Revision to become ready.' % name)
        self.isvc_due[(obj["metadata"]["namespace"], name)] = \
            time.time() + self.isvc_ready_ms / 1000.0

    def tick_isvc(self, now):
        if self.isvc_hold:
            return
        for key, due in list(self.isvc_due.items()):
            if due > now:
                self.due(due)
                continue
            del self.isvc_due[key]
            obj = self.objs["inferenceservices"].get(key)
            if obj is None:
                continue
            obj = copy.deepcopy(obj)
            st = obj["status"]
            pred = st["components"]["predictor"]
            latest = pred.get("latestCreatedRevision")
            if self.isvc_fail:
                st["observedGeneration"] = obj["metadata"].get("generation", 1)
                for t in ("PredictorReady", "Ready"):
                    self.set_cond(obj, t, "False", "RevisionFailed",
                                  'Revision "%s" failed with message: %s.'
                                  % (latest, self.isvc_fail))
                self.put("inferenceservices", obj, "MODIFIED")
                continue
            if pred.get("latestReadyRevision") != latest:
                if pred.get("latestRolledoutRevision"):
                    pred["previousRolledoutRevision"] = pred["latestRolledoutRevision"]
                pred["latestReadyRevision"] = latest
            pct = ((obj.get("spec") or {}).get("predictor") or {}).get("canaryTrafficPercent")
            prev = pred.get("previousRolledoutRevision")
            if pct is None or prev is None:
                pred["latestRolledoutRevision"] = latest
                pred["traffic"] = [{"revisionName": latest, "percent": 100,
                                    "latestRevision": True}]
            else:
                pred["traffic"] = [{"revisionName": latest, "percent": pct,
                                    "latestRevision": True, "tag": "latest"},
                                   {"revisionName": prev, "percent": 100 - pct,
                                    "latestRevision": False, "tag": "prev"}]
            st["observedGeneration"] = obj["metadata"].get("generation", 1)
            for t in ("PredictorReady", "Ready"):
                self.set_cond(obj, t, "True")
            self.put("inferenceservices", obj, "MODIFIED")

    def tick(self):
        now = time.time()
        with self.lock:
            self.tick_isvc(now)
            self.tick_pods(now)
            self.tick_kueue(now)
            self.tick_jobs(now)

    def tick_pods(self, now):
        pending = sorted(
            ((self.sim[k]["created"], k) for k in self.sim
             if self.sim[k]["state"] in ("pending", "scheduled", "running")),
            key=lambda x: x[0])
        for _, key in pending:
            pod = self.objs["pods"].get(key)
            sim = self.sim[key]
            if pod is None:
                continue
            ns, name = key
            if sim["state"] == "pending":
                why = self.try_schedule(ns, pod, sim)
                if why is None:
                    sim["state"] = "scheduled"
                    sim["start_at"] = now + self.pod_start_ms / 1000.0
                    pod["spec"]["nodeName"] = sim["node"]["name"]
                    self.set_cond(pod, "PodScheduled", "True")
                    self.set_cond(pod, "Initialized", "True")
                    c = pod["spec"]["containers"][0]
                    pod["status"]["containerStatuses"] = [{
                        "name": c["name"], "image": c.get("image", ""),
                        "imageID": "", "ready": False, "restartCount": 0,
                        "started": False,
                        "state": {"waiting": {"reason": "ContainerCreating"}}}]
                    pod["status"]["hostIP"] = "10.0.0.1"
                    self.put("pods", pod, "MODIFIED")
                    self.event(ns, "Pod", name, pod["metadata"]["uid"],
                               "Normal", "Scheduled",
                               "Successfully assigned %s/%s to %s"
                               % (ns, name, sim["node"]["name"]),
                               "default-scheduler")
                elif self.set_cond(pod, "PodScheduled", "False",
                                   "Unschedulable", why):
                    self.put("pods", pod, "MODIFIED")
                    self.event(ns, "Pod", name, pod["metadata"]["uid"],
                               "Warning", "FailedScheduling", why,
                               "default-scheduler")
            elif sim["state"] == "scheduled" and now < sim["start_at"]:
                self.due(sim["start_at"])
            elif sim["state"] == "scheduled":
                miss = self.missing_secret(ns, pod)
                if miss is not None:
                    # the kubelet cannot mount it: ContainerCreating, and
                    # a FailedMount event (folded when repeated)
                    self.event(ns, "Pod", name, pod["metadata"]["uid"],
                               "Warning", "FailedMount",
                               'MountVolume.SetUp failed for volume "%s" : '
                               'secret "%s" not found' % miss, "kubelet")
                    sim["start_at"] = now + 1.0
                    continue
                image = pod["spec"]["containers"][0].get("image", "")
                if "does-not-exist" in image:
                    # an image that cannot be pulled: Pending for good
                    cs = pod["status"]["containerStatuses"][0]
                    msg = 'Back-off pulling image "%s"' % image
                    if cs["state"].get("waiting", {}).get("reason") != "ImagePullBackOff":
                        cs["state"] = {"waiting": {"reason": "ImagePullBackOff",
                                                   "message": msg}}
                        self.put("pods", pod, "MODIFIED")
                        self.event(ns, "Pod", name, pod["metadata"]["uid"],
                                   "Warning", "Failed",
                                   'Failed to pull image "%s": not found' % image,
                                   "kubelet")
                    continue
                self.start_pod(ns, pod, sim, now)
            elif sim["state"] == "running":
                pl = sim.get("pending_log")
                while pl and pl[0][0] <= now:
                    sim["log"].append(pl.pop(0)[1])
                    self.cond.notify_all()
                fa = sim.get("finish_at")
                if fa is not None and now >= fa:
                    self.finish_pod(ns, pod, sim, now, sim.get("exit", 0))
                else:
                    self.due(fa)
                    if pl:
                        self.due(pl[0][0])

    def tick_jobs(self, now):
        for key, job in list(self.objs["jobs"].items()):
            ns, name = key
            md, spec, st = job["metadata"], job["spec"], job["status"]
            if md.get("deletionTimestamp"):
                # foreground deletion: gone once its pods are
                if not self.job_pods(ns, job):
                    self.remove("jobs", ns, name)
                continue
            if self.job_finished(job):
                ttl = spec.get("ttlSecondsAfterFinished")
                done = self.finishing.get(key, {}).get("done_at")
                if ttl is not None and done is not None and now >= done + ttl:
                    self.delete_job(ns, name, "Background")
                continue
            fin = self.finishing.get(key)
            if fin is not None and "final" in fin:
                # second step: the terminal condition once pods are gone
                ctype, reason, message = fin.pop("final")
                if ctype == "Complete":
                    st["completionTime"] = ts(now)
                if key in self.job_times:
                    self.job_times[key]["finished"] = now
                    self.job_times[key]["condition"] = ctype
                st["active"] = 0
                st["ready"] = 0
                st["terminating"] = 0
                self.set_cond(job, ctype, "True", reason, message)
                fin["done_at"] = now
                self.put("jobs", job, "MODIFIED")
                self.event(ns, "Job", name, md["uid"],
                           "Normal" if ctype == "Complete" else "Warning",
                           "Completed" if ctype == "Complete" else reason,
                           "Job completed" if ctype == "Complete" else message,
                           "job-controller")
                continue
            if fin is not None:
                continue
            if spec.get("suspend"):
                if self.auto_admit and not self.kueue_managed(job):
                    spec["suspend"] = False
                    self.set_cond(job, "Suspended", "False", "JobResumed",
                                  "Job resumed")
                    self.put("jobs", job, "MODIFIED")
                elif self.set_cond(job, "Suspended", "True", "JobSuspended",
                                   "Job suspended"):
                    self.put("jobs", job, "MODIFIED")
                    self.event(ns, "Job", name, md["uid"], "Normal",
                               "Suspended", "Job suspended", "job-controller")
                continue
            changed = False
            if not st.get("startTime"):
                st["startTime"] = ts(now)
                changed = True
            pods = self.job_pods(ns, job)
            active = [p for p in pods if p["status"]["phase"] in ("Pending", "Running")]
            succeeded = sum(1 for p in pods if p["status"]["phase"] == "Succeeded")
            failed = sum(1 for p in pods if p["status"]["phase"] == "Failed")
            started = self.started_at(job)
            ads = spec.get("activeDeadlineSeconds")
            if ads is not None and now >= started + ads:
                msg = "Job was active longer than specified deadline"
                for p in active:
                    sim = self.sim.get((ns, p["metadata"]["name"]))
                    if sim is not None:
                        self.finish_pod(ns, p, sim, now, 137, "DeadlineExceeded", msg)
                        failed += 1
                self.fail_job(key, job, "DeadlineExceeded", msg, succeeded, failed)
                continue
            if spec.get("completionMode") == "Indexed":
                if self.tick_indexed(key, job, pods, now) or changed:
                    self.put("jobs", job, "MODIFIED")
                continue
            if succeeded >= spec.get("completions", 1):
                self.succeed_job(key, job, {"succeeded": succeeded,
                                            "failed": failed})
                self.put("jobs", job, "MODIFIED")
                continue
            if failed > spec.get("backoffLimit", 6):
                self.fail_job(key, job, "BackoffLimitExceeded",
                              "Job has reached the specified backoff limit",
                              succeeded, failed)
                continue
            if not active:
                self.make_pod(ns, job)
                pods = self.job_pods(ns, job)
                active = [p for p in pods if p["status"]["phase"] in ("Pending", "Running")]
            ready = sum(1 for p in active if self.cond_true(p, "Ready"))
            want = {"active": len(active), "ready": ready}
            if succeeded:
                want["succeeded"] = succeeded
            if failed:
                want["failed"] = failed
            if self.update_status(st, want) or changed:
                self.put("jobs", job, "MODIFIED")

    def succeed_job(self, key, job, counts):
        """Every completion reached: SuccessCriteriaMet now, Complete on
        the next tick (as the real controller does it in two steps)."""
        job["status"].update({"active": 0, "ready": 0, "terminating": 0})
        job["status"].update(counts)
        self.set_cond(job, "SuccessCriteriaMet", "True", "CompletionsReached",
                      "Reached expected number of succeeded pods")
        self.finishing[key] = {"final": (
            "Complete", "CompletionsReached",
            "Reached expected number of succeeded pods")}

    @staticmethod
    def update_status(st, want):
        """Set the counts of a running Job's status; whether any changed."""
        changed = False
        for k, v in want.items():
            if st.get(k) != v:
                st[k] = v
                changed = True
        if changed:
            st.setdefault("terminating", 0)
            st.setdefault("uncountedTerminatedPods", {})
        return changed

    def tick_indexed(self, key, job, pods, now):
        """One pass of the job controller over an Indexed Job: a pod for
        every index not yet succeeded (at most parallelism active), done
        when every index succeeded, failed past backoffLimit (the other
        pods deleted).  Returns whether the status changed."""
        ns, _ = key
        spec, st = job["spec"], job["status"]
        n = spec.get("completions", 1)

        def index_of(p):
            v = (p["metadata"].get("annotations") or {}).get(COMPLETION_INDEX)
            return int(v) if v is not None and v.isdigit() else -1
        active = [p for p in pods if p["status"]["phase"] in ("Pending", "Running")]
        done = sorted({index_of(p) for p in pods
                       if p["status"]["phase"] == "Succeeded"})
        failed = sum(1 for p in pods if p["status"]["phase"] == "Failed")
        if failed > spec.get("backoffLimit", 6):
            for p in active:
                self.delete_pod(ns, p["metadata"]["name"])
            self.fail_job(key, job, "BackoffLimitExceeded",
                          "Job has reached the specified backoff limit",
                          len(done), failed)
            return False
        if len(done) >= n:
            self.succeed_job(key, job, {
                "succeeded": len(done), "failed": failed,
                "completedIndexes": self.index_ranges(done)})
            return True
        busy = {index_of(p) for p in active} | set(done)
        for i in range(n):
            if len(active) >= spec.get("parallelism", 1):
                break
            if i not in busy:
                active.append(self.make_pod(ns, job, i))
        want = {"active": len(active),
                "ready": sum(1 for p in active if self.cond_true(p, "Ready")),
                "succeeded": len(done), "failed": failed}
        if done:
            want["completedIndexes"] = self.index_ranges(done)
        return self.update_status(st, want)

    @staticmethod
    def index_ranges(done):
        """[0, 1, 2, 5] as "0-2,5", as status.completedIndexes says it."""
        out, i = [], 0
        while i < len(done):
            j = i
            while j + 1 < len(done) and done[j + 1] == done[j] + 1:
                j += 1
            out.append(str(done[i]) if i == j else "%d-%d" % (done[i], done[j]))
            i = j + 1
        return ",".join(out)

    # -- services --------------------------------------------------------
    def create_service(self, ns, svc):
        md = svc.setdefault("metadata", {})
        name = md.get("name", "")
        causes = []
        if not name or len(name) > 63 or not DNS1035_LABEL.match(name):
            causes.append({"reason": "FieldValueInvalid", "field": "metadata.name",
                           "message": 'Invalid value: "%s": a DNS-1035 label must '
                           "consist of lower case alphanumeric characters or '-', "
                           "start with an alphabetic character, and end with an "
                           "alphanumeric character (e.g. 'my-name',  or 'abc-123', "
                           "regex used for validation is "
                           "'[a-z]([-a-z0-9]*[a-z0-9])?')" % name})
        spec = svc.get("spec")
        if not isinstance(spec, dict):
            spec = {}
            causes.append({"reason": "FieldValueRequired", "field": "spec",
                           "message": "Required value"})
        cip = spec.get("clusterIP")
        if not spec.get("ports") and cip != "None":
            causes.append({"reason": "FieldValueRequired", "field": "spec.ports",
                           "message": "Required value"})
        for k, v in (spec.get("selector") or {}).items():
            if not isinstance(v, str) or not LABEL_VALUE.match(v):
                causes.append({"reason": "FieldValueInvalid",
                               "field": "spec.selector",
                               "message": 'Invalid value: "%s"' % v})
        if causes:
            raise APIError(422, "Invalid", 'Service "%s" is invalid: %s' % (
                name, "; ".join("%s: %s" % (c["field"], c["message"]) for c in causes)),
                {"name": name, "kind": "Service", "causes": causes})
        with self.lock:
            if (ns, name) in self.objs["services"]:
                raise APIError(409, "AlreadyExists",
                               'services "%s" already exists' % name,
                               {"name": name, "kind": "services"})
            svc["apiVersion"] = "v1"
            svc["kind"] = "Service"
            md.update({"namespace": ns, "uid": str(uuid.uuid4()),
                       "creationTimestamp": ts()})
            md.setdefault("labels", {})
            md.pop("resourceVersion", None)
            spec.setdefault("type", "ClusterIP")
            if cip is None:
                spec["clusterIP"] = "10.96.%d.%d" % (random.randint(0, 255),
                                                    random.randint(1, 254))
            spec["clusterIPs"] = [spec["clusterIP"]]
            spec.setdefault("sessionAffinity", "None")
            spec.setdefault("ports", [])
            svc["spec"] = spec
            svc["status"] = {"loadBalancer": {}}
            self.put("services", svc, "ADDED")
            log("created service %s/%s" % (ns, name))
            return copy.deepcopy(svc)

    def started_at(self, job):
        s = job["status"].get("startTime")
        try:
            return time.mktime(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
        except (TypeError, ValueError):
            return time.time()

    def fail_job(self, key, job, reason, message, succeeded, failed):
        st = job["status"]
        st.update({"active": 0, "ready": 0, "failed": failed, "terminating": 0})
        if succeeded:
            st["succeeded"] = succeeded
        self.set_cond(job, "FailureTarget", "True", reason, message)
        self.finishing[key] = {"final": ("Failed", reason, message)}
        self.put("jobs", job, "MODIFIED")

    def delete_job(self, ns, name, policy):
        job = self.objs["jobs"].get((ns, name))
        if job is None:
            raise not_found("jobs", name)
        pods = self.job_pods(ns, job)
        self.finishing.pop((ns, name), None)
        if policy == "Foreground":
            job["metadata"]["deletionTimestamp"] = ts()
            job["metadata"]["deletionGracePeriodSeconds"] = 0
            job["metadata"].setdefault("finalizers", []).append("foregroundDeletion")
            self.put("jobs", job, "MODIFIED")
            for p in pods:
                self.delete_pod(ns, p["metadata"]["name"])
            return job
        self.remove("jobs", ns, name)
        if policy == "Background":
            for p in pods:
                self.delete_pod(ns, p["metadata"]["name"])
        else:   # Orphan
            for p in pods:
                p["metadata"].pop("ownerReferences", None)
                self.put("pods", p, "MODIFIED")
        return None

    def delete_pod(self, ns, name):
        pod = self.objs["pods"].get((ns, name))
        if pod is None:
            raise not_found("pods", name)
        sim = self.sim.pop((ns, name), None)
        if sim is not None:
            self.release_pod(sim)
        pod["metadata"]["deletionTimestamp"] = ts()
        pod["metadata"]["deletionGracePeriodSeconds"] = 0
        self.remove("pods", ns, name)
        return pod

    def admit(self, ns=None, name=None):
        n = 0
        with self.lock:
            for (jns, jname), job in self.objs["jobs"].items():
                if ns and jns != ns or name and jname != name:
                    continue
                if self.kueue_managed(job):
                    n += self.kueue_release_hold(jns, jname)
                    continue
                if job["spec"].get("suspend"):
                    job["spec"]["suspend"] = False
                    self.set_cond(job, "Suspended", "False", "JobResumed",
                                  "Job resumed")
                    self.put("jobs", job, "MODIFIED")
                    n += 1
        return n

    # -- Kueue -------------------------------------------------------------
    # A ClusterQueue with quota per flavor (nominalQuota, no borrowing),
    # LocalQueues pointing at it (valid in every namespace), and what
    # Kueue's job integration does for batch/v1 Jobs: a Workload per
    # suspended Job with a queue label (owner: the Job; one pod set "main",
    # count = parallelism), admitted in creation order when the first
    # flavor whose unused quota covers the whole Job (every pod at once)
    # is found, by unsuspending the Job; otherwise QuotaReserved=False with
    # Kueue's message.  Eviction re-suspends the Job, deletes its pods and
    # frees the quota; a finished Job frees it too.
    def kueue_managed(self, job):
        return self.kueue is not None and \
            QUEUE_LABEL in (job["metadata"].get("labels") or {})

    def workload_of(self, job):
        key = self.wl_of_job.get(job["metadata"]["uid"])
        return self.objs["workloads"].get(key) if key else None

    def wl_cond(self, wl, ctype, status, reason, message):
        """Set a metav1.Condition; True when it changed."""
        conds = wl["status"].setdefault("conditions", [])
        for c in conds:
            if c["type"] == ctype:
                if (c["status"], c["reason"], c["message"]) == (status, reason, message):
                    return False
                if c["status"] != status:
                    c["lastTransitionTime"] = ts()
                c.update({"status": status, "reason": reason, "message": message})
                return True
        conds.append({"type": ctype, "status": status, "reason": reason,
                      "message": message, "lastTransitionTime": ts(),
                      "observedGeneration": 1})
        return True

    def wl_need(self, wl):
        """Total requests of every pod of the Workload, by resource."""
        need = {}
        for ps in wl["spec"]["podSets"]:
            per = {}
            for c in ps["template"]["spec"].get("containers", []):
                res = c.get("resources") or {}
                reqs = dict(res.get("limits") or {})
                reqs.update(res.get("requests") or {})
                for r, v in reqs.items():
                    per[r] = per.get(r, 0) + quantity(v)
            for r, v in per.items():
                need[r] = need.get(r, 0) + v * ps["count"]
        return need

    def kueue_usage(self):
        used = {}
        for wl in self.objs["workloads"].values():
            adm = wl["status"].get("admission")
            if adm is None or self.cond_true(wl, "Finished"):
                continue
            for psa in adm["podSetAssignments"]:
                for r, f in psa.get("flavors", {}).items():
                    u = used.setdefault(f, {})
                    u[r] = u.get(r, 0) + quantity(psa["resourceUsage"].get(r, 0))
        return used

    def kueue_assign(self, need):
        """(flavor, None) when a flavor fits, else (None, why)."""
        k = self.kueue
        used = self.kueue_usage()
        covered = {r for f in k["flavors"] for r in f["quota"]}
        wanted = {r: n for r, n in sorted(need.items()) if r in covered and n > 0}
        reasons = []
        for f in k["flavors"]:
            why = None
            for r, n in wanted.items():
                if r not in f["quota"]:
                    why = "flavor %s has no quota for %s" % (f["name"], r)
                    break
                nominal = f["quota"][r]
                free = nominal - used.get(f["name"], {}).get(r, 0)
                if n > nominal:
                    why = ("insufficient quota for %s in flavor %s, request > "
                           "maximum capacity (%s > %s)" % (r, f["name"], fmt_qty(n),
                                                          fmt_qty(nominal)))
                    break
                if n > free:
                    why = ("insufficient unused quota for %s in flavor %s, %s "
                           "more needed" % (r, f["name"], fmt_qty(n - free)))
                    break
            if why is None:
                return f["name"], wanted, None
            reasons.append(why)
        return None, wanted, "couldn't assign flavors to pod set main: " + \
            ", ".join(reasons)

    def make_workload(self, ns, job):
        jmd = job["metadata"]
        name = "job-%s-%s" % (jmd["name"][:200], uuid.uuid4().hex[:5])
        owner = {"apiVersion": "batch/v1", "kind": "Job", "name": jmd["name"],
                 "uid": jmd["uid"], "controller": True,
                 "blockOwnerDeletion": True}
        wl = {"apiVersion": KUEUE_GROUP + "/v1beta2", "kind": "Workload",
              "metadata": self.new_meta(ns, name, {"kueue.x-k8s.io/job-uid": jmd["uid"]},
                                        owner),
              "spec": {"queueName": jmd["labels"][QUEUE_LABEL], "active": True,
                       "priority": 0,
                       "podSets": [{"name": "main",
                                    "count": job["spec"].get("parallelism", 1),
                                    "template": copy.deepcopy(job["spec"]["template"])}]},
              "status": {}}
        wl["metadata"]["generation"] = 1
        self.put("workloads", wl, "ADDED")
        self.wl_of_job[jmd["uid"]] = (ns, name)
        return wl

    def admit_workload(self, wl, job, flavor, wanted):
        k = self.kueue
        wl["status"]["admission"] = {
            "clusterQueue": k["cluster_queue"],
            "podSetAssignments": [{
                "name": "main", "count": wl["spec"]["podSets"][0]["count"],
                "flavors": {r: flavor for r in wanted},
                "resourceUsage": {r: fmt_qty(n) for r, n in wanted.items()}}]}
        self.wl_cond(wl, "QuotaReserved", "True", "QuotaReserved",
                     "Quota reserved in ClusterQueue " + k["cluster_queue"])
        self.wl_cond(wl, "Admitted", "True", "Admitted",
                     "The workload is admitted")
        for ctype in ("Evicted", "Preempted"):
            for c in wl["status"].get("conditions", []):
                if c["type"] == ctype and c["status"] == "True":
                    self.wl_cond(wl, ctype, "False", "QuotaReserved",
                                 "Previously: " + c["message"])
        self.put("workloads", wl, "MODIFIED")
        md = job["metadata"]
        job["spec"]["suspend"] = False
        self.set_cond(job, "Suspended", "False", "JobResumed", "Job resumed")
        self.put("jobs", job, "MODIFIED")
        self.event(md["namespace"], "Job", md["name"], md["uid"], "Normal",
                   "Started", "Admitted by clusterQueue " + k["cluster_queue"],
                   "kueue-admission")

    def tick_kueue(self, now):
        k = self.kueue
        if k is None:
            return
        # the job integration: a Workload per queued Job
        for (ns, _), job in list(self.objs["jobs"].items()):
            if not self.kueue_managed(job) or job["metadata"].get("deletionTimestamp"):
                continue
            wl = self.workload_of(job)
            if wl is None:
                if job["spec"].get("suspend") and not self.job_finished(job):
                    self.make_workload(ns, job)
            elif self.job_finished(job) and not self.cond_true(wl, "Finished"):
                ok = self.cond_true(job, "Complete")
                self.wl_cond(wl, "Finished", "True",
                             "Succeeded" if ok else "Failed",
                             "Job finished successfully" if ok else
                             self.job_failure_message(job))
                self.put("workloads", wl, "MODIFIED")
        # the garbage collector: a Workload goes with its Job
        uids = {j["metadata"]["uid"] for j in self.objs["jobs"].values()}
        for uid, (ns, name) in list(self.wl_of_job.items()):
            if uid not in uids:
                del self.wl_of_job[uid]
                self.wl_held.discard((ns, name))
                self.remove("workloads", ns, name)
        # the scheduler: BestEffortFIFO over the pending Workloads
        pending = sorted((wl for wl in self.objs["workloads"].values()
                          if wl["status"].get("admission") is None
                          and not self.cond_true(wl, "Finished")),
                         key=lambda w: (w["metadata"]["creationTimestamp"],
                                        int(w["metadata"]["resourceVersion"])))
        for wl in pending:
            md = wl["metadata"]
            job = self.objs["jobs"].get((md["namespace"],
                                         md["ownerReferences"][0]["name"]))
            if job is None:
                continue
            q = wl["spec"]["queueName"]
            if q not in k["queues"]:
                changed = self.wl_cond(wl, "QuotaReserved", "False", "Inadmissible",
                                       "LocalQueue %s doesn't exist" % q)
            elif (md["namespace"], md["name"]) in self.wl_held:
                changed = False
            else:
                flavor, wanted, why = self.kueue_assign(self.wl_need(wl))
                if why is None:
                    self.admit_workload(wl, job, flavor, wanted)
                    continue
                changed = self.wl_cond(wl, "QuotaReserved", "False", "Pending", why)
            if changed:
                self.put("workloads", wl, "MODIFIED")

    def job_failure_message(self, job):
        for c in job["status"].get("conditions", []) or []:
            if c["type"] == "Failed" and c["status"] == "True":
                return c.get("message", "")
        return "Job failed"

    def kueue_evict(self, ns=None, name=None, hold=False, message=None):
        """Preempt the admitted Workloads of the matching Jobs."""
        n = 0
        with self.lock:
            for (jns, jname), job in list(self.objs["jobs"].items()):
                if ns and jns != ns or name and jname != name:
                    continue
                wl = self.workload_of(job)
                if wl is None or wl["status"].get("admission") is None \
                        or self.job_finished(job):
                    continue
                msg = message or ("Preempted to accommodate a workload (UID: %s, "
                                  "JobUID: %s) due to prioritization in the "
                                  "ClusterQueue" % (uuid.uuid4(), uuid.uuid4()))
                del wl["status"]["admission"]
                self.wl_cond(wl, "Evicted", "True", "Preempted", msg)
                self.wl_cond(wl, "Preempted", "True", "InClusterQueue", msg)
                self.wl_cond(wl, "QuotaReserved", "False", "Preempted", msg)
                self.wl_cond(wl, "Admitted", "False", "NoReservation",
                             "The workload has no reservation")
                stats = wl["status"].setdefault("schedulingStats", {}) \
                    .setdefault("evictions", [])
                for e in stats:
                    if e["reason"] == "Preempted":
                        e["count"] += 1
                        break
                else:
                    stats.append({"reason": "Preempted",
                                  "underlyingCause": "InClusterQueue", "count": 1})
                key = (wl["metadata"]["namespace"], wl["metadata"]["name"])
                if hold:
                    self.wl_held.add(key)
                self.put("workloads", wl, "MODIFIED")
                # the job integration stops the Job: suspend, pods deleted
                job["spec"]["suspend"] = True
                job["status"].pop("startTime", None)
                job["status"].update({"active": 0, "ready": 0})
                self.set_cond(job, "Suspended", "True", "JobSuspended",
                              "Job suspended")
                self.put("jobs", job, "MODIFIED")
                for p in self.job_pods(jns, job):
                    self.delete_pod(jns, p["metadata"]["name"])
                self.event(jns, "Job", jname, job["metadata"]["uid"], "Normal",
                           "Stopped", msg, "kueue-admission")
                n += 1
        return n

    def kueue_release_hold(self, ns=None, name=None):
        n = 0
        for (jns, jname), job in self.objs["jobs"].items():
            if ns and jns != ns or name and jname != name:
                continue
            wl = self.workload_of(job)
            if wl is not None:
                key = (wl["metadata"]["namespace"], wl["metadata"]["name"])
                if key in self.wl_held:
                    self.wl_held.discard(key)
                    n += 1
        return n

    def kueue_set_quota(self, flavor, quota):
        with self.lock:
            for f in self.kueue["flavors"]:
                if f["name"] == flavor:
                    f["quota"] = {r: quantity(v) for r, v in quota.items()}
                    return True
            self.kueue["flavors"].append(
                {"name": flavor, "quota": {r: quantity(v) for r, v in quota.items()}})
            return True

    def due(self, t):
        """A tick is wanted at time t (a pod starts or ends, a log line is
        due, an InferenceService gets Ready): an idle loop wakes then."""
        if t is not None and (self.next_due is None or t < self.next_due):
            self.next_due = t

    def run(self):
        """Tick every --tick-ms while objects change; once five ticks in a
        row changed nothing, wait for the next change (an API write wakes
        the condition), the next due time or 50 ms, whichever is first:
        an idle fake costs next to no CPU."""
        pause = self.args.tick_ms / 1000.0
        idle = 0
        while not self.stopping:
            rv = self.rv
            self.next_due = None
            try:
                self.tick()
            except Exception as e:      # keep the fake alive, but say why
                sys.stderr.write("kube_apiserver: tick: %r\n" % e)
                import traceback
                traceback.print_exc()
            idle = idle + 1 if self.rv == rv else 0
            wait = pause
            if idle >= 5:
                wait = max(pause, 0.05)
                if self.next_due is not None:
                    wait = max(pause, min(wait, self.next_due - time.time()))
            if wait <= pause:
                time.sleep(pause)
                continue
            with self.lock:
                if self.rv == rv and not self.stopping:
                    self.cond.wait(wait)


# --------------------------------------------------------------------------
# Discovery and OpenAPI

def resource_list(group, version):
    gv = version if not group else group + "/" + version
    out = []
    for plural, (g, v, kind, namespaced, verbs) in list(RESOURCES.items()) + \
            list(SUBRESOURCES.items()):
        if g != group or v != version:
            continue
        r = {"name": plural, "singularName": "" if "/" in plural else kind.lower(),
             "namespaced": namespaced, "kind": kind, "verbs": verbs}
        if plural == "jobs":
            r["categories"] = ["all"]
        if plural == "pods":
            r["shortNames"] = ["po"]
            r["categories"] = ["all"]
        if plural == "events":
            r["shortNames"] = ["ev"]
        if plural == "namespaces":
            r["shortNames"] = ["ns"]
        if plural == "services":
            r["shortNames"] = ["svc"]
            r["categories"] = ["all"]
        out.append(r)
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": gv, "resources": out}


def openapi_gv(group, version):
    """Just enough OpenAPI v3 for kubectl: PATCH operations that accept
    fieldValidation, so that kubectl asks the server to validate."""
    paths = {}
    for plural, (g, v, kind, namespaced, verbs) in RESOURCES.items():
        if g != group or v != version:
            continue
        prefix = "/api/v1" if not g else "/apis/%s/%s" % (g, v)
        p = "%s/namespaces/{namespace}/%s/{name}" % (prefix, plural) if namespaced \
            else "%s/%s/{name}" % (prefix, plural)
        paths[p] = {"patch": {
            "x-kubernetes-group-version-kind": {"group": g, "version": v, "kind": kind},
            "x-kubernetes-action": "patch",
            "parameters": [{"name": "fieldValidation", "in": "query",
                            "schema": {"type": "string"}}],
            "responses": {"200": {"description": "OK"}}}}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes (fake)",
                                         "version": "v1.32.0"},
            "paths": paths, "components": {"schemas": {}}}


DISCOVERY = {
    "/version": {"major": "1", "minor": "32", "gitVersion": "v1.32.0-fake",
                 "gitCommit": "fake", "gitTreeState": "clean",
                 "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.23",
                 "compiler": "gc", "platform": "linux/amd64"},
    "/api": {"kind": "APIVersions", "versions": ["v1"],
             "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                             "serverAddress": "127.0.0.1"}]},
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
        {"name": "batch", "versions": [{"groupVersion": "batch/v1", "version": "v1"}],
         "preferredVersion": {"groupVersion": "batch/v1", "version": "v1"}}]},
    "/api/v1": resource_list("", "v1"),
    "/apis/batch/v1": resource_list("batch", "v1"),
    "/openapi/v3": {"paths": {
        "api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=fake1"},
        "apis/batch/v1": {"serverRelativeURL": "/openapi/v3/apis/batch/v1?hash=fake2"}}},
    "/openapi/v3/api/v1": openapi_gv("", "v1"),
    "/openapi/v3/apis/batch/v1": openapi_gv("batch", "v1"),
    "/healthz": "ok", "/readyz": "ok", "/livez": "ok",
}


def add_traffic_discovery():
    """serving.kserve.io/v1beta1 and gateway.networking.k8s.io/v1, as the
    CRDs of KServe and the Gateway API offer them."""
    for group, version in ((KSERVE_GROUP, "v1beta1"), (GATEWAY_GROUP, "v1")):
        gv = group + "/" + version
        g = {"name": group, "versions": [{"groupVersion": gv, "version": version}],
             "preferredVersion": {"groupVersion": gv, "version": version}}
        DISCOVERY["/apis"]["groups"].append(g)
        DISCOVERY["/apis/" + group] = dict(g, kind="APIGroup", apiVersion="v1")
        DISCOVERY["/apis/" + gv] = resource_list(group, version)
        DISCOVERY["/openapi/v3"]["paths"]["apis/" + gv] = {
            "serverRelativeURL": "/openapi/v3/apis/%s?hash=fake-%s" % (gv, group)}
        DISCOVERY["/openapi/v3/apis/" + gv] = openapi_gv(group, version)


add_traffic_discovery()



def add_kueue_discovery(versions):
    """Offer kueue.x-k8s.io in discovery (only versions), preferring the
    first version."""
    DISCOVERY["/apis"]["groups"] = [g for g in DISCOVERY["/apis"]["groups"]
                                    if g["name"] != KUEUE_GROUP]
    for v in KUEUE_VERSIONS:
        DISCOVERY.pop("/apis/%s/%s" % (KUEUE_GROUP, v), None)
    gvs = [{"groupVersion": KUEUE_GROUP + "/" + v, "version": v} for v in versions]
    group = {"name": KUEUE_GROUP, "versions": gvs, "preferredVersion": gvs[0]}
    DISCOVERY["/apis"]["groups"].append(group)
    DISCOVERY["/apis/" + KUEUE_GROUP] = dict(group, kind="APIGroup", apiVersion="v1")
    for v in versions:
        gv = KUEUE_GROUP + "/" + v
        DISCOVERY["/apis/" + gv] = {
            "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
            "resources": [{"name": "workloads", "singularName": "workload",
                           "namespaced": True, "kind": "Workload",
                           "shortNames": ["wl"], "categories": ["kueue"],
                           "verbs": RESOURCES["workloads"][4]},
                          {"name": "workloads/status", "singularName": "",
                           "namespaced": True, "kind": "Workload",
                           "verbs": ["get"]}]}


# --------------------------------------------------------------------------
# Server-side printing (kubectl asks for meta.k8s.io/v1 Table)

def parse_ts(v):
    try:
        return time.mktime(time.strptime(v, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    except (TypeError, ValueError):
        return None


def age(v, now=None):
    t = parse_ts(v)
    if t is None:
        return "<unknown>"
    d = int((now or time.time()) - t)
    if d < 120:
        return "%ds" % max(d, 0)
    if d < 3600:
        return "%dm%ds" % (d // 60, d % 60) if d < 600 else "%dm" % (d // 60)
    return "%dh%dm" % (d // 3600, (d % 3600) // 60)


def job_status_word(job):
    true = [c["type"] for c in job.get("status", {}).get("conditions", []) or []
            if c["status"] == "True"]
    for word in ("Complete", "Failed", "FailureTarget", "SuccessCriteriaMet",
                 "Suspended"):
        if word in true:
            return word
    return "Running"


def pod_status_word(pod):
    st = pod.get("status", {})
    if pod["metadata"].get("deletionTimestamp"):
        return "Terminating"
    for cs in st.get("containerStatuses", []) or []:
        state = cs.get("state", {})
        if "waiting" in state:
            return state["waiting"].get("reason", "Waiting")
        if "terminated" in state:
            return state["terminated"].get("reason", "Terminated")
    return st.get("phase", "Unknown")


TABLE_COLUMNS = {
    "jobs": ["Name", "Status", "Completions", "Duration", "Age"],
    "pods": ["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node"],
    "events": ["Last Seen", "Type", "Reason", "Object", "Message"],
    "namespaces": ["Name", "Status", "Age"],
    "nodes": ["Name", "Status", "Roles", "Age", "Version"],
    "secrets": ["Name", "Type", "Data", "Age"],
    "workloads": ["Name", "Queue", "Reserved in", "Admitted", "Finished", "Age"],
    "services": ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age"],
}


def table_cells(plural, o):
    md = o["metadata"]
    if plural == "jobs":
        st = o.get("status", {})
        start, end = parse_ts(st.get("startTime")), parse_ts(st.get("completionTime"))
        dur = ""
        if start is not None:
            dur = age(st.get("startTime"), end) if end else age(st.get("startTime"))
        return [md["name"], job_status_word(o),
                "%d/%d" % (st.get("succeeded", 0), o["spec"].get("completions", 1)),
                dur, age(md.get("creationTimestamp"))]
    if plural == "pods":
        css = o.get("status", {}).get("containerStatuses", []) or []
        ready = sum(1 for c in css if c.get("ready"))
        return [md["name"], "%d/%d" % (ready, len(o["spec"].get("containers", []))),
                pod_status_word(o), 0, age(md.get("creationTimestamp")),
                o.get("status", {}).get("podIP", "<none>"),
                o["spec"].get("nodeName", "<none>")]
    if plural == "services":
        sp = o.get("spec", {})
        ports = ",".join("%s/%s" % (p.get("port"), p.get("protocol", "TCP"))
                         for p in sp.get("ports") or []) or "<none>"
        return [md["name"], sp.get("type", "ClusterIP"), sp.get("clusterIP", ""),
                "<none>", ports, age(md.get("creationTimestamp"))]
    if plural == "events":
        io = o.get("involvedObject", {})
        return [age(o.get("lastTimestamp")), o.get("type"), o.get("reason"),
                "%s/%s" % (io.get("kind", "").lower(), io.get("name")), o.get("message")]
    if plural == "nodes":
        return [md["name"], "Ready", "<none>", age(md.get("creationTimestamp")),
                "v1.31.0-fake"]
    if plural == "secrets":
        return [md["name"], o.get("type", "Opaque"), len(o.get("data") or {}),
                age(md.get("creationTimestamp"))]
    if plural == "workloads":
        def cond(t):
            for c in o.get("status", {}).get("conditions", []) or []:
                if c["type"] == t:
                    return c["status"]
            return ""
        adm = o.get("status", {}).get("admission") or {}
        return [md["name"], o["spec"].get("queueName", ""),
                adm.get("clusterQueue", ""), cond("Admitted"), cond("Finished"),
                age(md.get("creationTimestamp"))]
    return [md["name"], "Active", age(md.get("creationTimestamp"))]


def wants_table(headers):
    return "as=Table" in (headers.get("Accept") or "")


def to_table(plural, objs, rv, include_object):
    cols = []
    for i, c in enumerate(TABLE_COLUMNS[plural]):
        cols.append({"name": c, "type": "integer" if c in ("Restarts", "Data") else "string",
                     "format": "name" if c == "Name" else "", "description": c,
                     "priority": 1 if c in ("IP", "Node") else 0})
    rows = []
    for o in objs:
        if include_object == "Object":
            obj = copy.deepcopy(o)
            obj.setdefault("apiVersion", gv_of(plural))
            obj.setdefault("kind", RESOURCES[plural][2])
        elif include_object == "None":
            obj = None
        else:
            obj = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                   "metadata": copy.deepcopy(o["metadata"])}
        rows.append({"cells": table_cells(plural, o), "object": obj})
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
            "metadata": {"resourceVersion": rv}, "columnDefinitions": cols,
            "rows": rows}


# --------------------------------------------------------------------------
# HTTP

class Dropped(Exception):
    pass


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kube-apiserver-fake/1"
    # one segment per answer: no Nagle/delayed-ACK stalls between the
    # headers and the body
    disable_nagle_algorithm = True
    wbufsize = 64 * 1024
    store = None    # set in main

    def log_message(self, fmt, *a):
        log("%s %s" % (self.address_string(), fmt % a))

    # -- plumbing --------------------------------------------------------
    def send_json(self, code, obj, headers=None):
        body = (json.dumps(obj) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Audit-Id", str(uuid.uuid4()))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_text(self, code, text, ctype="text/plain"):
        body = text.encode() if isinstance(text, str) else text
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_error_status(self, e):
        self.send_json(e.code, status_obj(e.code, e.reason, e.message, e.details),
                       e.headers)

    def start_chunked(self, ctype):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.wfile.flush()

    def chunk(self, data):
        if data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

    def end_chunked(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def drop(self):
        """Cut the connection without a proper end (a dropped stream)."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        raise Dropped()

    def read_body(self):
        """The request body, read once (every request's body is read, so
        that a keep-alive connection stays in step)."""
        if getattr(self, "_body", None) is not None:
            return self._body
        n = int(self.headers.get("Content-Length") or 0)
        if n > 8 * 1024 * 1024:
            self.close_connection = True
            raise APIError(413, "RequestEntityTooLarge", "request entity too large")
        self._body = self.rfile.read(n) if n else b""
        return self._body

    def read_json(self):
        data = self.read_body()
        try:
            return json.loads(data.decode() or "{}")
        except (ValueError, UnicodeDecodeError) as e:
            raise APIError(400, "BadRequest",
                           "the body of the request was in an unknown format: %s" % e)

    # -- dispatch --------------------------------------------------------
    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_PATCH(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def dispatch(self):
        self.t_recv = time.time()   # the request has arrived (its headers)
        self._body = None
        u = urllib.parse.urlsplit(self.path)
        self.q = {k: v[-1] for k, v in urllib.parse.parse_qs(
            u.query, keep_blank_values=True).items()}
        self.upath = u.path.rstrip("/") or "/"
        try:
            self.read_body()
            if self.upath.startswith("/_fake"):
                self.control()
                return
            self.api()
        except APIError as e:
            if e.code >= 500 or e.code == 429:
                log("%s %s -> %d" % (self.command, self.path, e.code))
            try:
                self.send_error_status(e)
            except OSError:
                self.close_connection = True
        except Dropped:
            pass
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True

    def classify(self):
        """(verb, resource, ns, name, sub) of an API path, or None."""
        parts = [p for p in self.upath.split("/") if p]
        if parts[:2] == ["api", "v1"]:
            rest = parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            rest = parts[3:]
        else:
            return None
        ns = None
        if len(rest) >= 2 and rest[0] == "namespaces" and len(rest) != 2:
            ns = rest[1]
            rest = rest[2:]
        if not rest:
            return None
        plural = rest[0]
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        watch = self.q.get("watch") in ("1", "true")
        if self.command == "GET":
            verb = "watch" if watch else ("get" if name else "list")
        elif self.command == "POST":
            verb = "create"
        elif self.command == "DELETE":
            verb = "delete" if name else "deletecollection"
        elif self.command == "PUT":
            verb = "update"
        else:
            verb = "patch"
        res = plural + ("/" + sub if sub else "")
        return verb, res, ns, plural, name, sub

    def authenticate(self):
        """Return the token used ('' for a client certificate)."""
        st = self.store
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            tok = auth[7:].strip()
            with st.lock:
                st.by_token[tok] = st.by_token.get(tok, 0) + 1
                if tok in st.forbidden:
                    return tok, "forbidden"
                if tok in st.tokens:
                    return tok, "ok"
            return tok, "unauthorized"
        try:
            cert = self.connection.getpeercert()
        except (AttributeError, ValueError):
            cert = None
        if cert:
            with st.lock:
                st.by_token["<client-cert>"] = st.by_token.get("<client-cert>", 0) + 1
            return "", "ok"
        return None, "unauthorized"

    def api(self):
        st = self.store
        if self.upath in ("/version", "/healthz", "/readyz", "/livez"):
            obj = DISCOVERY[self.upath]
            if isinstance(obj, str):
                self.send_text(200, obj)
            else:
                self.send_json(200, obj)
            return
        tok, verdict = self.authenticate()
        self.client = tok or ""
        if verdict == "unauthorized":
            with st.lock:
                st.stats_extra["unauthorized"] += 1
            raise APIError(401, "Unauthorized", "Unauthorized")
        cls = self.classify()
        key = "%s %s" % (cls[0], cls[1]) if cls else "discovery"
        with st.lock:
            st.stats[key] = st.stats.get(key, 0) + 1
        self.fault(key)
        if cls is None:
            if self.upath in DISCOVERY:
                self.send_json(200, DISCOVERY[self.upath])
                return
            raise APIError(404, "NotFound", "the server could not find the requested resource")
        verb, res, ns, plural, name, sub = cls
        if verdict == "forbidden":
            with st.lock:
                st.stats_extra["forbidden"] += 1
            g = GROUP_NAMES.get(plural, "")
            raise APIError(403, "Forbidden",
                           '%s is forbidden: User "system:serviceaccount:test:'
                           'forbidden" cannot %s resource "%s" in API group "%s"%s'
                           % (qualified(plural), verb, res, g,
                              ' in the namespace "%s"' % ns if ns else " at the cluster scope"),
                           {"kind": plural, "group": g, "name": name or ""})
        if plural not in RESOURCES or not self.served(plural):
            raise APIError(404, "NotFound", "the server could not find the requested resource")
        if verb == "list":
            self.do_list(plural, ns)
        elif verb == "watch":
            self.do_watch(plural, ns, name)
        elif verb == "get" and sub == "log" and plural == "pods":
            self.do_log(ns, name)
        elif verb == "get":
            self.do_get(plural, ns, name)
        elif verb == "create" and plural == "secrets" and name is None:
            body = self.read_json()
            if not isinstance(body, dict) or body.get("kind") not in (None, "Secret"):
                raise APIError(400, "BadRequest", "expected a Secret object")
            self.send_json(201, st.create_secret(ns or "default", body))
        elif verb == "create" and plural == "jobs" and name is None:
            body = self.read_json()
            if not isinstance(body, dict):
                raise APIError(400, "BadRequest", "the body is not an object")
            if body.get("kind") not in (None, "Job"):
                raise APIError(400, "BadRequest", "expected kind Job, got %s" % body.get("kind"))
            dry = self.q.get("dryRun") == "All"
            obj = st.create_job(ns or "default", body, dry_run=dry,
                                posted=(self.t_recv, self.client))
            self.send_json(201, obj)
        elif verb == "create" and plural == "services" and name is None:
            body = self.read_json()
            if not isinstance(body, dict) or body.get("kind") not in (None, "Service"):
                raise APIError(400, "BadRequest", "expected a Service object")
            md = body.setdefault("metadata", {})
            if md.get("namespace") and md["namespace"] != (ns or "default"):
                raise APIError(400, "BadRequest",
                               "the namespace of the provided object does not "
                               "match the namespace sent on the request")
            self.send_json(201, st.create_service(ns or "default", body))
        elif verb == "create" and plural in ("inferenceservices", "httproutes") \
                and name is None:
            body = self.read_json()
            if not isinstance(body, dict) or \
                    body.get("kind") not in (None, RESOURCES[plural][2]):
                raise APIError(400, "BadRequest", "expected a %s object"
                               % RESOURCES[plural][2])
            self.send_json(201, st.create_traffic(plural, ns or "default", body))
        elif verb == "patch" and plural in ("inferenceservices", "httproutes") \
                and name is not None and sub is None:
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            if ctype != "application/merge-patch+json":
                raise APIError(415, "UnsupportedMediaType",
                               "the body of the request was in an unknown format - "
                               "accepted media types include: "
                               "application/json-patch+json, application/merge-patch+json, "
                               "application/apply-patch+yaml")
            body = self.read_json()
            with st.lock:
                st.stats["merge-patch " + plural] = \
                    st.stats.get("merge-patch " + plural, 0) + 1
            self.send_json(200, st.patch_traffic(plural, ns or "default", name, body))
        elif verb == "delete":
            self.do_delete(plural, ns, name)
        else:
            raise APIError(405, "MethodNotAllowed",
                           "the fake does not implement %s on %s" % (verb, res))

    def fault(self, key):
        st = self.store
        hit = None
        with st.lock:
            for f in st.faults:
                if f["count"] == 0:
                    continue
                if f.get("method") and f["method"].upper() != self.command:
                    continue
                if f.get("verb") and f["verb"] != key:
                    continue
                if f.get("path_regex") and not re.search(f["path_regex"], self.path):
                    continue
                if f["count"] > 0:
                    f["count"] -= 1
                hit = dict(f)
                st.stats_extra["faults_served"] += 1
                break
            st.faults = [f for f in st.faults if f["count"] != 0]
        if hit is None:
            return
        if hit.get("delay_ms"):
            time.sleep(hit["delay_ms"] / 1000.0)
        if hit.get("drop"):
            with st.lock:
                st.stats_extra["dropped"] += 1
            self.read_body()
            self.drop()
        if not hit.get("status"):
            return
        code = int(hit["status"])
        reason = hit.get("reason") or {
            400: "BadRequest", 401: "Unauthorized", 403: "Forbidden",
            404: "NotFound", 409: "Conflict", 410: "Expired",
            422: "Invalid", 429: "TooManyRequests", 500: "InternalError",
            503: "ServiceUnavailable", 504: "Timeout"}.get(code, "InternalError")
        headers = {}
        if hit.get("retry_after") is not None:
            headers["Retry-After"] = hit["retry_after"]
        msg = hit.get("message") or {
            429: "the server has received too many requests and has asked us to try again later",
            500: "an error on the server has prevented the request from succeeding",
            503: "the server is currently unable to handle the request",
        }.get(code, "injected fault %d" % code)
        self.read_body()
        details = None
        if hit.get("retry_after") is not None:
            details = {"retryAfterSeconds": int(hit["retry_after"])}
        if hit.get("causes"):
            details = dict(details or {})
            details["causes"] = hit["causes"]
        raise APIError(code, reason, msg, details, headers)

    def served(self, plural):
        """Whether the path's group/version serves plural (Kueue's
        resources only when the fake has Kueue, in the versions offered)."""
        group = RESOURCES[plural][0]
        if group != KUEUE_GROUP:
            return True
        parts = [p for p in self.upath.split("/") if p]
        k = self.store.kueue
        return k is not None and parts[:2] == ["apis", KUEUE_GROUP] and \
            len(parts) > 2 and parts[2] in k["versions"]

    def gv(self, plural):
        """The apiVersion of answers about plural: the path's version for
        Kueue's resources (served in several), else the resource's own."""
        if RESOURCES[plural][0] == KUEUE_GROUP:
            return KUEUE_GROUP + "/" + [p for p in self.upath.split("/") if p][2]
        return gv_of(plural)

    # -- verbs -----------------------------------------------------------
    def selected(self, plural, ns, name=None):
        lsel = parse_label_selector(self.q.get("labelSelector", ""))
        fsel = parse_field_selector(self.q.get("fieldSelector", ""))
        out = []
        for (ons, oname), obj in sorted(self.store.objs[plural].items()):
            if ns is not None and ons != ns:
                continue
            if name is not None and oname != name:
                continue
            if not labels_match(lsel, obj["metadata"].get("labels")):
                continue
            if not fields_match(fsel, obj):
                continue
            out.append(obj)
        return out

    def do_list(self, plural, ns):
        st = self.store
        limit = int(self.q.get("limit") or 0)
        cont = self.q.get("continue") or ""
        with st.lock:
            items = self.selected(plural, ns)
            rv = str(st.rv)
            start = 0
            if cont:
                try:
                    crv, cstart = cont.split(":", 1)
                    start = int(cstart)
                    crv = int(crv)
                except ValueError:
                    raise APIError(400, "BadRequest", "invalid continue token")
                if crv < st.oldest_rv:
                    raise APIError(410, "Expired",
                                   "The provided continue parameter is too old "
                                   "to display a consistent list result. You can "
                                   "start a new list without the continue parameter.")
                rv = str(crv)
            meta = {"resourceVersion": rv}
            if limit > 0 and start + limit < len(items):
                meta["continue"] = "%s:%d" % (rv, start + limit)
                meta["remainingItemCount"] = len(items) - start - limit
                items = items[start:start + limit]
            else:
                items = items[start:]
            body = {"kind": RESOURCES[plural][2] + "List",
                    "apiVersion": self.gv(plural), "metadata": meta,
                    "items": copy.deepcopy(items)}
        for it in body["items"]:
            it.pop("apiVersion", None)
            it.pop("kind", None)
        if wants_table(self.headers):
            t = to_table(plural, body["items"], meta["resourceVersion"],
                         self.q.get("includeObject"))
            if "continue" in meta:
                t["metadata"]["continue"] = meta["continue"]
            body = t
        self.send_json(200, body)

    def do_get(self, plural, ns, name):
        if plural == "namespaces":
            # every namespace exists, as if created on demand
            self.send_json(200, {"kind": "Namespace", "apiVersion": "v1",
                                 "metadata": {"name": name, "uid": name,
                                              "resourceVersion": "1"},
                                 "status": {"phase": "Active"}})
            return
        with self.store.lock:
            obj = self.store.objs[plural].get((ns or "", name))
            if obj is None:
                raise not_found(plural, name)
            obj = copy.deepcopy(obj)
        if "apiVersion" in obj:
            obj["apiVersion"] = self.gv(plural)
        if wants_table(self.headers):
            obj = to_table(plural, [obj], obj["metadata"]["resourceVersion"],
                           self.q.get("includeObject"))
        elif "as=PartialObjectMetadata" in (self.headers.get("Accept") or ""):
            obj = {"kind": "PartialObjectMetadata",
                   "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}
        self.send_json(200, obj)

    def do_delete(self, plural, ns, name):
        st = self.store
        policy = self.q.get("propagationPolicy")
        if self.headers.get("Content-Length"):
            body = self.read_json()
            if isinstance(body, dict) and body.get("propagationPolicy"):
                policy = body["propagationPolicy"]
        if policy not in (None, "Background", "Foreground", "Orphan"):
            raise APIError(422, "Invalid", "propagationPolicy: Unsupported value: %r"
                           % policy, {"causes": [{"reason": "FieldValueNotSupported",
                                                  "field": "propagationPolicy",
                                                  "message": "Unsupported value"}]})
        with st.lock:
            if plural == "jobs":
                # batch/v1 Jobs orphan their pods when no policy is given
                old = st.objs["jobs"].get((ns or "default", name))
                job_uid = old["metadata"]["uid"] if old else None
                obj = st.delete_job(ns or "default", name, policy or "Orphan")
                if obj is not None:
                    self.send_json(200, copy.deepcopy(obj))
                    return
                self.send_json(200, {"kind": "Status", "apiVersion": "v1",
                                     "metadata": {}, "status": "Success",
                                     "details": {"name": name, "group": "batch",
                                                 "kind": "jobs", "uid": job_uid}})
                return
            if plural == "pods":
                obj = st.delete_pod(ns or "default", name)
                self.send_json(200, copy.deepcopy(obj))
                return
            obj = st.remove(plural, ns or "", name)
            if obj is None:
                raise not_found(plural, name)
        self.send_json(200, obj)

    def do_watch(self, plural, ns, name):
        st = self.store
        lsel = parse_label_selector(self.q.get("labelSelector", ""))
        fsel = parse_field_selector(self.q.get("fieldSelector", ""))
        bookmarks = self.q.get("allowWatchBookmarks") in ("1", "true")
        rvq = self.q.get("resourceVersion", "")
        try:
            timeout = float(self.q.get("timeoutSeconds") or 1800)
        except ValueError:
            raise APIError(400, "BadRequest", "invalid timeoutSeconds")
        deadline = time.time() + timeout
        kind = RESOURCES[plural][2]

        def matches(obj):
            md = obj["metadata"]
            if ns is not None and md.get("namespace", "") != ns:
                return False
            if name is not None and md["name"] != name:
                return False
            return labels_match(lsel, md.get("labels")) and fields_match(fsel, obj)

        table = wants_table(self.headers)

        def event_bytes(etype, obj):
            o = copy.deepcopy(obj)
            o["apiVersion"] = self.gv(plural)
            o["kind"] = kind
            if table:
                o = to_table(plural, [o], o["metadata"]["resourceVersion"],
                             self.q.get("includeObject"))
            return (json.dumps({"type": etype, "object": o}) + "\n").encode()

        with st.lock:
            initial = []
            if rvq in ("", "0"):
                last = st.rv
                for obj in self.selected(plural, ns, name):
                    initial.append(event_bytes("ADDED", obj))
            else:
                try:
                    last = int(rvq)
                except ValueError:
                    raise APIError(400, "BadRequest", "invalid resourceVersion %r" % rvq)
                if last < st.oldest_rv:
                    st.stats_extra["watch_gone"] += 1
                    msg = "too old resource version: %d (%d)" % (last, st.oldest_rv + 1)
                    if st.gone_as_http:
                        raise APIError(410, "Expired", msg)
                    gone = (json.dumps({"type": "ERROR", "object": status_obj(
                        410, "Expired", msg)}) + "\n").encode()
                    initial = None
            drop_gen = st.drop_gen
            bm_gen = st.bookmark_gen
            st.open_watches += 1
        try:
            self.start_chunked("application/json")
            if initial is None:
                self.chunk(gone)
                self.end_chunked()
                return
            for b in initial:
                self.chunk(b)
            next_bookmark = time.time() + st.bookmark_interval
            while True:
                out = []
                with st.lock:
                    while True:
                        if st.drop_gen != drop_gen:
                            break
                        i = bisect.bisect_right(st.history, last, key=lambda e: e[0])
                        if i < len(st.history) or st.bookmark_gen != bm_gen:
                            break
                        now = time.time()
                        if now >= deadline or (bookmarks and now >= next_bookmark):
                            break
                        wake = min(deadline, next_bookmark) if bookmarks else deadline
                        st.cond.wait(min(0.2, max(0.01, wake - now)))
                    if st.drop_gen != drop_gen:
                        dropped = True
                    else:
                        dropped = False
                        if last < st.oldest_rv:
                            # compacted under a live watch: as etcd would
                            st.stats_extra["watch_gone"] += 1
                            out.append((json.dumps({"type": "ERROR", "object": status_obj(
                                410, "Expired", "too old resource version: %d (%d)"
                                % (last, st.oldest_rv + 1))}) + "\n").encode())
                        else:
                            i = bisect.bisect_right(st.history, last, key=lambda e: e[0])
                            for rv, p, etype, obj in st.history[i:]:
                                last = rv
                                if p == plural and matches(obj):
                                    out.append(event_bytes(etype, obj))
                        now = time.time()
                        want_bm = bookmarks and (now >= next_bookmark or st.bookmark_gen != bm_gen)
                        bm_gen = st.bookmark_gen
                        if want_bm and not (out and b'"ERROR"' in out[-1]):
                            st.stats_extra["bookmarks"] += 1
                            out.append((json.dumps({"type": "BOOKMARK", "object": {
                                "kind": kind, "apiVersion": self.gv(plural),
                                "metadata": {"resourceVersion": str(st.rv)}}}) + "\n").encode())
                            last = max(last, st.rv)
                        if want_bm:
                            next_bookmark = now + st.bookmark_interval
                if dropped:
                    self.drop()
                for b in out:
                    self.chunk(b)
                if out and b'"type": "ERROR"' in out[-1]:
                    self.end_chunked()
                    return
                if time.time() >= deadline:
                    self.end_chunked()
                    return
        finally:
            with st.lock:
                st.open_watches -= 1

    def do_log(self, ns, name):
        """pods/log: limitBytes, tailLines, follow, timestamps, sinceTime.

        Each line gets its time when it is first read (kept in
        sim["log_t"], so a line has one time for every reader); a pod
        with FAKE_LOG_BYTES prints that many bytes of numbered 100-byte
        lines first, made as they are sent (never held in memory).  With
        /_fake/config log_drop_after_bytes, the next log_drop_count
        followed reads are cut after that many bytes."""
        st = self.store
        follow = self.q.get("follow") in ("1", "true")
        stamps = self.q.get("timestamps") in ("1", "true")
        since = None
        try:
            limit = int(self.q.get("limitBytes") or 0)
            tail = int(self.q["tailLines"]) if self.q.get("tailLines") else None
            if self.q.get("sinceTime"):
                since = parse_ts(self.q["sinceTime"])
                if since is None:
                    raise ValueError()
        except ValueError:
            raise APIError(400, "BadRequest",
                           "invalid limitBytes, tailLines or sinceTime")
        with st.lock:
            pod = st.objs["pods"].get((ns, name))
            if pod is None:
                raise not_found("pods", name)
            cname = self.q.get("container") or pod["spec"]["containers"][0]["name"]
            if cname not in [c["name"] for c in pod["spec"]["containers"]]:
                raise APIError(400, "BadRequest", 'container %s is not valid for pod %s'
                               % (cname, name))
            sim = st.sim.get((ns, name))
            if sim is None or sim["state"] in ("pending", "scheduled"):
                why = "ContainerCreating" if sim and sim["state"] == "scheduled" \
                    else "PodInitializing"
                raise APIError(400, "BadRequest",
                               'container "%s" in pod "%s" is waiting to start: %s'
                               % (cname, name, why))
            stamped = self.log_stamp(sim)
            drop_gen = st.drop_gen
            cut_after = None
            if follow and st.log_drop_count > 0:
                st.log_drop_count -= 1
                cut_after = st.log_drop_after
        gen_n, gen_t0 = sim.get("gen", (0, 0.0))

        def fmt(t, ln):
            if not stamps:
                return ln
            return (rfc3339_nano(t) + " ").encode() + ln

        def generated():
            # fmt() of "line %09d " + 84 "x" per line, inlined: 100 MiB
            # is a million lines, and a call per line is most of the time.
            xs = b"x" * 84
            batch, size = [], 0
            day, sec_of = None, -1
            for i in range(gen_n):
                t = gen_t0 + i * 1e-9
                if since is not None and t < since:
                    continue
                if not stamps:
                    batch.append(b"line %09d %s\n" % (i, xs))
                    size += 100
                else:
                    sec = int(t)
                    if sec != sec_of:
                        sec_of = sec
                        day = time.strftime("%Y-%m-%dT%H:%M:%S",
                                            time.gmtime(sec)).encode()
                    ln = b"%s.%09dZ line %09d %s\n" % (
                        day, int(round((t - sec) * 1e9)), i, xs)
                    batch.append(ln)
                    size += len(ln)
                if size >= 65536:
                    yield b"".join(batch)
                    batch, size = [], 0
            if batch:
                yield b"".join(batch)

        def chosen(pairs):
            return [fmt(t, ln) for t, ln in pairs if since is None or t >= since]

        lines = chosen(stamped)
        if tail is not None:
            lines = lines[-tail:] if tail > 0 else []
        if not follow:
            data = b"".join(list(generated()) if tail is None else []) + b"".join(lines)
            if limit > 0:
                data = data[:limit]
            self.send_text(200, data)
            return
        self.start_chunked("text/plain")
        sent_bytes = 0

        def send(ln):
            nonlocal sent_bytes
            if limit > 0 and sent_bytes + len(ln) > limit:
                ln = ln[:limit - sent_bytes]
            if cut_after is not None and sent_bytes + len(ln) > cut_after:
                self.chunk(ln[:max(0, cut_after - sent_bytes)])
                self.drop()
            self.chunk(ln)
            sent_bytes += len(ln)

        pos = len(stamped)
        if tail is None:
            for b in generated():
                send(b)
        for ln in lines:
            send(ln)
        while True:
            with st.lock:
                while pos >= len(sim["log"]) and sim["state"] != "done" \
                        and st.drop_gen == drop_gen and (ns, name) in st.sim:
                    st.cond.wait(0.2)
                dropped = st.drop_gen != drop_gen
                stamped = self.log_stamp(sim)
                new = chosen(stamped[pos:])
                pos = len(stamped)
                done = sim["state"] == "done" or (ns, name) not in st.sim
            if dropped:
                self.drop()
            for ln in new:
                send(ln)
            if done and not new:
                self.end_chunked()
                return

    @staticmethod
    def log_stamp(sim):
        """(time, line) of every line so far; a line's time is set when it
        is first read (under the store's lock)."""
        ts_list = sim.setdefault("log_t", [])
        now = time.time()
        while len(ts_list) < len(sim["log"]):
            ts_list.append(max(now, ts_list[-1] if ts_list else now))
        return list(zip(ts_list, sim["log"]))

    # -- control ---------------------------------------------------------
    def control(self):
        st = self.store
        p = self.upath
        if p == "/_fake/stats" and self.command == "GET":
            with st.lock:
                out = {"requests": dict(st.stats), "by_token": dict(st.by_token),
                       "total": sum(st.stats.values()),
                       "open_watches": st.open_watches, "rv": st.rv,
                       "oldest_rv": st.oldest_rv}
                out.update(st.stats_extra)
            self.send_json(200, out)
        elif p == "/_fake/stats/reset":
            with st.lock:
                st.stats = {}
                st.by_token = {}
                for k in st.stats_extra:
                    st.stats_extra[k] = 0
                st.job_times = {}
            self.send_json(200, {"ok": True})
        elif p == "/_fake/faults" and self.command == "DELETE":
            with st.lock:
                st.faults = []
            self.send_json(200, {"ok": True})
        elif p == "/_fake/faults":
            f = self.read_json()
            items = f if isinstance(f, list) else [f]
            with st.lock:
                for it in items:
                    it.setdefault("count", 1)
                    st.faults.append(it)
            self.send_json(200, {"ok": True, "faults": len(st.faults)})
        elif p == "/_fake/compact":
            st.compact()
            self.send_json(200, {"ok": True, "rv": st.rv})
        elif p == "/_fake/drop-watches":
            with st.lock:
                st.drop_gen += 1
                st.cond.notify_all()
            self.send_json(200, {"ok": True})
        elif p == "/_fake/bookmark":
            with st.lock:
                st.bookmark_gen += 1
                st.cond.notify_all()
            self.send_json(200, {"ok": True, "rv": st.rv})
        elif p == "/_fake/admit":
            body = self.read_json()
            n = st.admit(body.get("namespace"), body.get("name"))
            self.send_json(200, {"ok": True, "admitted": n})
        elif p == "/_fake/kueue/evict":
            body = self.read_json()
            if st.kueue is None:
                raise APIError(400, "BadRequest", "the fake runs without Kueue")
            n = st.kueue_evict(body.get("namespace"), body.get("name"),
                               bool(body.get("hold")), body.get("message"))
            self.send_json(200, {"ok": True, "evicted": n})
        elif p == "/_fake/kueue/quota":
            body = self.read_json()
            if st.kueue is None or not body.get("flavor") or \
                    not isinstance(body.get("quota"), dict):
                raise APIError(400, "BadRequest", "want {flavor, quota} with Kueue")
            st.kueue_set_quota(body["flavor"], body["quota"])
            self.send_json(200, {"ok": True})
        elif p == "/_fake/tokens":
            body = self.read_json()
            with st.lock:
                if "tokens" in body:
                    st.tokens = set(body["tokens"])
                if "forbidden" in body:
                    st.forbidden = set(body["forbidden"])
            self.send_json(200, {"ok": True})
        elif p == "/_fake/config":
            body = self.read_json()
            with st.lock:
                if "gone_as_http" in body:
                    st.gone_as_http = bool(body["gone_as_http"])
                if "bookmark_interval_ms" in body:
                    st.bookmark_interval = body["bookmark_interval_ms"] / 1000.0
                if "auto_admit" in body:
                    st.auto_admit = bool(body["auto_admit"])
                if "duration_ms" in body:
                    st.duration_ms = int(body["duration_ms"])
                if "isvc_hold" in body:
                    st.isvc_hold = bool(body["isvc_hold"])
                if "isvc_ready_ms" in body:
                    st.isvc_ready_ms = int(body["isvc_ready_ms"])
                if "isvc_fail" in body:
                    st.isvc_fail = body["isvc_fail"]
                if body.get("kueue_versions") and st.kueue is not None:
                    vs = list(body["kueue_versions"])
                    if any(v not in KUEUE_VERSIONS for v in vs):
                        raise APIError(400, "BadRequest", "unknown Kueue version")
                    st.kueue["versions"] = vs
                    add_kueue_discovery(vs)
                if "log_drop_after_bytes" in body:
                    st.log_drop_after = int(body["log_drop_after_bytes"])
                    st.log_drop_count = int(body.get("log_drop_count", 1))
                st.cond.notify_all()
            self.send_json(200, {"ok": True})
        elif p == "/_fake/create" and self.command == "POST":
            # {"plural": "inferenceservices"|"httproutes", "namespace": NS,
            #  "object": {...}}: create as the API does (for C tests)
            body = self.read_json()
            plural = body.get("plural")
            if plural not in ("inferenceservices", "httproutes"):
                raise APIError(400, "BadRequest", "plural must be inferenceservices or httproutes")
            self.send_json(200, st.create_traffic(plural, body.get("namespace") or "default",
                                                  body.get("object") or {}))
        elif p == "/_fake/timeline" and self.command == "GET":
            with st.lock:
                out = {"jobs": [dict(v) for v in st.job_times.values()]}
            self.send_json(200, out)
        elif p == "/_fake/wait" and self.command == "GET":
            try:
                after = int(self.q.get("after") or 0)
                wait = min(10000, int(self.q.get("timeout_ms") or 1000)) / 1000.0
            except ValueError:
                raise APIError(400, "BadRequest", "after and timeout_ms are numbers")
            end = time.time() + wait
            with st.lock:
                while st.rv <= after and not st.stopping:
                    left = end - time.time()
                    if left <= 0:
                        break
                    st.cond.wait(left)
                rv = st.rv
            self.send_json(200, {"rv": rv})
        elif p == "/_fake/objects":
            with st.lock:
                out = {pl: list(copy.deepcopy(list(d.values())))
                       for pl, d in st.objs.items()}
            self.send_json(200, out)
        else:
            raise APIError(404, "NotFound", "no control endpoint " + p)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, handler, ctx):
        self.ctx = ctx
        super().__init__(addr, handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        if self.ctx is not None:
            # the handshake happens in the handler's thread, on first read
            sock = self.ctx.wrap_socket(sock, server_side=True,
                                        do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ssl.SSLError, ConnectionError, OSError)):
            log("connection from %s: %r" % (client_address, exc))
            return
        super().handle_error(request, client_address)


def main():
    global VERBOSE
    ap = argparse.ArgumentParser(description="fake Kubernetes API server")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--client-ca")
    ap.add_argument("--http", action="store_true", help="plain HTTP (debugging)")
    ap.add_argument("--token", action="append")
    ap.add_argument("--forbidden-token", action="append")
    ap.add_argument("--nodes", type=int, default=4)
    ap.add_argument("--gpus", action="append", help="RESOURCE=TOTAL, e.g. nvidia.com/gpu=4")
    ap.add_argument("--gpu-product", action="append",
                    help="NODE=PRODUCT: label nvidia.com/gpu.product ('*' = every node)")
    ap.add_argument("--node-labels", help="JSON file {node: {label: value}}")
    ap.add_argument("--auto-admit", action="store_true")
    ap.add_argument("--kueue-flavor", action="append",
                    help="NAME:RESOURCE=QUOTA[,...], e.g. h100:nvidia.com/gpu=8")
    ap.add_argument("--kueue-queue", action="append", help="a LocalQueue name")
    ap.add_argument("--kueue-cluster-queue", default="cluster-queue")
    ap.add_argument("--kueue-versions",
                    help="versions offered, e.g. v1beta1 (default v1beta2,v1beta1)")
    ap.add_argument("--kueue-config", help="JSON: {clusterQueue, flavors: "
                    "[{name, quota: {RESOURCE: N}}], queues: [...], versions: [...]}")
    ap.add_argument("--exec", action="store_true")
    ap.add_argument("--exec-dir")
    ap.add_argument("--duration-ms", type=int, default=100)
    ap.add_argument("--pod-start-ms", type=int, default=30)
    ap.add_argument("--tick-ms", type=int, default=10)
    ap.add_argument("--isvc-ready-ms", type=int, default=200,
                    help="an InferenceService is Ready this long after a change")
    ap.add_argument("--history", type=int, default=5000)
    ap.add_argument("--bookmark-interval-ms", type=int, default=1000)
    ap.add_argument("--watch-pid", type=int, default=0,
                    help="exit when this process is gone")
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args()
    VERBOSE = args.v
    if args.nodes < 1:
        ap.error("--nodes must be at least 1")

    ctx = None
    if not args.http:
        if not args.cert or not args.key:
            ap.error("--cert and --key are required (or --http)")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        ctx.set_alpn_protocols(["http/1.1"])
        if args.client_ca:
            ctx.load_verify_locations(args.client_ca)
            ctx.verify_mode = ssl.CERT_OPTIONAL

    store = Store(args)
    Handler.store = store
    if store.kueue is not None:
        add_kueue_discovery(store.kueue["versions"])
    srv = Server((args.host, args.port), Handler, ctx)
    port = srv.server_address[1]
    scheme = "http" if args.http else "https"
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write("%d\n" % port)
        os.replace(args.port_file + ".tmp", args.port_file)
    sys.stdout.write("listening on %s://%s:%d\n" % (scheme, args.host, port))
    sys.stdout.flush()

    threading.Thread(target=store.run, daemon=True).start()

    def watchdog():
        while True:
            time.sleep(0.5)
            try:
                os.kill(args.watch_pid, 0)
            except ProcessLookupError:
                os.kill(os.getpid(), signal.SIGTERM)
                return
            except PermissionError:
                pass
    if args.watch_pid > 0:
        threading.Thread(target=watchdog, daemon=True).start()

    def stop(*_):
        store.stopping = True
        threading.Thread(target=srv.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        srv.serve_forever(poll_interval=0.2)
    finally:
        with store.lock:
            for sim in store.sim.values():
                store.release_pod(sim)
    return 0


if __name__ == "__main__":
    sys.exit(main())
