#!/usr/bin/env bash
# The demo pipeline's scripts, run by hand the way the local executor runs
# them: working directory = a checkout of the repository, SLUICE_* set,
# prepare -> train -> evaluate -> rollout (10, 50, 100, a failing step, the
# rollback).  Asserts on the ::metric / ::artifact lines a user would see.
# Python standard library only; a few seconds; deterministic.
set -euo pipefail
top=${SLUICE_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp=$(mktemp -d "${SLUICE_TEST_TMP:-/tmp}/demo-scripts.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
check() { # check DESCRIPTION COMMAND...
	local what=$1
	shift
	if "$@"; then ok "$what"; else bad "$what"; fi
}

# Well-formed protocol lines: every "::" line must be one of these.
metric_re='^::metric( [a-z_][a-z0-9_]*=-?[0-9]+(\.[0-9]+)?)+$'
artifact_re='^::artifact [a-z_][a-z0-9_]*=file:///[^ ]+( name=[a-z0-9][a-z0-9.-]*)?$'
wellformed() { # wellformed FILE
	local line
	while IFS= read -r line; do
		case $line in
		::metric*) [[ $line =~ $metric_re ]] || return 1 ;;
		::artifact*) [[ $line =~ $artifact_re ]] || return 1 ;;
		::*) return 1 ;;
		esac
	done <"$1"
}
value() { # value FILE KIND NAME -> the value of NAME on a ::KIND line
	sed -n "s/^::$2 .*\\b$3=\\([^ ]*\\).*/\\1/p" "$1" | tail -1
}
uri_path() { # file:///a/b -> /a/b (the demo never needs percent-decoding)
	printf '%s\n' "${1#file://}"
}
num_cmp() { # num_cmp A OP B, e.g. num_cmp 0.9 '>=' 0.8
	awk -v a="$1" -v b="$3" -v op="$2" 'BEGIN {
		if (a == "" || b == "") exit 1
		if (op == ">=") exit !(a + 0 >= b + 0)
		if (op == "<=") exit !(a + 0 <= b + 0)
		if (op == ">") exit !(a + 0 > b + 0)
		if (op == "<") exit !(a + 0 < b + 0)
		exit 1
	}'
}

# The run's checkout: the repository root with pipelines/ in it.
checkout=$tmp/checkout
mkdir -p "$checkout"
cp -R "$top/pipelines" "$checkout/pipelines"
cd "$checkout"
export SLUICE_RUN_ID=17 SLUICE_COMMIT=0123456789abcdef0123456789abcdef01234567
export SLUICE_PIPELINE=demo SLUICE_ATTEMPT=1 SLUICE_PARAM_SEED=42
export SLUICE_PARAM_ROWS=4000 SLUICE_PARAM_EPOCHS=100 SLUICE_PARAM_LR=0.5 SLUICE_PARAM_FAULT_RATE=0
unset SLUICE_ARTIFACT_DIR SLUICE_CANARY_TARGET SLUICE_CANARY_WEIGHT \
    SLUICE_CANARY_STEP SLUICE_PREVIOUS_MODEL

run() { # run NAME [ENV=V...] -- ARGS...: stdout to $tmp/NAME.out, stderr .err
	local name=$1
	shift
	local envs=()
	while [ "$1" != -- ]; do envs+=("$1"); shift; done
	shift
	env "${envs[@]}" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
}

# prepare: no SLUICE_ARTIFACT_DIR, so it falls back to ./artifacts/<run>/<stage>
check "prepare exits 0" run prepare SLUICE_STAGE=prepare -- \
    python3 pipelines/demo/prepare.py --seed 42 --rows 4000
check "prepare prints well-formed lines" wellformed "$tmp/prepare.out"
dataset=$(sed -n 's/^::artifact dataset=//p' "$tmp/prepare.out")
check "prepare reports the dataset in the fallback directory" \
    test "$dataset" = "file://$checkout/artifacts/17/prepare/dataset.csv"
check "the dataset file exists" test -s "$(uri_path "$dataset")"
check "prepare reports rows=4000" test "$(value "$tmp/prepare.out" metric rows)" = 4000
check "4001 CSV lines (header + rows)" \
    test "$(wc -l <"$(uri_path "$dataset")")" = 4001

# train: with SLUICE_ARTIFACT_DIR outside the checkout
art=$tmp/state/artifacts
check "train exits 0" run train SLUICE_STAGE=train \
    SLUICE_ARTIFACT_DIR="$art/train" -- \
    python3 pipelines/demo/train.py --data "$dataset" --epochs 100 --lr 0.5
check "train prints well-formed lines" wellformed "$tmp/train.out"
model=$(sed -n 's/^::artifact model=//p' "$tmp/train.out")
check "train reports the model in SLUICE_ARTIFACT_DIR" \
    test "$model" = "file://$art/train/model.json"
