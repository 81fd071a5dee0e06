#!/usr/bin/env bash
# deploy_manifests: the deployment files are valid and say what they must.
#
#  - `kubectl apply --dry-run=client -f deploy/` succeeds and creates
#    exactly the expected objects; so does deploy/examples/.
#  - The objects, as kubectl renders them (`kubectl create --dry-run=client
#    -o json`), have the properties that matter: the Role's exact rules,
#    probe paths, non-root read-only security context, resources, Secret
#    references, matching selectors, the NetworkPolicy's ports, and a
#    ConfigMap sluice.yaml that uses only known configuration keys.
#  - deploy/monitoring: the Grafana dashboard is JSON whose every query uses
#    only Sluice's metric names (and every metric is shown somewhere); the
#    Prometheus rules file has the expected alerts on known metrics.  With
#    promtool installed, the rules and the dashboard's queries are also
#    checked by promtool and the rules' unit tests run.
#  - docker-compose.yml, deploy/Dockerfile and .dockerignore have the
#    required shape; the Dockerfile's build packages cover bootstrap.sh's
#    -dev packages and its runtime packages cover every library bin/sluice
#    links against (when bin/sluice and dpkg are there).
#
# Offline: kubectl needs API discovery even for client-side dry runs, so
# tests/fakes/kube_discovery.py answers it on a free loopback port and a
# private KUBECONFIG points kubectl there (never at a real cluster).
# Needs only bash, kubectl and python3's standard library.
set -euo pipefail
top=${SLUICE_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$top"

if ! command -v kubectl >/dev/null 2>&1; then
	echo "deploy_manifests: SKIP (kubectl not installed)"
	exit 0
fi

tmp=$(mktemp -d "${SLUICE_TEST_TMP:-${TMPDIR:-/tmp}}/deploy_manifests.XXXXXX")
fake_pid=
cleanup() {
	if [ -n "$fake_pid" ]; then
		kill "$fake_pid" 2>/dev/null || true
		wait "$fake_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

checks=0
ok() { checks=$((checks + 1)); echo "ok - $*"; }
fail() { echo "not ok - $*" >&2; exit 1; }

# --- the offline discovery server --------------------------------------
python3 tests/fakes/kube_discovery.py "$tmp/port" 2>"$tmp/fake.log" &
fake_pid=$!
for _ in $(seq 100); do
	[ -s "$tmp/port" ] && break
	kill -0 "$fake_pid" 2>/dev/null || break
	sleep 0.1
done
[ -s "$tmp/port" ] || { cat "$tmp/fake.log" >&2; fail "kube_discovery.py did not start"; }
port=$(cat "$tmp/port")
cat >"$tmp/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: offline
    cluster: { server: "http://127.0.0.1:$port" }
contexts:
  - name: offline
    context: { cluster: offline, user: nobody, namespace: default }
users:
  - name: nobody
    user: {}
current-context: offline
EOF
export KUBECONFIG=$tmp/kubeconfig
k() { kubectl --cache-dir "$tmp/cache" --request-timeout=20s "$@"; }

# --- kubectl apply --dry-run=client ---------------------------------------
expect_names() { # DIR then the expected `-o name` lines
	local dir=$1
	shift
	local got want
	if ! got=$(k apply --dry-run=client --validate=false -f "$dir" -o name 2>"$tmp/err"); then
		cat "$tmp/err" >&2
		fail "kubectl apply --dry-run=client -f $dir"
	fi
	got=$(printf '%s\n' "$got" | sort)
	want=$(printf '%s\n' "$@" | sort)
	if [ "$got" != "$want" ]; then
		diff <(echo "$want") <(echo "$got") >&2 || true
		fail "kubectl apply --dry-run=client -f $dir: objects differ (< want, > got)"
	fi
	ok "kubectl apply --dry-run=client -f $dir ($# objects)"
}
expect_names deploy/ \
	namespace/sluice \
	serviceaccount/sluice \
	role.rbac.authorization.k8s.io/sluice \
	rolebinding.rbac.authorization.k8s.io/sluice \
	configmap/sluice-config \
	deployment.apps/sluice \
	service/sluice \
	networkpolicy.networking.k8s.io/sluice
expect_names deploy/examples/ \
	secret/sluice-db \
	secret/sluice-webhook \
	service/postgres \
	statefulset.apps/postgres
expect_names deploy/optional/ \
	clusterrole.rbac.authorization.k8s.io/sluice-read-nodes \
	clusterrolebinding.rbac.authorization.k8s.io/sluice-read-nodes \
	role.rbac.authorization.k8s.io/sluice-checkout-secrets \
	role.rbac.authorization.k8s.io/sluice-traffic \
	rolebinding.rbac.authorization.k8s.io/sluice-checkout-secrets \
	rolebinding.rbac.authorization.k8s.io/sluice-traffic
if ! k create --dry-run=client --validate=false -f deploy/optional/ -o json >"$tmp/optional.json" 2>"$tmp/err"; then
	cat "$tmp/err" >&2
	fail "kubectl create --dry-run=client -o json -f deploy/optional/"
fi
python3 - "$tmp/optional.json" <<'PY' || fail "deploy/optional grants more than get on nodes, one named Secret, get and patch on InferenceServices and HTTPRoutes"
import json, sys
text, objs, i = open(sys.argv[1]).read(), [], 0
dec = json.JSONDecoder()
while i < len(text):
    if text[i].isspace():
        i += 1
        continue
    o, i = dec.raw_decode(text, i)
    objs.extend(o["items"] if o.get("kind") == "List" else [o])
rules = {o["metadata"]["name"]: o.get("rules") for o in objs if o["kind"] in ("ClusterRole", "Role")}
assert rules["sluice-read-nodes"] == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}], rules
r = rules["sluice-checkout-secrets"]
assert len(r) == 1 and r[0]["resources"] == ["secrets"] and r[0]["verbs"] == ["get"] and r[0].get("resourceNames"), r
assert rules["sluice-traffic"] == [
    {"apiGroups": ["serving.kserve.io"], "resources": ["inferenceservices"], "verbs": ["get", "patch"]},
    {"apiGroups": ["gateway.networking.k8s.io"], "resources": ["httproutes"], "verbs": ["get", "patch"]}], rules
