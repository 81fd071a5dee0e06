#!/usr/bin/env bash
# The `sluice` client against a real controller (`sluice serve`, real
# PostgreSQL, a real Git repository, the local executor), as a user runs
# it from a second terminal with SLUICE_SERVER and SLUICE_TOKEN:
#   - bad input: unknown command, subcommand and flag, an unreachable
#     server, a wrong token, a client file open to others (exit 2, with a
#     message naming the problem); server and token from a 0600 file;
#   - `sluice run PIPELINE --wait` exits 1 for a failed run; runs list
#     (tables, --json, filters), runs get, runs logs;
#   - runs logs --follow streams a running stage and ends when the stage
#     is canceled by `sluice runs cancel`; a second cancel is refused
#     (exit 1); runs retry;
#   - `sluice run demo --wait` (the demo pipeline: prepare, train,
#     evaluate, a canary with two approvals) exits 0 after two
#     `sluice approvals approve` from a second process, and the model is
#     in production (`sluice models list`);
#   - a viewer's approve and a rollout action on a finished run are
#     refused (exit 1);
#   - a second demo run's rollout paused, resumed and promoted to 100 % by
#     `sluice rollouts`; where the controller has them (docs/api.yaml),
#     `sluice models promote` and `rollback` by hand.
set -euo pipefail
: "${SLUICE_BIN:?}" "${SLUICE_TEST_PG_URL:?}" "${SLUICE_TEST_PG_BIN:?}" "${SLUICE_TOP:?}"
fail() { echo "client_cli.sh: FAIL: $*" >&2; exit 1; }
. "$(dirname "$0")/../support/lib.sh"

