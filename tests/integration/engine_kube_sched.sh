#!/usr/bin/env bash
# engine_kube_sched: part 5 of engine_kube.sh (see there), run as a program
# of its own so that the two run in parallel: without the engine's GPU cap
# (max_gpus 0) the fake's scheduler holds a second GPU run, whose
# waiting_reason is the pod's "Insufficient nvidia.com/gpu" message; it
# runs when the first ends, and every Job is created once.
ENGINE_KUBE_PART=sched exec bash "$(dirname "$0")/engine_kube.sh"