PY
ok "deploy/optional: get on nodes (cluster-wide) and on named Secrets only; get and patch on InferenceServices and HTTPRoutes"

# The namespace must be created before the objects in it: kubectl applies
# the files of a folder in name order.
first=$(find deploy -maxdepth 1 \( -name '*.yaml' -o -name '*.yml' -o -name '*.json' \) | sort | head -1)
grep -q '^kind: Namespace' "$first" || fail "$first is applied first but is not the Namespace"
ok "the Namespace is applied first ($first)"

if ! k create --dry-run=client --validate=false -f deploy/ -o json >"$tmp/objects.json" 2>"$tmp/err"; then
	cat "$tmp/err" >&2
	fail "kubectl create --dry-run=client -o json -f deploy/"
fi
ok "kubectl create --dry-run=client -o json -f deploy/"

# --- the objects' properties, the monitoring files, compose, Dockerfile ---
python3 - "$tmp/objects.json" <<'PY' || fail "properties of the deployment files (see above)"
import json
import os
import re
import sys

failures = []
passed = [0]


def check(cond, what):
    if cond:
        passed[0] += 1
    else:
        failures.append(what)
        print("FAIL: " + what, file=sys.stderr)
    return cond


def load_objects(path):
    text = open(path).read()
    dec = json.JSONDecoder()
    objs, i = [], 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            break
        o, i = dec.raw_decode(text, i)
        objs.extend(o["items"] if o.get("kind") == "List" else [o])
    return objs


objs = load_objects(sys.argv[1])
by_kind = {}
for o in objs:
    by_kind.setdefault(o["kind"], []).append(o)


def one(kind):
    lst = by_kind.get(kind, [])
    check(len(lst) == 1, "exactly one %s (got %d)" % (kind, len(lst)))
    return lst[0] if lst else {}


# Every object: labelled, in namespace sluice.
for o in objs:
    md = o.get("metadata", {})
    name = "%s/%s" % (o["kind"], md.get("name"))
    labels = md.get("labels", {})
    check(labels.get("app.kubernetes.io/name") == "sluice",
          name + ": label app.kubernetes.io/name=sluice")
    check(labels.get("app.kubernetes.io/part-of") == "sluice",
          name + ": label app.kubernetes.io/part-of=sluice")
    if o["kind"] != "Namespace":
        check(md.get("namespace") == "sluice", name + ": namespace sluice")

