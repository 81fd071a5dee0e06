#!/usr/bin/env bash
# Notifications and commit statuses, end to end: real PostgreSQL, `sluice
# serve` with the local executor, and tests/fakes/notify_receiver.py as
# the Slack/JSON receiver and the GitHub and GitLab APIs.
#   - a pending approval produces exactly one Slack-format delivery (and
#     one signed JSON delivery whose X-Sluice-Signature-256 verifies);
#     the promotion that follows the approval, one more; a rejection's
#     rollback, one more;
#   - commit statuses: sluice/<pipeline> pending when queued, pending
#     naming the approval waited for, success or failure (naming the
#     failing stage) at the end, with the console's run page as target;
#     GitLab gets its own state names;
#   - the receiver down for a while, then up: delivered once;
#   - 5xx from the Git host: retried, each attempt recorded;
#   - an invalid pipeline file: sluice/validate failure with its first
#     FILE:LINE:COL error; fixed: success;
#   - kill -9 of serve between retries: delivered once after restart.
# Waits have deadlines so a hang fails; nothing asserts how long a step took.
set -euo pipefail
: "${SLUICE_BIN:?}" "${SLUICE_TEST_PG_URL:?}" "${SLUICE_TEST_PG_BIN:?}" "${SLUICE_TOP:?}"
fail() { echo "notify.sh: FAIL: $*" >&2; [ -n "${tmp:-}" ] && tail -20 "$tmp/serve.log" >&2; exit 1; }
. "$(dirname "$0")/../support/lib.sh"

db=notify_$$
conn=$(t_db_url "$db")
t_db_create "$db"
tmp=$(mktemp -d "${SLUICE_TEST_TMP:-/tmp}/notify.XXXXXX")
pid= fpid=
cleanup() {
	if [ -n "$pid" ]; then kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; fi
	if [ -n "$fpid" ]; then kill "$fpid" 2>/dev/null; wait "$fpid" 2>/dev/null || true; fi
	t_db_drop "$db"
	rm -rf "$tmp"
}
trap cleanup EXIT
q() { t_psql "$conn" -c "$1"; }
qis() { [ "$(q "$1")" = "$2" ]; }

# Wait up to $1 seconds for the command "$2..." to succeed.
until_ok() {
	local end=$((SECONDS + $1)); shift
	while ! "$@" 2>/dev/null; do
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.1
	done
}
# The system's python3 when there is one: a version manager's shim can
# take seconds to start, and the checks below run it in loops.
py=$(command -v /usr/bin/python3 || command -v python3)

export GIT_CONFIG_NOSYSTEM=1 HOME=$tmp
t_git_remote "$tmp"
mkdir -p "$tmp/work/pipelines" "$tmp/work/ok" "$tmp/work/bad"
cat >"$tmp/work/pipelines/ok.yaml" <<'YAML'
apiVersion: sluice/v1
kind: Pipeline
metadata: {name: ok}
spec:
  triggers: {push: {branches: [main], paths: ["ok/**"]}}
  defaults: {image: "alpine:3.20"}
  stages:
    - name: build
      command: ["sh", "-c", "echo ::artifact model=s3://models/ok/1"]
    - name: ship
      needs: [build]
      type: canary
      command: ["true"]
      canary:
        target: t1
        steps:
          - {weight: 100, approval: required}
YAML
good_bad() {
	cat >"$tmp/work/pipelines/bad.yaml" <<'YAML'
apiVersion: sluice/v1
kind: Pipeline
metadata: {name: bad}
spec:
  triggers: {push: {branches: [main], paths: ["bad/**"]}}
  defaults: {image: "alpine:3.20"}
  stages:
    - name: boom
      command: ["sh", "-c", "exit 3"]
YAML
}
good_bad
echo 1 >"$tmp/work/ok/x"
echo 1 >"$tmp/work/bad/x"
t_git_push "$tmp/work" seed
sha() { git -C "$tmp/work" rev-parse HEAD; }
sha1=$(sha)

# A second repository, on GitLab.
mkdir -p "$tmp/lab"
t_git init -q --bare "$tmp/lab/repo.git"
t_git clone -q "$tmp/lab/repo.git" "$tmp/lab/work" 2>/dev/null
mkdir -p "$tmp/lab/work/pipelines"
cat >"$tmp/lab/work/pipelines/lab.yaml" <<'YAML'
apiVersion: sluice/v1
kind: Pipeline
metadata: {name: lab}
spec:
  triggers: {push: {branches: [main]}}
  defaults: {image: "alpine:3.20"}
  stages:
    - name: one
      command: ["true"]
YAML
t_git_push "$tmp/lab/work" seed