check "the model file exists" test -s "$(uri_path "$model")"
loss=$(value "$tmp/train.out" metric loss)
train_auc=$(value "$tmp/train.out" metric train_auc)
check "train reports loss ($loss) below ln 2" num_cmp "$loss" '<' 0.6931
check "train reports train_auc ($train_auc) >= 0.8" num_cmp "$train_auc" '>=' 0.8

# evaluate
check "evaluate exits 0" run evaluate SLUICE_STAGE=evaluate \
    SLUICE_ARTIFACT_DIR="$art/evaluate" -- \
    python3 pipelines/demo/evaluate.py --model "$model" --data "$dataset"
check "evaluate prints well-formed lines" wellformed "$tmp/evaluate.out"
auc=$(value "$tmp/evaluate.out" metric auc)
check "evaluate reports auc ($auc) >= 0.8, above the 0.75 gate" \
    num_cmp "$auc" '>=' 0.8
check "evaluate reports no artifact" \
    test -z "$(grep '^::artifact' "$tmp/evaluate.out" || true)"

# determinism: the same seed gives the same dataset, model and AUC
check "second prepare exits 0" run prepare2 SLUICE_STAGE=prepare \
    SLUICE_RUN_ID=18 -- python3 pipelines/demo/prepare.py --seed 42 --rows 4000
dataset2=$(sed -n 's/^::artifact dataset=//p' "$tmp/prepare2.out")
check "same seed, same dataset" \
    cmp -s "$(uri_path "$dataset")" "$(uri_path "$dataset2")"
check "second train exits 0" run train2 SLUICE_STAGE=train \
    SLUICE_ARTIFACT_DIR="$art/train2" -- \
    python3 pipelines/demo/train.py --data "$dataset2" --epochs 100 --lr 0.5
check "second evaluate exits 0" run evaluate2 SLUICE_STAGE=evaluate -- \
    python3 pipelines/demo/evaluate.py \
    --model "$(sed -n 's/^::artifact model=//p' "$tmp/train2.out")" \
    --data "$dataset2"
check "same seed, same metrics" cmp -s "$tmp/evaluate.out" "$tmp/evaluate2.out"

# rollout: the three canary steps, each under the 0.05 analysis gate
step=0
for weight in 10 50 100; do
	step=$((step + 1))
	check "rollout step $step (weight $weight) exits 0" run "rollout$step" \
	    SLUICE_STAGE=rollout SLUICE_CANARY_TARGET=demo-api \
	    SLUICE_CANARY_WEIGHT=$weight SLUICE_CANARY_STEP=$step \
	    SLUICE_PREVIOUS_MODEL= -- \
	    python3 pipelines/demo/rollout.py --model "$model" --fault-rate 0 --hold 0
	out=$tmp/rollout$step.out
	check "rollout step $step prints well-formed lines" wellformed "$out"
	er=$(value "$out" metric error_rate)
	check "rollout step $step error_rate ($er) <= 0.05" num_cmp "$er" '<=' 0.05
	n=$(value "$out" metric canary_requests)
	check "rollout step $step served canary requests ($n)" num_cmp "$n" '>' 0
	check "rollout step $step says it routes $weight%" \
	    grep -q "routes $weight% to $model" "$out"
done
check "weight 100 sends every request to the canary" \
    test "$(value "$tmp/rollout3.out" metric canary_requests)" = 2000

# a faulty canary fails the analysis gate; the rollback command reverts it
check "faulty rollout exits 0" run faulty SLUICE_STAGE=rollout \
    SLUICE_CANARY_TARGET=demo-api SLUICE_CANARY_WEIGHT=10 \
    SLUICE_CANARY_STEP=1 -- \
    python3 pipelines/demo/rollout.py --model "$model" --fault-rate 0.2 --hold 0
er=$(value "$tmp/faulty.out" metric error_rate)
check "faulty rollout error_rate ($er) > 0.05" num_cmp "$er" '>' 0.05
check "rollback exits 0" run abort SLUICE_STAGE=rollout \
    SLUICE_CANARY_TARGET=demo-api SLUICE_CANARY_WEIGHT=0 \
    SLUICE_PREVIOUS_MODEL=file:///models/demo/16/model.json -- \
    python3 pipelines/demo/rollout.py --abort
check "rollback reverts to the previous model" \
    grep -q "rolled back demo-api: 100% of traffic to file:///models/demo/16/model.json" \
    "$tmp/abort.out"
check "rollback prints no protocol lines" \
    test -z "$(grep '^::' "$tmp/abort.out" || true)"