ns = one("Namespace")
check(ns.get("metadata", {}).get("name") == "sluice", "Namespace is sluice")

# RBAC: exactly the rules the controller needs, no wildcard, no more.
role = one("Role")
got = set()
for r in role.get("rules", []):
    check(not r.get("resourceNames") and not r.get("nonResourceURLs"),
          "Role rules are plain resource rules")
    for g in r.get("apiGroups", []):
        for res in r.get("resources", []):
            for v in r.get("verbs", []):
                got.add((g, res, v))
want = set()
for v in ("create", "get", "list", "watch", "delete"):
    want.add(("batch", "jobs", v))
for res in ("pods", "pods/log"):
    for v in ("get", "list", "watch"):
        want.add(("", res, v))
want.add(("", "events", "list"))
for v in ("get", "list", "watch"):
    want.add(("kueue.x-k8s.io", "workloads", v))
for v in ("create", "get", "list", "delete"):
    want.add(("", "services", v))
check(got == want, "Role rules are exactly %s; extra %s, missing %s"
      % (sorted(want), sorted(got - want), sorted(want - got)))
check(not any("*" in t for x in got for t in x), "Role has no wildcard")
check(not by_kind.get("ClusterRole") and not by_kind.get("ClusterRoleBinding"),
      "no cluster-wide RBAC")

rb = one("RoleBinding")
check(rb.get("roleRef") == {"apiGroup": "rbac.authorization.k8s.io",
                            "kind": "Role", "name": "sluice"},
      "RoleBinding refers to Role sluice")
check(rb.get("subjects") == [{"kind": "ServiceAccount", "name": "sluice",
                              "namespace": "sluice"}],
      "RoleBinding binds ServiceAccount sluice/sluice")
sa = one("ServiceAccount")
check(sa.get("metadata", {}).get("name") == "sluice", "ServiceAccount sluice")

# Configuration: only known keys (docs/configuration.md), no secrets in it.
TOP_KEYS = {"listen", "database_url", "state_dir", "log_level", "log_format",
            "executor", "max_parallel_stages", "kubernetes", "poll_interval",
            "poll_workers", "session_ttl", "repositories",
            "webhook_secret_env", "anonymous_read", "web_dir"}
KUBE_KEYS = {"kubeconfig", "context", "namespace", "qps", "burst",
             "max_gpus", "ttl_after_finished", "checkout_image"}


def simple_yaml(text):
    """Top-level scalars and one level of nesting: enough for sluice.yaml."""
    top, nested, cur = {}, {}, None
    for line in text.splitlines():
        s = line.split(" #", 1)[0].rstrip()
        if not s.strip() or s.lstrip().startswith("#"):
            continue
        m = re.match(r"^( *)([A-Za-z_][A-Za-z0-9_]*):(?: +(.*))?$", s)
        if not m:
            continue
        indent, key, val = len(m.group(1)), m.group(2), m.group(3) or ""
        if indent == 0:
            top[key] = val.strip()
            cur = key
            nested.setdefault(key, {})
        elif cur is not None and indent == 2:
            nested[cur][key] = val.strip()
    return top, nested


def check_config(name, text, executor):
    top, nested = simple_yaml(text)
    check(set(top) <= TOP_KEYS, "%s: unknown keys %s" % (name, sorted(set(top) - TOP_KEYS)))
    check(set(nested.get("kubernetes", {})) <= KUBE_KEYS,
          "%s: unknown kubernetes keys %s"
          % (name, sorted(set(nested.get("kubernetes", {})) - KUBE_KEYS)))
    check(top.get("executor") == executor, "%s: executor: %s" % (name, executor))
    check(top.get("listen") == "0.0.0.0:8080", name + ": listen: 0.0.0.0:8080")
    check(top.get("state_dir") == "/var/lib/sluice", name + ": state_dir: /var/lib/sluice")
    check("database_url" not in top, name + ": no database_url (it comes from a secret)")
    check(top.get("webhook_secret_env") == "SLUICE_WEBHOOK_SECRET",
          name + ": webhook_secret_env: SLUICE_WEBHOOK_SECRET")
    return top, nested