fport=$(t_free_port)
log=$tmp/requests.jsonl
: >"$log"
fake_start() {
	"$py" "$SLUICE_TOP/tests/fakes/notify_receiver.py" --port "$fport" \
	    --log "$log" --token gh-secret-token >"$tmp/fake.out" 2>&1 &
	fpid=$!
	until_ok 20 grep -q ready "$tmp/fake.out" || fail "fake did not start"
}
fake_stop() { kill "$fpid"; wait "$fpid" 2>/dev/null || true; fpid=; : >"$tmp/fake.out"; }
fake_start
fake="http://127.0.0.1:$fport"

port=$(t_free_port)
export SLUICE_DATABASE_URL="$conn" SLUICE_LISTEN="127.0.0.1:$port"
export SLUICE_MIGRATIONS_DIR="$SLUICE_TOP/migrations" SLUICE_STATE_DIR="$tmp/state"
export SLUICE_LOG_LEVEL=info SLUICE_PUBLIC_URL="https://console.example.com/"
export SLUICE_REPOSITORIES="[{name: demo, url: \"file://$tmp/repo.git\", branches: [main], interval: 1s,
  commit_status: {provider: github, api_url: \"$fake/github\", token_env: GH_TOKEN, repo: acme/ml}},
  {name: lab, url: \"file://$tmp/lab/repo.git\", branches: [main], interval: 1s,
  commit_status: {provider: gitlab, api_url: \"$fake/gitlab/api/v4\", token_env: GH_TOKEN, project: acme/lab}}]"
export SLUICE_NOTIFICATIONS="[{name: team, url_env: SLACK_URL, events: [approval_requested, run_failed, model_promoted, rollout_rolled_back]},
  {name: hook, url_env: HOOK_URL, format: json, secret_env: HOOK_SECRET, events: [approval_requested]}]"
export GH_TOKEN=gh-secret-token SLACK_URL="$fake/slack/T000/B000" HOOK_URL="$fake/hook" HOOK_SECRET=s3cret
"$SLUICE_BIN" migrate >/dev/null
token=$("$SLUICE_BIN" token create --name admin --role admin)

start() {
	"$SLUICE_BIN" serve >>"$tmp/serve.log" 2>&1 &
	pid=$!
	until_ok 60 curl -sf "http://127.0.0.1:$port/readyz" -o /dev/null ||
	    fail "serve not ready"
}
api() { curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$port$1" "${@:2}"; }

# Requests the fake received, as a Python expression over r (one request,
# its body parsed as b) -> count of the ones matching.
count() {
	"$py" - "$log" "$1" <<'PY'
import json, sys
n = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    try:
        b = json.loads(r["body"])
    except ValueError:
        b = {}
    try:
        n += bool(eval(sys.argv[2]))
    except (KeyError, TypeError, AttributeError, IndexError):
        pass
print(n)
PY
}
seen() { [ "$(count "$1")" -ge "${2:-1}" ]; }

start

# --- first sight: sluice/validate success on both hosts ---------------------
until_ok 60 seen "r['path'] == '/github/repos/acme/ml/statuses/$sha1' and b['context'] == 'sluice/validate' and b['state'] == 'success' and r['answer'] == 201" ||
    fail "no sluice/validate success for the seed commit"
lab1=$(git -C "$tmp/lab/work" rev-parse HEAD)
until_ok 60 seen "r['path'] == '/gitlab/api/v4/projects/acme%2Flab/statuses/$lab1' and b['name'] == 'sluice/validate' and b['state'] == 'success' and r['answer'] == 201" ||
    fail "no GitLab sluice/validate success"

# --- a pending approval: one Slack message, one signed JSON ------------------
echo 2 >"$tmp/work/ok/x"
t_git_push "$tmp/work" "ok again"
sha2=$(sha)
until_ok 60 qis "SELECT count(*) FROM approvals WHERE status = 'pending'" 1 ||
    fail "no approval requested"
run_ok=$(q "SELECT run_id FROM approvals WHERE status = 'pending'")
slack_approval="r['path'] == '/slack/T000/B000' and 'waiting for approval' in b.get('text', '') and 'run $run_ok:' in b['text']"
until_ok 30 seen "$slack_approval" || fail "no Slack message for the approval"
seen "'<https://console.example.com/#/runs/$run_ok|' in b['text'] and $slack_approval" ||
    fail "the Slack message does not link to the run: $(tail -3 "$log")"
until_ok 30 seen "r['path'] == '/hook' and b.get('event') == 'approval_requested'" ||
    fail "no JSON delivery for the approval"
"$py" - "$log" <<'PY' || fail "X-Sluice-Signature-256 does not verify"
import hashlib, hmac, json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["path"] == "/hook":
        want = "sha256=" + hmac.new(b"s3cret", r["body"].encode(), hashlib.sha256).hexdigest()
        assert r["headers"].get("x-sluice-signature-256") == want, r["headers"]
        assert json.loads(r["body"])["url"].endswith("/#/runs/%s" % json.loads(r["body"])["subject"]["run"])
PY
gh_ok="r['path'] == '/github/repos/acme/ml/statuses/$sha2' and b['context'] == 'sluice/ok'"
until_ok 30 seen "$gh_ok and b['state'] == 'pending' and 'waiting for approval of ship step 1' in b['description']" ||
    fail "no pending commit status naming the approval"
seen "$gh_ok and b['state'] == 'pending' and b['description'] == 'run $run_ok queued' and b['target_url'] == 'https://console.example.com/#/runs/$run_ok'" ||
    fail "no pending commit status when the run was queued"
approval=$(q "SELECT id FROM approvals WHERE status = 'pending'")
api "/api/v1/approvals/$approval/approve" -X POST -H 'Content-Type: application/json' -d '{}' >/dev/null ||
    fail "cannot approve"
until_ok 60 seen "$gh_ok and b['state'] == 'success'" || fail "no success commit status"
until_ok 30 seen "r['path'] == '/slack/T000/B000' and 'run $run_ok: model ok version 1 promoted to production on t1' in b.get('text', '')" ||
    fail "no Slack message for the promotion"
[ "$(count "$slack_approval")" = 1 ] || fail "the approval was announced more than once"

# --- a rejected approval: the rollout rolls back, and that is announced ------
echo 3 >"$tmp/work/ok/x"
t_git_push "$tmp/work" "ok, to be rejected"
until_ok 60 qis "SELECT count(*) FROM approvals WHERE status = 'pending'" 1 ||
    fail "no second approval requested"
approval=$(q "SELECT id FROM approvals WHERE status = 'pending'")
run_ok2=$(q "SELECT run_id FROM approvals WHERE id = $approval")
api "/api/v1/approvals/$approval/reject" -X POST -H 'Content-Type: application/json' -d '{"comment": "no"}' >/dev/null ||
    fail "cannot reject"
until_ok 60 seen "r['path'] == '/slack/T000/B000' and 'run $run_ok2: rollout on t1 rolled back' in b.get('text', '')" ||
    fail "no Slack message for the rollback"

# --- GitLab: pending then success, GitLab's names --------------------------
echo 2 >"$tmp/lab/work/y"
t_git_push "$tmp/lab/work" "lab run"
lab2=$(git -C "$tmp/lab/work" rev-parse HEAD)
gl="r['path'] == '/gitlab/api/v4/projects/acme%2Flab/statuses/$lab2' and b['name'] == 'sluice/lab'"
until_ok 60 seen "$gl and b['state'] == 'success'" || fail "no GitLab success"
seen "$gl and b['state'] == 'pending'" || fail "no GitLab pending"

# --- the receiver down, then up: delivered once -----------------------------
fake_stop
echo 3 >"$tmp/work/bad/x"
t_git_push "$tmp/work" "bad run"
sha3=$(sha)
until_ok 60 qis "SELECT count(*) FROM notify_deliveries WHERE kind = 'run_failed' AND channel = 'notification' AND attempts >= 2 AND status = 'pending' AND last_error IS NOT NULL" 1 ||
    fail "the delivery to a receiver that is down is not retried"
run_bad=$(q "SELECT r.id FROM runs r JOIN commits c ON c.id = r.commit_id WHERE c.sha = '$sha3'")
api "/api/v1/notifications/deliveries?status=pending" | "$py" -c '
import json, sys
d = json.load(sys.stdin)["deliveries"]
assert any(x["event"] == "run_failed" and x["attempts"] >= 2 and x["last_error"] for x in d), d' ||
    fail "GET /api/v1/notifications/deliveries does not show the retries"
fake_start
slack_failed="r['path'] == '/slack/T000/B000' and 'run $run_bad:' in b.get('text', '') and 'stage boom failed' in b['text'] and r['answer'] == 200"
until_ok 90 seen "$slack_failed" || fail "not delivered after the receiver came back"
gh_bad="r['path'] == '/github/repos/acme/ml/statuses/$sha3' and b['context'] == 'sluice/bad' and r['answer'] == 201"
until_ok 60 seen "$gh_bad and b['state'] == 'failure' and b['description'].startswith('stage boom failed')" ||
    fail "no failure commit status naming the stage"
"$py" - "$log" "$sha3" <<'PY' || fail "the failure status came before the pending one"
import json, sys
states = [json.loads(r["body"])["state"] for r in map(json.loads, open(sys.argv[1]))
          if r["path"].endswith(sys.argv[2]) and r["answer"] == 201
          and json.loads(r["body"]).get("context") == "sluice/bad"]
assert states == ["pending", "failure"], states
PY

# --- 5xx from the Git host; an invalid pipeline file ------------------------
curl -sf "$fake/_fail" -d '{"status": 502, "times": 2, "prefix": "/github/"}' >/dev/null
cat >"$tmp/work/pipelines/bad.yaml" <<'YAML'
apiVersion: sluice/v1
kind: Pipeline
metadata: {name: bad}
spec:
  defaults: {image: "alpine:3.20"}
  stages:
    - name: boom
      comand: ["true"]
YAML
t_git_push "$tmp/work" "break bad"
sha4=$(sha)
gh_val4="r['path'] == '/github/repos/acme/ml/statuses/$sha4' and b['context'] == 'sluice/validate'"
until_ok 60 seen "$gh_val4 and b['state'] == 'failure' and r['answer'] == 201" ||
    fail "no sluice/validate failure for the invalid file"
seen "$gh_val4 and b['description'].split(':')[0] == 'pipelines/bad.yaml' and b['description'].split(':')[1].isdigit() and b['description'].split(':')[2].isdigit()" ||
    fail "the failure does not start with FILE:LINE:COL: $(grep "$sha4" "$log" | tail -1)"
seen "r['path'].startswith('/github/') and r['answer'] == 502" 2 ||
    fail "the fake did not answer 502"
[ "$(q "SELECT attempts > 1 AND last_http_status = 201 FROM notify_deliveries WHERE sha = '$sha4' AND context = 'sluice/validate'")" = t ] ||
    fail "the retries are not recorded: $(q "SELECT attempts, last_http_status, status FROM notify_deliveries WHERE sha = '$sha4'")"
good_bad
t_git_push "$tmp/work" "fix bad"
sha5=$(sha)
until_ok 60 seen "r['path'] == '/github/repos/acme/ml/statuses/$sha5' and b['context'] == 'sluice/validate' and b['state'] == 'success' and r['answer'] == 201" ||
    fail "no sluice/validate success once fixed"

# --- kill -9 between retries: delivered once after restart ------------------
# (the fixed file started a run too: let it and its messages settle first)
settled="SELECT (SELECT count(*) FROM runs WHERE finished_at IS NULL) +
    (SELECT count(*) FROM notify_outbox WHERE fanned_out_at IS NULL) +
    (SELECT count(*) FROM notify_deliveries WHERE status = 'pending')"
until_ok 60 qis "$settled" 0 || fail "runs or deliveries did not settle"
# the receiver fails until the replica is dead, so the killed replica can
# never have had it accepted (however late the kill lands on a loaded
# machine): what reaches it once is the restarted replica's retry
curl -sf "$fake/_fail" -d '{"status": 500, "times": 1000000, "prefix": "/slack/"}' >/dev/null
echo 6 >"$tmp/work/bad/x"
t_git_push "$tmp/work" "bad again"
sha6=$(sha)
failed6="SELECT count(*) FROM runs r JOIN commits c ON c.id = r.commit_id WHERE c.sha = '$sha6' AND r.status = 'failed'"
until_ok 60 qis "$failed6" 1 || fail "the run of the last commit did not fail"
run_bad2=$(q "SELECT r.id FROM runs r JOIN commits c ON c.id = r.commit_id WHERE c.sha = '$sha6'")
until_ok 60 seen "r['path'].startswith('/slack/') and 'run $run_bad2:' in b.get('text', '') and r['answer'] == 500" ||
    fail "the told-to-fail answer never came"
kill -9 "$pid"; wait "$pid" 2>/dev/null || true; pid=
curl -sf -X POST "$fake/_fail/clear" >/dev/null
start
slack_failed2="r['path'].startswith('/slack/') and 'run $run_bad2:' in b.get('text', '') and r['answer'] == 200"
until_ok 90 seen "$slack_failed2" || fail "not delivered after the restart"
# everything due is sent (nothing left pending), and still once
until_ok 60 qis "SELECT count(*) FROM notify_deliveries WHERE status = 'pending'" 0 ||
    fail "deliveries left pending: $(q "SELECT id, kind, target, attempts, last_error FROM notify_deliveries WHERE status = 'pending'")"
[ "$(count "$slack_failed2")" = 1 ] || fail "delivered more than once after the crash"
[ "$(count "$slack_failed")" = 1 ] || fail "the first failure was delivered more than once"
[ "$(q "SELECT count(*) FROM notify_deliveries WHERE status = 'failed'")" = 0 ] ||
    fail "a delivery failed: $(q "SELECT id, kind, last_error FROM notify_deliveries WHERE status = 'failed'")"
# SIGTERM: the sender stops with the rest, exit 0
kill -TERM "$pid"
wait "$pid" || fail "serve exited $? on SIGTERM"
pid=
echo "notify.sh: ok"