db=client_cli_$$
conn=$(t_db_url "$db")
t_db_create "$db"
tmp=$(mktemp -d "${SLUICE_TEST_TMP:-/tmp}/client-cli.XXXXXX")
pid= waiter=
cleanup() {
	[ -n "$waiter" ] && kill "$waiter" 2>/dev/null
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	for d in "$tmp"/state/attempts/*/; do
		[ -e "$d/lock" ] && [ ! -e "$d/status" ] && : >"$d/cancel" 2>/dev/null
	done
	t_db_drop "$db"
	sleep 0.5
	rm -rf "$tmp"
}
trap cleanup EXIT
S=$SLUICE_BIN
# stdout, stderr and the exit status of one client call
call() { # call NAME ARG...
	local name=$1
	shift
	rc=0
	"$S" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" || rc=$?
}
show() { echo "--- stdout"; cat "$tmp/$1.out"; echo "--- stderr"; cat "$tmp/$1.err"; }
expect() { # expect NAME RC [PATTERN-ON-STDOUT+STDERR]
	[ "$rc" = "$2" ] || { show "$1"; fail "$1: exit $rc, not $2"; }
	if [ -n "${3:-}" ] && ! cat "$tmp/$1.out" "$tmp/$1.err" | grep -qE -- "$3"; then
		show "$1"
		fail "$1: no '$3'"
	fi
}
json() { # json NAME PYTHON-EXPRESSION-OF-d
	python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
	    "$tmp/$1.out" "$2"
}

export GIT_CONFIG_NOSYSTEM=1 HOME=$tmp/home
mkdir -p "$HOME"
t_git_remote "$tmp"
mkdir -p "$tmp/work/pipelines"
cp -R "$SLUICE_TOP/pipelines/demo" "$SLUICE_TOP/pipelines/demo.yaml" "$tmp/work/pipelines/"
# the demo as it is, but with a 1 s analysis window instead of 10 s: the
# test runs it twice, and waits for nothing the window shows
sed -i 's/^\( *duration:\) 10s$/\1 1s/' "$tmp/work/pipelines/demo.yaml"
grep -q '^ *duration: 1s$' "$tmp/work/pipelines/demo.yaml" || fail "the demo's analysis window was not shortened"
cat >"$tmp/work/pipelines/broken.yaml" <<'YAML'
apiVersion: sluice/v1
kind: Pipeline
metadata: {name: broken}
spec:
  defaults: {image: "alpine:3.20"}
  stages:
    - name: build
      command: ["sh", "-c", "echo 'building the thing'; echo 'boom: no such file' >&2; exit 3"]
YAML
cat >"$tmp/work/pipelines/sleeper.yaml" <<'YAML'
apiVersion: sluice/v1
kind: Pipeline
metadata: {name: sleeper}
spec:
  defaults: {image: "alpine:3.20"}
  stages:
    - name: nap
      command: ["sh", "-c", "echo 'nap begins'; sleep 300; echo 'nap ends'"]
YAML
t_git_push "$tmp/work" seed

port=$(t_free_port)
export SLUICE_DATABASE_URL="$conn" SLUICE_LISTEN="127.0.0.1:$port"
export SLUICE_MIGRATIONS_DIR="$SLUICE_TOP/migrations" SLUICE_STATE_DIR="$tmp/state"
export SLUICE_LOG_LEVEL=warn
export SLUICE_REPOSITORIES="[{name: demo, url: \"file://$tmp/repo.git\", branches: [main], interval: 1h}]"
"$S" migrate >/dev/null
admin=$("$S" token create --name cli-admin --role admin)
viewer=$("$S" token create --name cli-viewer --role viewer)
"$S" serve >"$tmp/serve.log" 2>&1 &
pid=$!
# the server's own flags and environment stay the server's: the client
# reads SLUICE_SERVER and SLUICE_TOKEN only
unset SLUICE_DATABASE_URL SLUICE_LISTEN SLUICE_REPOSITORIES
deadline=$((SECONDS + 120))
while [ $SECONDS -lt $deadline ]; do
	n=$(curl -s -H "Authorization: Bearer $admin" "http://127.0.0.1:$port/api/v1/pipelines" |
	    python3 -c 'import json,sys; print(sum(1 for p in json.load(sys.stdin)["pipelines"] if p["latest"] and p["latest"]["valid"]))' 2>/dev/null || echo 0)
	[ "$n" = 3 ] && break
	sleep 0.2
done
[ "$n" = 3 ] || { cat "$tmp/serve.log"; fail "the three pipelines were not seen"; }

# 1. bad input: exit 2 and a message naming the problem
call nocmd runs frobnicate
expect nocmd 2 "unknown subcommand 'frobnicate'"
call noflag runs list --frobnicate
expect noflag 2 "unknown flag '--frobnicate'"
call noarg runs get
expect noarg 2 "missing arguments"
call badid runs get x1
expect badid 2 "run 'x1' is not a positive number"
call badstatus runs list --status bogus --server "127.0.0.1:$port" --token "$admin"
expect badstatus 2 "--status 'bogus' is none of queued"
call badparam run demo --param novalue --server "127.0.0.1:$port" --token "$admin"
expect badparam 2 "--param wants KEY=VALUE"
dead=$(t_free_port)
call unreachable runs list --server "http://127.0.0.1:$dead" --token "$admin"
expect unreachable 2 "cannot reach the server at http://127.0.0.1:$dead"
call wrongtoken runs list --server "127.0.0.1:$port" --token slc_wrong
expect wrongtoken 2 "refused the token from --token \(401"
call notoken runs list --server "127.0.0.1:$port"
expect notoken 2 "wants a token \(401\)"
SLUICE_SERVER=127.0.0.1:$port SLUICE_TOKEN=slc_wrong call wrongenv runs list
expect wrongenv 2 "refused the token from SLUICE_TOKEN"
# the client file: refused when others may read it; used when 0600
mkdir -p "$HOME/.config/sluice"
cf=$HOME/.config/sluice/client.yaml
printf 'server: http://127.0.0.1:%s\ntoken: %s\n' "$port" "$admin" >"$cf"
chmod 644 "$cf"
call openfile runs list
expect openfile 2 "$cf has mode 0644"
chmod 600 "$cf"
call fromfile runs list
expect fromfile 0
printf 'server: http://127.0.0.1:%s\ntokn: x\n' "$port" >"$cf"
call typo runs list
expect typo 2 "$cf:2: unknown key 'tokn'"
rm "$cf"
# flags win over the environment, the environment over the file
export SLUICE_SERVER="http://127.0.0.1:$port" SLUICE_TOKEN=$admin

# 2. a failed run: run --wait exits 1; list, get, logs
call failed run broken --wait
expect failed 1 "run [0-9]+ failed"
grep -q "queued at main@" "$tmp/failed.out" || { show failed; fail "no 'queued' line"; }
grep -q "build" "$tmp/failed.out" || { show failed; fail "no progress line naming the stage"; }
fid=$(sed -n 's/^run \([0-9]*\) of broken queued.*/\1/p' "$tmp/failed.out")
[ -n "$fid" ] || { show failed; fail "no run id"; }
call list runs list
expect list 0 "^ID +PIPELINE +STATUS"
grep -E "^ *$fid +broken +failed" "$tmp/list.out" >/dev/null || { show list; fail "run $fid is not listed as failed"; }
! grep -q $'\033' "$tmp/list.out" || fail "colour on a pipe"
# on a terminal: colour, lines cut to its width, the updating line of
# --wait; with NO_COLOR no colour
trc=0
script -qec "stty cols 60; $S runs list" /dev/null </dev/null >"$tmp/tty.out" || trc=$?
[ "$trc" = 0 ] || { cat "$tmp/tty.out"; fail "runs list on a terminal: exit $trc"; }
grep -q $'\033\[31mfailed' "$tmp/tty.out" || { cat -v "$tmp/tty.out"; fail "no colour on a terminal"; }
python3 -c '
import re, sys
for line in open(sys.argv[1], encoding="utf-8").read().splitlines():
    if len(re.sub(r"\x1b\[[0-9;]*m|\r", "", line)) > 60:
        sys.exit("wider than 60: " + repr(line))' "$tmp/tty.out" || fail "a line wider than the terminal"
grep -q $'\xe2\x80\xa6' "$tmp/tty.out" || { cat "$tmp/tty.out"; fail "nothing was cut to fit 60 columns"; }
NO_COLOR=1 script -qec "$S runs list" /dev/null </dev/null >"$tmp/nocolor.out"
! grep -q $'\033\[3' "$tmp/nocolor.out" || fail "colour with NO_COLOR set"
trc=0
script -qec "stty cols 100; $S run broken --wait" /dev/null </dev/null >"$tmp/ttywait.out" || trc=$?
[ "$trc" = 1 ] || { cat -v "$tmp/ttywait.out"; fail "run --wait on a terminal: exit $trc, not 1"; }
grep -q $'\r\033\[K' "$tmp/ttywait.out" || { cat -v "$tmp/ttywait.out"; fail "no updating line on a terminal"; }
grep -qE "run [0-9]+ failed: stage 'build' failed" "$tmp/ttywait.out" || { cat -v "$tmp/ttywait.out"; fail "no outcome line"; }
call listjson runs list --json --pipeline broken --status failed
expect listjson 0
wid=$(sed -n 's/^run \([0-9]*\) of broken queued.*/\1/p' "$tmp/ttywait.out" | tr -d '\r')
[ "$(json listjson '[r["id"] for r in d["runs"]]')" = "[$wid, $fid]" ] || { show listjson; fail "--json filter"; }
call listnone runs list --pipeline sleeper
expect listnone 0 "no runs"
call get runs get "$fid"
expect get 0 "^Status +failed"
grep -E "^build +job +failed +1 " "$tmp/get.out" >/dev/null || { show get; fail "no stage row"; }
call getjson runs get "$fid" --json
expect getjson 0
[ "$(json getjson 'd["stages"][0]["attempts"][0]["exit_code"]')" = 3 ] || { show getjson; fail "--json of runs get"; }
call get404 runs get 999999
expect get404 1 "run 999999 not found \(404"
call logs runs logs "$fid" build
expect logs 0 "building the thing"
grep -q "boom: no such file" "$tmp/logs.out" || { show logs; fail "stderr of the stage not in its log"; }
call nostage runs logs "$fid" nosuch
expect nostage 1 "no stage 'nosuch'"
call retry runs retry "$fid"
expect retry 0 "queued: a retry of run $fid"

# 3. follow a running stage, cancel it from another process
call sleeper run sleeper
expect sleeper 0
sid=$(sed -n 's/^run \([0-9]*\) of sleeper queued.*/\1/p' "$tmp/sleeper.out")
"$S" runs logs "$sid" nap --follow >"$tmp/follow.out" 2>"$tmp/follow.err" &
follower=$!
for _ in $(seq 1 300); do
	grep -q "nap begins" "$tmp/follow.out" && break
	sleep 0.2
done
grep -q "nap begins" "$tmp/follow.out" || { cat "$tmp/follow.err"; fail "--follow showed nothing"; }
kill -0 "$follower" 2>/dev/null || fail "--follow ended while the stage runs"
call cancel runs cancel "$sid"
expect cancel 0 "run $sid: cancel requested"
frc=0
for _ in $(seq 1 300); do
	kill -0 "$follower" 2>/dev/null || break
	sleep 0.2
done
kill -0 "$follower" 2>/dev/null && fail "--follow did not end with the stage"
wait "$follower" || frc=$?
[ "$frc" = 0 ] || { cat "$tmp/follow.err"; fail "--follow exit $frc"; }
! grep -q "nap ends" "$tmp/follow.out" || fail "the stage was not canceled"
for _ in $(seq 1 100); do
	call sget runs get "$sid" --json
	[ "$(json sget 'd["status"]')" = canceled ] && break
	sleep 0.2
done
[ "$(json sget 'd["status"]')" = canceled ] || fail "run $sid not canceled"
call cancel2 runs cancel "$sid"
expect cancel2 1 "\(409 conflict\)"

# 4. the demo from a second terminal: run --wait, two approvals
"$S" run demo --wait >"$tmp/demo.out" 2>"$tmp/demo.err" &
waiter=$!
approved=0
for _ in $(seq 1 900); do
	kill -0 "$waiter" 2>/dev/null || break
	call pending approvals list --json
	expect pending 0
	aid=$(json pending 'min([a["id"] for a in d["approvals"]], default="")')
	if [ -n "$aid" ]; then
		if [ "$approved" = 0 ]; then
			call viewer approvals approve "$aid" --token "$viewer"
			expect viewer 1 "\(403 forbidden\)"
			call table approvals list
			expect table 0 "^ID +RUN +PIPELINE"
			grep -E "^ *$aid +[0-9]+ +demo +rollout +2 +50% +demo-api +pending" \
			    "$tmp/table.out" >/dev/null || { show table; fail "approval row"; }
		fi
		call approve approvals approve "$aid" --comment "looks good"
		expect approve 0 "approval $aid of run [0-9]+ \(rollout step [23], weight (50|100)%\): approved"
		approved=$((approved + 1))
	fi
	sleep 0.2
done
drc=0
wait "$waiter" || drc=$?
waiter=
[ "$drc" = 0 ] || { show demo; tail -20 "$tmp/serve.log"; fail "run demo --wait exit $drc"; }
[ "$approved" = 2 ] || fail "$approved approvals, not 2"
grep -qE "^run [0-9]+ succeeded$" "$tmp/demo.out" || { show demo; fail "no success line"; }
grep -q "train" "$tmp/demo.out" || { show demo; fail "no progress of train"; }
did=$(sed -n 's/^run \([0-9]*\) of demo queued.*/\1/p' "$tmp/demo.out")
call trainlog runs logs "$did" train
expect trainlog 0 "^::metric "
call models models list
expect models 0 "^MODEL +VERSIONS"
grep -E "^demo +1 +v1 +production +demo-api=v1" "$tmp/models.out" >/dev/null || { show models; fail "model not in production"; }
call versions models list demo --json
expect versions 0
[ "$(json versions 'd["versions"][0]["status"]')" = production ] || { show versions; fail "versions --json"; }
call history approvals list --status approved --json
expect history 0
[ "$(json history 'sorted(a["comment"] for a in d["approvals"])')" = "['looks good', 'looks good']" ] ||
    { show history; fail "comments of the approvals"; }
call pause rollouts pause "$did"
expect pause 1 "\(409 conflict\)"
call norollout rollouts abort "$fid"
expect norollout 1 "\(404 not_found\)"

# 4b. a second demo run: its rollout paused, resumed and promoted to 100 %
#     at once by an approver, so v2 is in production; then promotion and
#     rollback by hand
call demo2 run demo
expect demo2 0
d2=$(sed -n 's/^run \([0-9]*\) of demo queued.*/\1/p' "$tmp/demo2.out")
deadline=$((SECONDS + 300))
while [ $SECONDS -lt $deadline ]; do
	call d2get runs get "$d2" --json
	[ "$(json d2get 'd["status"]')" = waiting_approval ] && break
	jv_done=$(json d2get 'd["status"] in ("succeeded", "failed", "canceled")')
	[ "$jv_done" = False ] || { show d2get; fail "run $d2 ended before its approval"; }
	sleep 0.5
done
call pause2 rollouts pause "$d2" --comment "a look first"
expect pause2 0 "rollout [0-9]+ of run $d2 \(target demo-api\): waiting_approval"
call pause3 rollouts pause "$d2"
expect pause3 1 "\(409 conflict\)"
call resume2 rollouts resume "$d2"
expect resume2 0 "of run $d2 \(target demo-api\)"
call full rollouts promote-full "$d2" --comment "all in" --json
expect full 0
[ "$(json full 'd["action"]')" = promote_full ] || { show full; fail "promote-full --json"; }
deadline=$((SECONDS + 300))
while [ $SECONDS -lt $deadline ]; do
	call d2get runs get "$d2" --json
	[ "$(json d2get 'd["status"]')" = succeeded ] && break
	sleep 0.5
done
[ "$(json d2get 'd["status"]')" = succeeded ] || { show d2get; fail "run $d2 did not succeed after promote-full"; }
call models2 models list
grep -E "^demo +2 +v2 +production +demo-api=v2" "$tmp/models2.out" >/dev/null || { show models2; fail "v2 not in production"; }
call notarget models promote demo 1
expect notarget 2 "--target T is required"
if grep -q '/api/v1/models/{name}/rollback:' "$SLUICE_TOP/docs/api.yaml"; then
	call rbwrong models rollback demo 1 --target demo-api
	expect rbwrong 1 "demo v1 is not in production on demo-api \(v2 is\)"
	call promote models promote demo v1 --target demo-api --comment "back to v1"
	expect promote 0 "^demo v1 is in production on demo-api \(before: demo v2\)"
	call rollback models rollback demo 1 --target demo-api --comment "v2 after all"
	expect rollback 0 "^demo v2 is in production on demo-api \(before: demo v1\)"
	call promote404 models promote demo 99 --target demo-api
	expect promote404 1 "\(404 not_found\)"
fi

# 5. help and completion
call help help runs logs
expect help 0 "usage: sluice runs logs ID STAGE \[--follow\]"
call helpflag run --help
expect helpflag 0 "--wait"
call serverhelp help serve
expect serverhelp 0 "sluice serve"
call completion completion bash
expect completion 0
cmp -s "$tmp/completion.out" "$SLUICE_TOP/contrib/sluice.bash" ||
    fail "contrib/sluice.bash is not what 'sluice completion bash' prints"
words=$(bash -c '. "$1"; COMP_WORDS=(sluice runs l); COMP_CWORD=2; _sluice; echo "${COMPREPLY[*]}"' _ "$tmp/completion.out")
[ "$words" = "list logs" ] || fail "completion of 'sluice runs l': '$words'"
call version version
expect version 0 "^sluice "

kill -TERM "$pid"
wait "$pid" || true
pid=
echo "client_cli.sh: ok"