cm = one("ConfigMap")
cmdata = cm.get("data", {})
check(cm.get("metadata", {}).get("name") == "sluice-config", "ConfigMap sluice-config")
check(list(cmdata) == ["sluice.yaml"], "ConfigMap holds sluice.yaml only")
_, nested = check_config("ConfigMap sluice.yaml", cmdata.get("sluice.yaml", ""), "kubernetes")
check(nested.get("kubernetes", {}).get("namespace") == "sluice",
      "ConfigMap sluice.yaml: kubernetes.namespace: sluice (the Role's namespace)")
check_config("deploy/compose/sluice.yaml", open("deploy/compose/sluice.yaml").read(), "local")

# Deployment.
dep = one("Deployment")
spec = dep.get("spec", {})
tmpl = spec.get("template", {})
pod = tmpl.get("spec", {})
tlabels = tmpl.get("metadata", {}).get("labels", {})
check(spec.get("replicas") == 1, "Deployment: 1 replica")
check(spec.get("strategy", {}).get("type") == "Recreate", "Deployment: strategy Recreate")
sel = spec.get("selector", {}).get("matchLabels", {})
check(sel and all(tlabels.get(k) == v for k, v in sel.items()),
      "Deployment selector matches its pod labels")
check(pod.get("serviceAccountName") == "sluice", "pod uses ServiceAccount sluice")
check(pod.get("automountServiceAccountToken") is True, "pod mounts its API token")
check(pod.get("enableServiceLinks") is False,
      "pod has enableServiceLinks: false (no SLUICE_PORT=... variables)")