# demo-retrain: fetch (synthetic and file://, filtered by since), train under
# the model name "demo", evaluate, model card
check "retrain fetch exits 0" run fetch SLUICE_STAGE=fetch \
    SLUICE_ARTIFACT_DIR="$art/fetch" SLUICE_PIPELINE=demo-retrain -- \
    python3 pipelines/retrain/fetch.py --source 'synthetic://demo?seed=7&rows=4000' \
    --since 2024-04-01 --min-rows 500
check "retrain fetch prints well-formed lines" wellformed "$tmp/fetch.out"
fresh=$(sed -n 's/^::artifact dataset=//p' "$tmp/fetch.out")
rows=$(value "$tmp/fetch.out" metric rows)
dropped=$(value "$tmp/fetch.out" metric dropped_rows)
check "retrain fetch keeps rows since April ($rows) and drops the rest ($dropped)" \
    test "$((rows + dropped))" = 4000 -a "$rows" -ge 500 -a "$dropped" -gt 0
check "retrain fetch of a file:// export exits 0" run fetchfile \
    SLUICE_STAGE=fetch SLUICE_ARTIFACT_DIR="$art/fetchfile" -- \
    python3 pipelines/retrain/fetch.py --source "$dataset" --since 2024-06-01 \
    --min-rows 10
check "... keeping only June" \
    test "$(value "$tmp/fetchfile.out" metric rows)" -lt 1000
if run fetchfew SLUICE_STAGE=fetch SLUICE_ARTIFACT_DIR="$art/fetchfew" -- \
    python3 pipelines/retrain/fetch.py --source "$dataset" --since 2024-06-29 \
    --min-rows 500; then
	bad "retrain fetch refuses too few rows"
else
	ok "retrain fetch refuses too few rows"
fi
check "... saying why" grep -q "fewer than --min-rows 500" "$tmp/fetchfew.err"
check "... and reports no dataset" test ! -s "$tmp/fetchfew.out"
check "retrain train exits 0" run rtrain SLUICE_STAGE=train \
    SLUICE_ARTIFACT_DIR="$art/rtrain" -- \
    python3 pipelines/demo/train.py --data "$fresh" --epochs 150 --lr 0.5 \
    --model-name demo
check "retrain train prints well-formed lines" wellformed "$tmp/rtrain.out"
check "retrain train registers the model as demo" \
    grep -qx "::artifact model=file://$art/rtrain/model.json name=demo" "$tmp/rtrain.out"
check "retrain evaluate exits 0" run reval SLUICE_STAGE=evaluate -- \
    python3 pipelines/demo/evaluate.py --model "file://$art/rtrain/model.json" \
    --data "$fresh"
rauc=$(value "$tmp/reval.out" metric auc)
check "retrain auc ($rauc) within 0.02 of the demo's ($auc)" \
    num_cmp "$rauc" '>=' "$(awk -v a="$auc" 'BEGIN { print a - 0.02 }')"
check "model card exits 0" run card SLUICE_STAGE=model-card \
    SLUICE_ARTIFACT_DIR="$art/card" -- \
    python3 pipelines/retrain/model_card.py --model "file://$art/rtrain/model.json" \
    --run 17 --commit "$SLUICE_COMMIT" --dataset 'synthetic://demo?seed=7&rows=4000' \
    --since 2024-04-01 --auc "$rauc"
check "model card prints well-formed lines" wellformed "$tmp/card.out"
check "model card reported" grep -qx "::artifact model_card=file://$art/card/model_card.md" \
    "$tmp/card.out"
check "model card names the run and commit" \
    grep -q "run 17" "$art/card/model_card.md"
check "... and the commit" grep -q "$SLUICE_COMMIT" "$art/card/model_card.md"

# bad input fails with a message, not a traceback
if run noweight SLUICE_STAGE=rollout -- \
    python3 pipelines/demo/rollout.py --model "$model" --hold 0; then
	bad "rollout without SLUICE_CANARY_WEIGHT fails"
else
	ok "rollout without SLUICE_CANARY_WEIGHT fails"
fi
check "... saying why" grep -q SLUICE_CANARY_WEIGHT "$tmp/noweight.err"
if run nodata SLUICE_STAGE=train -- python3 pipelines/demo/train.py \
    --data "file://$tmp/missing.csv"; then
	bad "train with a missing dataset fails"
else
	ok "train with a missing dataset fails"
fi
check "... with a message, not a traceback" \
    test -z "$(grep Traceback "$tmp/nodata.err" || true)"
check "... naming the file" grep -q "missing.csv" "$tmp/nodata.err"
check "no stage printed a protocol line on stderr" \
    test -z "$(cat "$tmp"/*.err | grep '^::' || true)"

if [ "$fails" -gt 0 ]; then
	echo "demo_scripts: $fails check(s) failed"
	for f in "$tmp"/*.out "$tmp"/*.err; do
		echo "--- $f"
		cat "$f"
	done
	exit 1
fi
echo "demo_scripts: all checks passed"