psc = pod.get("securityContext", {})
check(psc.get("runAsNonRoot") is True, "pod runAsNonRoot")
check(isinstance(psc.get("runAsUser"), int) and psc["runAsUser"] > 0, "pod runAsUser non-zero")
check(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", "pod seccomp RuntimeDefault")

POD_KEYS = {"serviceAccountName", "automountServiceAccountToken",
            "enableServiceLinks", "terminationGracePeriodSeconds",
            "securityContext", "containers", "initContainers", "volumes",
            "nodeSelector", "tolerations", "affinity", "priorityClassName",
            "restartPolicy", "dnsPolicy", "schedulerName",
            "topologySpreadConstraints", "imagePullSecrets"}
CONTAINER_KEYS = {"name", "image", "imagePullPolicy", "command", "args",
                  "workingDir", "ports", "env", "envFrom", "resources",
                  "startupProbe", "livenessProbe", "readinessProbe",
                  "securityContext", "volumeMounts", "lifecycle",
                  "terminationMessagePath", "terminationMessagePolicy"}
check(set(pod) <= POD_KEYS, "pod spec: unexpected fields %s" % sorted(set(pod) - POD_KEYS))
ctrs = pod.get("containers", [])
check(len(ctrs) == 1, "one container")
c = ctrs[0] if ctrs else {}
check(set(c) <= CONTAINER_KEYS, "container: unexpected fields %s" % sorted(set(c) - CONTAINER_KEYS))
ports = {p.get("name"): p.get("containerPort") for p in c.get("ports", [])}
check(ports.get("http") == 8080, "container port http is 8080")
args = c.get("args", []) + c.get("command", [])
check(args[:1] == ["serve"] and "--migrate" in args, "container runs `serve --migrate`")
cfgpath = args[args.index("--config") + 1] if "--config" in args else ""
check(cfgpath == "/etc/sluice/sluice.yaml", "container reads /etc/sluice/sluice.yaml")


def probe(name, path):
    p = c.get(name, {})
    hg = p.get("httpGet", {})
    port = hg.get("port")
    port = ports.get(port, port)
    check(hg.get("path") == path and port == 8080,
          "%s is GET %s on port 8080 (got %s %s)" % (name, path, hg.get("path"), port))


probe("livenessProbe", "/healthz")
probe("readinessProbe", "/readyz")
probe("startupProbe", "/healthz")
res = c.get("resources", {})
check({"cpu", "memory"} <= set(res.get("requests", {})), "requests cpu and memory")
check("memory" in res.get("limits", {}), "memory limit")
sc = c.get("securityContext", {})
check(sc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem")
check(sc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation false")
check(sc.get("runAsNonRoot") is True, "container runAsNonRoot")
check(sc.get("capabilities", {}).get("drop") == ["ALL"], "capabilities drop ALL")
check(not sc.get("capabilities", {}).get("add"), "no capabilities added")
check(not sc.get("privileged"), "not privileged")
check(sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", "container seccomp RuntimeDefault")
if "runAsUser" in sc:
    check(sc["runAsUser"] > 0, "container runAsUser non-zero")

env = {e["name"]: e for e in c.get("env", [])}


def secret_ref(var, secret, key):
    ref = env.get(var, {}).get("valueFrom", {}).get("secretKeyRef", {})
    check(ref.get("name") == secret and ref.get("key") == key,
          "%s comes from Secret %s key %s" % (var, secret, key))


secret_ref("SLUICE_DATABASE_URL", "sluice-db", "url")
secret_ref("SLUICE_WEBHOOK_SECRET", "sluice-webhook", "secret")
for e in c.get("env", []):
    check("postgres" not in str(e.get("value", "")).lower(),
          "env %s: no literal database URL" % e["name"])

vols = {v["name"]: v for v in pod.get("volumes", [])}
mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
cfgm = mounts.get(os.path.dirname(cfgpath), {})
cfgv = vols.get(cfgm.get("name"), {})
check(cfgv.get("configMap", {}).get("name") == "sluice-config" and cfgm.get("readOnly") is True,
      "the config directory is ConfigMap sluice-config, mounted read-only")
items = cfgv.get("configMap", {}).get("items")
check(items is None or any(i.get("key") == "sluice.yaml" and i.get("path") == "sluice.yaml"
                           for i in items), "the ConfigMap's sluice.yaml is mounted as sluice.yaml")
for path in ("/var/lib/sluice", "/tmp"):
    m = mounts.get(path, {})
    v = vols.get(m.get("name"), {})
    check(m and not m.get("readOnly") and ("emptyDir" in v or "persistentVolumeClaim" in v),
          "%s is a writable volume (the root filesystem is read-only)" % path)

# Service and NetworkPolicy select the controller pod.
svc = one("Service")
ss = svc.get("spec", {})
check(ss.get("type", "ClusterIP") == "ClusterIP", "Service is ClusterIP")
sel = ss.get("selector", {})
check(sel and all(tlabels.get(k) == v for k, v in sel.items()), "Service selects the pod")
sp = ss.get("ports", [{}])
check(len(sp) == 1 and sp[0].get("port") == 8080
      and ports.get(sp[0].get("targetPort"), sp[0].get("targetPort")) == 8080,
      "Service port 8080 -> container 8080")

np = one("NetworkPolicy")
ns_ = np.get("spec", {})
sel = ns_.get("podSelector", {}).get("matchLabels", {})
check(sel and all(tlabels.get(k) == v for k, v in sel.items()), "NetworkPolicy selects the pod")
check("app.kubernetes.io/component" in sel,
      "NetworkPolicy selects the controller only, not the stage Jobs")
check(sorted(ns_.get("policyTypes", [])) == ["Egress", "Ingress"], "NetworkPolicy: Ingress and Egress")
ing = {(p.get("protocol", "TCP"), p.get("port"))
       for r in ns_.get("ingress", []) for p in r.get("ports", [])}
check(ing == {("TCP", 8080)}, "NetworkPolicy ingress: TCP 8080 only (got %s)" % sorted(ing))
eg = {(p.get("protocol", "TCP"), p.get("port"))
      for r in ns_.get("egress", []) for p in r.get("ports", [])}
need = {("UDP", 53), ("TCP", 53), ("TCP", 5432), ("TCP", 443), ("TCP", 6443),
        ("TCP", 22), ("TCP", 9418)}
check(need <= eg, "NetworkPolicy egress allows %s (missing %s)" % (sorted(need), sorted(need - eg)))
check(all(r.get("ports") for r in ns_.get("egress", [])), "every egress rule is limited to ports")

# --- monitoring ------------------------------------------------------------
METRICS = {"sluice_build_info", "sluice_runs_total", "sluice_runs",
           "sluice_queue_depth", "sluice_stage_duration_seconds",
           "sluice_gpus_in_use", "sluice_poll_errors_total",
           "sluice_poll_last_success_timestamp_seconds",
           "sluice_http_requests_total", "sluice_http_request_duration_seconds",
           "sluice_webhook_deliveries_total", "sluice_kube_api_calls_total",
           "sluice_approvals_pending"}
HISTOGRAMS = {"sluice_stage_duration_seconds", "sluice_http_request_duration_seconds"}


def metrics_in(expr):
    out = set()
    for t in re.findall(r"\bsluice_[a-z0-9_]+", expr):
        base = re.sub(r"_(bucket|sum|count)$", "", t)
        out.add(base if base in HISTOGRAMS and t != base else t)
        if base in HISTOGRAMS and t == base:
            out.add(t + ":not-a-series")  # histograms are queried by suffix
    return out


dash = json.load(open("deploy/monitoring/grafana-dashboard.json"))
check(dash.get("title") and dash.get("uid") and isinstance(dash.get("schemaVersion"), int),
      "dashboard has title, uid, schemaVersion")
panels = dash.get("panels", [])
for p in list(panels):
    panels.extend(p.get("panels", []))
ids = [p.get("id") for p in panels]
check(len(ids) == len(set(ids)), "dashboard panel ids are unique")
used = set()
nexpr = 0
for p in panels:
    if p.get("type") == "row":
        continue
    check("gridPos" in p and p.get("targets"), "panel %r has gridPos and targets" % p.get("title"))
    for t in p.get("targets", []):
        e = t.get("expr", "")
        nexpr += 1
        ms = metrics_in(e)
        check(ms, "panel %r: query uses a Sluice metric: %s" % (p.get("title"), e))
        check(ms <= METRICS, "panel %r: unknown metric %s" % (p.get("title"), sorted(ms - METRICS)))
        used |= ms
check(METRICS <= used, "dashboard shows every metric; missing %s" % sorted(METRICS - used))
for v in dash.get("templating", {}).get("list", []):
    q = v.get("query")
    q = q.get("query", "") if isinstance(q, dict) else (q or "")
    if v.get("type") == "query":
        check(metrics_in(q) <= METRICS, "variable %s: known metric" % v.get("name"))

rules = open("deploy/monitoring/prometheus-rules.yaml").read()
check(re.search(r"^groups:", rules, re.M), "prometheus-rules.yaml starts with groups:")
alerts = re.findall(r"^\s*- alert:\s*(\S+)", rules, re.M)
check(len(alerts) == len(re.findall(r"^\s*expr:", rules, re.M)), "every alert has an expr")
for a in ("SluiceDown", "SluiceRunFailureRatioHigh", "SluicePollErrors",
          "SluiceQueueDepthHigh", "SluiceWebhookFailures",
          "SluiceAPIErrorRatioHigh", "SluiceKubernetesAPIErrors"):
    check(a in alerts, "alert %s is defined" % a)
rm = metrics_in(rules)
check(rm <= METRICS, "rules use only known metrics; unknown %s" % sorted(rm - METRICS))

# --- docker-compose.yml ----------------------------------------------------
compose = open("docker-compose.yml").read()
try:
    import yaml  # optional (python3-yaml); text checks otherwise
except ImportError:
    yaml = None
if yaml:
    cd = yaml.safe_load(compose)
    sv = cd.get("services", {})
    pg, sl = sv.get("postgres", {}), sv.get("sluice", {})
    check(pg.get("image") == "postgres:15", "compose: postgres:15")
    check("pg_isready" in " ".join(pg.get("healthcheck", {}).get("test", [])),
          "compose: postgres healthcheck runs pg_isready")
    check(any(str(v).split(":")[0] in cd.get("volumes", {}) for v in pg.get("volumes", [])),
          "compose: postgres data on a named volume")
    check(sl.get("build", {}).get("dockerfile") == "deploy/Dockerfile"
          and sl.get("build", {}).get("context") == ".", "compose: sluice built from deploy/Dockerfile")
    check(sl.get("depends_on", {}).get("postgres", {}).get("condition") == "service_healthy",
          "compose: sluice waits for a healthy postgres")
    env_ = sl.get("environment", {})
    check(str(env_.get("SLUICE_DATABASE_URL", "")).startswith("postgresql://sluice:")
          and "@postgres:5432/sluice" in env_.get("SLUICE_DATABASE_URL", ""),
          "compose: SLUICE_DATABASE_URL points at the postgres service")
    check(env_.get("SLUICE_LISTEN") == "0.0.0.0:8080", "compose: SLUICE_LISTEN")
    check("SLUICE_WEBHOOK_SECRET" in env_, "compose: SLUICE_WEBHOOK_SECRET")
    check("127.0.0.1:8080:8080" in sl.get("ports", []), "compose: port on loopback only")
    check(str(sl.get("user", "")).split(":")[0] not in ("", "0", "root"), "compose: non-root user")
    check(sl.get("read_only") is True and "/tmp" in sl.get("tmpfs", []),
          "compose: read-only root with /tmp on tmpfs")
    check(any(str(v).endswith(":/var/lib/sluice") for v in sl.get("volumes", [])),
          "compose: /var/lib/sluice is a volume")
    check(any("deploy/compose/sluice.yaml:/etc/sluice/sluice.yaml" in str(v)
              for v in sl.get("volumes", [])), "compose: config mounted")
else:
    for s in ("image: postgres:15", "pg_isready", "dockerfile: deploy/Dockerfile",
              "condition: service_healthy", "127.0.0.1:8080:8080", "read_only: true",
              "/var/lib/sluice", "SLUICE_DATABASE_URL", "SLUICE_WEBHOOK_SECRET"):
        check(s in compose, "docker-compose.yml mentions %s" % s)

# --- deploy/Dockerfile -------------------------------------------------------
df = open("deploy/Dockerfile").read()
froms = re.findall(r"^FROM\s+(\S+)", df, re.M)
check(len(froms) >= 2 and all(f.startswith("debian:12") for f in froms),
      "Dockerfile: multi-stage on debian:12 (got %s)" % froms)
users = re.findall(r"^USER\s+(\S+)", df, re.M)
check(users and re.fullmatch(r"[1-9][0-9]*(:[0-9]+)?", users[-1]),
      "Dockerfile: ends as a numeric non-root USER (got %s)" % users)
check(re.search(r"^EXPOSE\s+8080\b", df, re.M), "Dockerfile: EXPOSE 8080")
check(re.search(r'^CMD \["serve", "--config", "/etc/sluice/sluice.yaml", "--migrate"\]', df, re.M),
      "Dockerfile: CMD serve --config /etc/sluice/sluice.yaml --migrate")
check(re.search(r'^ENTRYPOINT \[.*"sluice"\]', df, re.M), "Dockerfile: ENTRYPOINT runs sluice")
check("SLUICE_MIGRATIONS_DIR=/usr/share/sluice/migrations" in df
      and re.search(r"^COPY .*migrations /usr/share/sluice/migrations$", df, re.M),
      "Dockerfile: migrations in /usr/share/sluice/migrations")
check("SLUICE_WEB_DIR=/usr/share/sluice/web" in df
      and re.search(r"^COPY .*web /usr/share/sluice/web$", df, re.M),
      "Dockerfile: console in /usr/share/sluice/web")
check(re.search(r"^COPY .*bin/sluice /usr/local/bin/sluice$", df, re.M),
      "Dockerfile: bin/sluice in /usr/local/bin")
stages = re.split(r"^FROM\s", df, flags=re.M)
build_stage, runtime_stage = stages[1], stages[-1]
boot = open("scripts/bootstrap.sh").read()
m = re.search(r"build_pkgs=\(([^)]*)\)", boot)
devs = [p for p in (m.group(1).split() if m else []) if p.endswith("-dev")]
check(devs, "bootstrap.sh lists -dev build packages")
for p in devs:
    check(re.search(r"\b%s\b" % re.escape(p), build_stage),
          "Dockerfile build stage installs %s (scripts/bootstrap.sh)" % p)
check(not re.search(r"-dev\b", runtime_stage), "Dockerfile runtime stage has no -dev package")
di = open(".dockerignore").read().split()
for p in ("build/", "bin/", "var/", "node_modules/"):
    check(p in di, ".dockerignore excludes " + p)

print("%d properties checked" % passed[0])
sys.exit(1 if failures else 0)
PY
ok "object properties, monitoring files, compose file and Dockerfile"

# --- runtime libraries: every DT_NEEDED of bin/sluice is in the image ------
if [ -x bin/sluice ] && command -v dpkg >/dev/null && command -v objdump >/dev/null; then
	runtime=$(awk '/^FROM /{n++} n>=2' deploy/Dockerfile)
	sonames=$(objdump -p bin/sluice | awk '$1 == "NEEDED" {print $2}')
	libs=$(ldd bin/sluice)
	# each library's candidate paths, in order; their owners from one
	# dpkg -S (each reads the whole package database: not one per path)
	declare -A cands=() owner=()
	all=()
	for soname in $sonames; do
		path=$(awk -v s="$soname" '$1 == s {print $3}' <<<"$libs")
		[ -n "$path" ] || fail "ldd does not resolve $soname"
		cands[$soname]="$path $(readlink -f "$path") /usr$path ${path#/usr}"
		# shellcheck disable=SC2206  # (paths without spaces)
		all+=(${cands[$soname]})
	done
	while IFS= read -r line; do
		p=${line##*: }
		[ -n "${owner[$p]:-}" ] || owner[$p]=${line%%:*}
	done < <(dpkg -S "${all[@]}" 2>/dev/null || true)
	for soname in $sonames; do
		path=${cands[$soname]%% *}
		pkg=
		for p in ${cands[$soname]}; do
			pkg=${owner[$p]:-} && [ -n "$pkg" ] && break
		done
		[ -n "$pkg" ] || fail "no Debian package owns $path ($soname)"
		case $pkg in libc6 | libgcc-s1) continue ;; esac # in every Debian image
		grep -qw -- "$pkg" <<<"$runtime" ||
		    fail "bin/sluice needs $soname from $pkg, which deploy/Dockerfile's runtime stage does not install"
	done
	ok "deploy/Dockerfile installs every library bin/sluice links against"
else
	echo "ok - SKIP runtime library check (no bin/sluice, dpkg or objdump)"
fi

# --- promtool, when installed ---------------------------------------------
if command -v promtool >/dev/null 2>&1; then
	# The dashboard's queries, as recording rules, must parse too.
	python3 - deploy/monitoring/grafana-dashboard.json >"$tmp/dash-rules.yaml" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print("groups:\n  - name: dashboard\n    rules:")
panels = d["panels"] + [q for p in d["panels"] for q in p.get("panels", [])]
for p in panels:
    for t in p.get("targets", []):
        e = t["expr"]
        for var, val in (("$__rate_interval", "5m"), ("$pipeline", ".*"), ("$repository", ".*")):
            e = e.replace(var, val)
        print("      - record: dashboard:panel%d:%s\n        expr: %s" % (p["id"], t["refId"], json.dumps(e)))
PY
	# both files in one promtool (a Go program: about 0.8 CPU-s a start);
	# when that fails, each alone says which
	dash_ok=1
	if ! promtool check rules deploy/monitoring/prometheus-rules.yaml \
	    "$tmp/dash-rules.yaml" >"$tmp/promtool.out" 2>&1; then
		promtool check rules deploy/monitoring/prometheus-rules.yaml >"$tmp/promtool.out" 2>&1 ||
		    { cat "$tmp/promtool.out" >&2; fail "promtool check rules"; }
		dash_ok=0
	fi
	ok "promtool check rules"
	(cd deploy/monitoring && promtool test rules prometheus-rules.test.yaml) >"$tmp/promtool.out" 2>&1 ||
	    { cat "$tmp/promtool.out" >&2; fail "promtool test rules (deploy/monitoring/prometheus-rules.test.yaml)"; }
	ok "promtool test rules: the alerts fire when they should and only then"
	[ "$dash_ok" = 1 ] || promtool check rules "$tmp/dash-rules.yaml" >"$tmp/promtool.out" 2>&1 ||
	    { cat "$tmp/promtool.out" >&2; fail "the dashboard's PromQL does not parse"; }
	ok "promtool parses every dashboard query"
else
	echo "ok - SKIP promtool checks (promtool not installed)"
fi

# --- docker compose, when the plugin is installed --------------------------
if docker compose version >/dev/null 2>&1; then
	docker compose -f docker-compose.yml config -q || fail "docker compose config"
	ok "docker compose config"
fi

echo "deploy_manifests: $checks checks passed"
